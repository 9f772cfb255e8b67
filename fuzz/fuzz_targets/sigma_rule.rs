//! A Sigma rule file: YAML, rule model, compilation, routing, matching and correlation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palisade_fuzz::sigma_rule(data));
