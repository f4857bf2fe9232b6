//! Fuzz target `solver_json`: see `karpenter_fuzz::checks::solver::check_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| karpenter_fuzz::checks::solver::check_json(data));
