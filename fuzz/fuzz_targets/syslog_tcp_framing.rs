//! The syslog TCP framing decoder (RFC 6587 octet counting and LF/NUL framing), whole and split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| palisade_fuzz::syslog_tcp_framing(data));
