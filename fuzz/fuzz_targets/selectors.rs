//! Fuzz target `selectors`: see `karpenter_fuzz::checks::solver::check_selectors`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| karpenter_fuzz::checks::solver::check_selectors(data));
