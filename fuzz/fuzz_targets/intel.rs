//! Threat-intel feeds: every importer (STIX, MISP, CSV, TXT), compilation and matching.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palisade_fuzz::intel_feed(data));
