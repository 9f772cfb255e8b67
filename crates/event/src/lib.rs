//! Palisade's shared data model.
//!
//! Everything that flows through the pipeline is described here: the [`Event`] every parser
//! produces, the interned [`FieldId`]s that make field lookups cheap, and the [`Alert`] every
//! detector emits. This crate does no I/O and knows no file format; it is the vocabulary the
//! other crates share.

pub mod alert;
pub mod ecs;
pub mod event;
pub mod field;
pub mod value;

pub use alert::{Alert, Severity};
pub use event::{AliasTable, Event, Origin, SourceMeta};
pub use field::{FieldId, InternError};
pub use value::Value;
