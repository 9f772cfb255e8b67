//! The EVTX reader: the input as a whole EVTX file held in memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palisade_fuzz::evtx_file(data));
