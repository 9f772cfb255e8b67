//! API tokens and roles.
//!
//! A token is `pal_` and 32 random bytes in hex, shown once when created; the store keeps only
//! its SHA-256. Roles are ordered: a viewer reads, an analyst also changes incidents, rules and
//! suppressions, an admin also manages tokens and intel.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            o => Err(format!(
                "unknown role {o:?} (expected viewer, analyst or admin)"
            )),
        }
    }
}

/// Who made a request: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// Audit actor: `token:<name>`.
    pub fn actor(&self) -> String {
        format!("token:{}", self.name)
    }
}

/// Random bytes from the operating system, as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap_or_else(|e| panic!("the OS random source failed: {e}"));
    hex(&buf)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A new token secret.
pub fn new_secret() -> String {
    format!("pal_{}", random_hex(32))
}

/// What the store keeps of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Creates a token of `role` named `name` in `store` and audits it as done by `actor` (never
/// with the secret); returns its id and the secret, to be shown once.
pub fn issue_token(
    store: &mut impl palisade_store::Store,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(i64, String), palisade_store::StoreError> {
    let secret = new_secret();
    let id = store.create_token(&palisade_store::NewToken {
        name: name.to_string(),
        role: role.as_str().to_string(),
        hash: hash_secret(&secret),
    })?;
    store.audit(
        actor,
        "token.create",
        &format!("token:{id}"),
        &serde_json::json!({ "name": name, "role": role.as_str() }).to_string(),
    )?;
    Ok((id, secret))
}

/// Registers a bouncer named `name` in `store` with a new key and audits it as done by
/// `actor` (never with the key); returns its id and the key, to be shown once. The key is 64
/// hex characters from the OS random source; only its SHA-256 is stored.
pub fn issue_bouncer_key(
    store: &mut (impl palisade_store::Store + palisade_store::ResponseStore),
    name: &str,
    actor: &str,
) -> Result<(i64, String), palisade_store::StoreError> {
    let key = random_hex(32);
    let id = store.add_bouncer(
        name,
        &hash_secret(&key),
        chrono::Utc::now().timestamp_millis(),
    )?;
    store.audit(
        actor,
        "bouncer.add",
        &format!("bouncer:{id}"),
        &serde_json::json!({ "name": name }).to_string(),
    )?;
    Ok((id, key))
}

/// Constant-time equality for secrets of equal length (CSRF tokens).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("pal_") && a.len() == 68);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hash_secret(&a).len(), 64);
        assert!(!hash_secret(&a).contains(&a[4..]));
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(secrets_equal("abc", "abc") && !secrets_equal("abc", "abd"));
    }
}
