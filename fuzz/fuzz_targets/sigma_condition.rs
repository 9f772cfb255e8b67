//! A Sigma `condition` expression: parsing, resolution against searches and evaluation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palisade_fuzz::sigma_condition(data));
