//! Fuzz target `yaml`: see `karpenter_fuzz::checks::yaml_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| karpenter_fuzz::checks::yaml_reader::check(data));
