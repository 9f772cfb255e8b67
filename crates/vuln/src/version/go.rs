//! Go module versions: SemVer with a `v` prefix (advisories often drop it), `+incompatible`
//! for pre-modules major versions, and pseudo-versions for untagged commits
//! (`v0.0.0-20191109021931-daa7c04131f5`, `v1.2.4-0.2019…-abc`, `v1.2.3-pre.0.2019…-abc`).
//! Pseudo-versions were designed to be valid SemVer pre-releases that order by commit time
//! below the next release, so SemVer ordering is Go's ordering.

use super::{Scheme, SemVersion, VersionError};

pub(super) fn parse(text: &str) -> Result<SemVersion, VersionError> {
    let t = text.trim();
    // go.sum lines name the go.mod hash with a `/go.mod` suffix.
    let t = t.strip_suffix("/go.mod").unwrap_or(t);
    SemVersion::parse(t).map_err(|e| VersionError::new(Scheme::Go, text, e.reason))
}

/// Whether `text` is a Go pseudo-version (a commit, not a tag): its last pre-release
/// identifier is a 14-digit UTC timestamp, a hyphen and a 12-hex-digit commit prefix.
pub fn is_pseudo_version(text: &str) -> bool {
    let core = text.split('+').next().unwrap_or(text);
    let Some((head, hash)) = core.rsplit_once('-') else {
        return false;
    };
    if hash.len() != 12 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let stamp = head.rsplit(['-', '.']).next().unwrap_or("");
    stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVersion {
        parse(s).unwrap()
    }

    #[test]
    fn pseudo_versions_order_by_time_below_the_next_release() {
        let a = "v0.0.0-20191109021931-daa7c04131f5";
        let b = "v0.0.0-20200101000000-aaaaaaaaaaaa";
        assert!(is_pseudo_version(a));
        assert!(v(a) < v(b));
        assert!(v(b) < v("v0.0.1"));
        // A commit after v1.2.3: v1.2.4-0.<time>-<hash> sorts after v1.2.3, before v1.2.4.
        let after = "v1.2.4-0.20200101000000-abcdefabcdef";
        assert!(is_pseudo_version(after));
        assert!(v("v1.2.3") < v(after) && v(after) < v("v1.2.4"));
        // After a pre-release tag: v1.2.4-pre.0.<time>-<hash>.
        let pre = "v1.2.4-pre.0.20200101000000-abcdefabcdef";
        assert!(is_pseudo_version(pre));
        assert!(v("v1.2.4-pre") < v(pre) && v(pre) < v("v1.2.4"));
        assert!(!is_pseudo_version("v1.2.3"));
        assert!(!is_pseudo_version("v1.2.3-rc1"));
    }

    #[test]
    fn incompatible_and_go_mod_suffixes() {
        assert_eq!(v("v2.0.0+incompatible"), v("2.0.0"));
        assert_eq!(v("v1.4.0/go.mod"), v("1.4.0"));
    }
}
