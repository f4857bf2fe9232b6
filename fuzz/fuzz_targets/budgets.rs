//! Fuzz target `budgets`: see `karpenter_fuzz::checks::budgets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| karpenter_fuzz::checks::budgets::check(data));
