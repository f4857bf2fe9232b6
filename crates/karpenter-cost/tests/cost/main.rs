//! Tests of the cost engine: the bound against brute force, improved plans against the solver's invariants, and the
//! upstream-exact mode against the solver itself.

mod bound;
mod invariants;
mod modes;
mod properties;
