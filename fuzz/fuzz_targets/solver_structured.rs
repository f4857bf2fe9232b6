//! Fuzz target `solver_structured`: see `karpenter_fuzz::checks::solver::check_structured`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| karpenter_fuzz::checks::solver::check_structured(data));
