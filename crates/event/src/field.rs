//! Interned field names.
//!
//! Field names repeat in every record of a log (`EventID`, `CommandLine`, `source.ip`), so each
//! distinct name is stored once in a process-wide interner and events carry a 4-byte
//! [`FieldId`]. Detectors resolve the names they need once, at compile time, and then compare
//! integers; a lookup never allocates.
//!
//! The interner is bounded: hostile input with millions of distinct keys cannot grow it without
//! limit. Past the cap, [`FieldId::intern`] returns an error the parser reports and counts.

use std::fmt;
use std::sync::OnceLock;

use lasso::{Capacity, MemoryLimits, Spur, ThreadedRodeo};

/// Most distinct field names a process will intern.
pub const MAX_FIELD_NAMES: usize = 1 << 20;
/// Bytes of field-name text the interner may hold.
const MAX_FIELD_NAME_BYTES: usize = 64 << 20;
/// Longest field name accepted.
pub const MAX_FIELD_NAME_LEN: usize = 1024;

fn rodeo() -> &'static ThreadedRodeo<Spur> {
    static RODEO: OnceLock<ThreadedRodeo<Spur>> = OnceLock::new();
    RODEO.get_or_init(|| {
        ThreadedRodeo::with_capacity_and_memory_limits(
            Capacity::for_strings(1024),
            MemoryLimits::for_memory_usage(MAX_FIELD_NAME_BYTES),
        )
    })
}

/// Why a field name could not be interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternError {
    /// The name is longer than [`MAX_FIELD_NAME_LEN`].
    TooLong(usize),
    /// The interner reached its cap of distinct names or bytes.
    Full,
}

impl fmt::Display for InternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InternError::TooLong(n) => {
                write!(f, "field name of {n} bytes exceeds {MAX_FIELD_NAME_LEN}")
            }
            InternError::Full => write!(
                f,
                "too many distinct field names (limit {MAX_FIELD_NAMES}); input looks hostile"
            ),
        }
    }
}

impl std::error::Error for InternError {}

/// An interned field name: cheap to copy, hash and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(Spur);

/// Entries in each thread's front cache before it is cleared.
const LOCAL_CACHE_ENTRIES: usize = 16_384;

thread_local! {
    /// Parsers intern the same few hundred names millions of times; a thread-local map with a
    /// fast non-cryptographic hash (keys are field names, not attacker-chosen table sizes: the
    /// cache is bounded and cleared when full) avoids the shared interner's locking.
    static LOCAL: std::cell::RefCell<rustc_hash::FxHashMap<Box<str>, FieldId>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

impl FieldId {
    /// Interns `name`, returning its id (the same id for the same name, process-wide).
    pub fn intern(name: &str) -> Result<FieldId, InternError> {
        if let Some(id) = LOCAL.with(|c| c.borrow().get(name).copied()) {
            return Ok(id);
        }
        let id = Self::intern_shared(name)?;
        LOCAL.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= LOCAL_CACHE_ENTRIES {
                c.clear();
            }
            c.insert(name.into(), id);
        });
        Ok(id)
    }

    fn intern_shared(name: &str) -> Result<FieldId, InternError> {
        let rodeo = rodeo();
        if let Some(spur) = rodeo.get(name) {
            return Ok(FieldId(spur));
        }
        if name.len() > MAX_FIELD_NAME_LEN {
            return Err(InternError::TooLong(name.len()));
        }
        if rodeo.len() >= MAX_FIELD_NAMES {
            return Err(InternError::Full);
        }
        rodeo
            .try_get_or_intern(name)
            .map(FieldId)
            .map_err(|_| InternError::Full)
    }

    /// Interns a name known at build time (ECS names, format schemas).
    ///
    /// # Panics
    /// Only if the interner is full, which static names cannot cause on their own.
    pub fn known(name: &'static str) -> FieldId {
        let rodeo = rodeo();
        FieldId(rodeo.get_or_intern_static(name))
    }

    /// A bit for this id in a 64-bit set (ids spread over the bits), for quick "surely absent"
    /// checks.
    #[inline]
    pub fn bit(self) -> u64 {
        use lasso::Key;
        1u64 << (self.0.into_usize() % 64)
    }

    /// The id of `name` if some event or rule has used it; never allocates.
    pub fn lookup(name: &str) -> Option<FieldId> {
        rodeo().get(name).map(FieldId)
    }

    /// The field name.
    pub fn as_str(self) -> &'static str {
        // The interner is a never-dropped static, so the name lives for the process.
        rodeo().resolve(&self.0)
    }
}

impl fmt::Debug for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldId({:?})", self.as_str())
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id() {
        let a = FieldId::intern("CommandLine").unwrap();
        let b = FieldId::intern("CommandLine").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "CommandLine");
        assert_ne!(a, FieldId::intern("Image").unwrap());
        assert_eq!(FieldId::lookup("CommandLine"), Some(a));
    }

    #[test]
    fn over_long_names_are_refused() {
        let long = "x".repeat(MAX_FIELD_NAME_LEN + 1);
        assert_eq!(
            FieldId::intern(&long),
            Err(InternError::TooLong(MAX_FIELD_NAME_LEN + 1))
        );
    }
}
