//! The json parser: the input, split into lines, through one parser instance.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_ingest::Format;

fuzz_target!(|data: &[u8]| palisade_fuzz::line_format(Format::Json, data));
