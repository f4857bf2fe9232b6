//! Runnable examples that embed the solver; see the `examples/` folder of this package.
