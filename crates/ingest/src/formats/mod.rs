//! One module per input format.

pub mod cef;
pub mod evtx;
pub mod flatten;
pub mod flowcsv;
pub mod json;
pub mod syslog;
pub mod zeek;
