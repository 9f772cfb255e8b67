//! Web UI sessions: a random id in an HttpOnly, SameSite=Strict cookie, mapped in memory to the
//! signed-in token's principal and a per-session CSRF token every form must carry. Bounded
//! (oldest sessions go first) and expiring; a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::{Principal, random_hex};

/// Most live sessions kept.
pub const MAX_SESSIONS: usize = 10_000;
/// Name of the session cookie.
pub const COOKIE: &str = "palisade_session";

#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    expires: Instant,
    created: Instant,
}

pub struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; returns its id (the cookie value).
    pub fn create(&self, principal: Principal) -> (String, Session) {
        let id = random_hex(32);
        let now = Instant::now();
        let s = Session {
            principal,
            csrf: random_hex(32),
            expires: now + self.ttl,
            created: now,
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, v| v.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, v)| v.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), s.clone());
        (id, s)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Ends every session of a token (when it is revoked).
    pub fn remove_token(&self, token_id: i64) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| s.principal.token_id != token_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn who() -> Principal {
        Principal {
            token_id: 1,
            name: "t".into(),
            role: Role::Analyst,
        }
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::new(Duration::from_millis(0));
        let (id, _) = s.create(who());
        assert!(s.get(&id).is_none(), "expired at once");
        let s = Sessions::new(Duration::from_secs(60));
        let (id, sess) = s.create(who());
        assert_eq!(s.get(&id).unwrap().csrf, sess.csrf);
        assert_ne!(id, sess.csrf);
        s.remove_token(1);
        assert!(s.get(&id).is_none());
    }
}
