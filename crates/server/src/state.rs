//! What request handlers share: the configuration, a store connection, the ingress, the
//! detectors the API inspects or changes, metrics.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use palisade_anomaly::detector::Learned;
use palisade_sigma::LoadedRules;
use palisade_store::{SqliteStore, Store, StoreError};
use palisade_triage::Triage;
use palisade_triage::intel::IntelSet;

use crate::api::ApiError;
use crate::auth::{Principal, Role, hash_secret};
use crate::config::ServeConfig;
use crate::ingress::Ingress;
use crate::metrics::Metrics;
use crate::pipeline::Progress;

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub cfg: ServeConfig,
    /// The API's own connection (the pipeline has another; SQLite WAL mode lets readers run
    /// beside the writer).
    pub db: Arc<Mutex<SqliteStore>>,
    pub ingress: Ingress,
    pub metrics: Arc<Metrics>,
    pub progress: Arc<Progress>,
    pub triage: Arc<Mutex<Triage>>,
    pub learned: Option<Arc<Mutex<Learned>>>,
    pub rules: Option<Arc<LoadedRules>>,
    pub disabled: Arc<RwLock<HashSet<String>>>,
    pub intel: Option<Arc<IntelSet>>,
    /// Response actions (approve, deny, revert); `None` when `respond.enabled` is off.
    pub respond: Option<Arc<crate::respond::Engine>>,
    /// The risk-based authentication engine; `None` when `auth.enabled` is off. Assessments
    /// take the read lock (microseconds), outcomes the write lock.
    pub auth: Option<Arc<RwLock<palisade_auth::Engine>>>,
    pub started: DateTime<Utc>,
    /// Web UI sessions.
    pub sessions: crate::session::Sessions,
    /// Recently checked live tokens (see [`TokenCache`]).
    pub tokens: TokenCache,
}

/// Live tokens checked in the last [`TokenCache::TTL`], by secret hash, so a busy caller (a
/// login system assessing thousands of logins a second) does not cost a store query and a
/// thread hand-off per request. Unknown and revoked secrets are never cached (they are looked
/// up every time); a revocation through the API empties the cache at once, one made by
/// another process (`palisade token revoke`) takes effect within the TTL. Bounded: when full,
/// it is emptied.
#[derive(Default)]
pub struct TokenCache(Mutex<std::collections::HashMap<String, (Principal, std::time::Instant)>>);

impl TokenCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);
    const MAX: usize = 1024;

    fn get(&self, hash: &str) -> Option<Principal> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, hash: String, p: Principal) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(hash, (p, std::time::Instant::now()));
    }

    /// Forgets every cached token (after a revocation).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Runs `f` on the store off the async threads.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut s = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The principal a bearer secret names, if it is a live token.
    pub async fn principal(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        if secret.is_empty() || secret.len() > 256 {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        if let Some(p) = self.tokens.get(&hash) {
            return Ok(Some(p));
        }
        let key = hash.clone();
        let rec = self.db(move |s| s.token_by_hash(&key)).await?;
        let p = rec.and_then(|t| {
            if t.revoked.is_some() {
                return None;
            }
            Some(Principal {
                token_id: t.id,
                name: t.name,
                role: t.role.parse::<Role>().ok()?,
            })
        });
        if let Some(p) = &p {
            self.tokens.put(hash, p.clone());
        }
        Ok(p)
    }

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let actor = who.actor();
        let action = action.to_string();
        self.db(move |s| {
            use palisade_store::Store;
            s.audit(&actor, &action, &target, &detail.to_string())
        })
        .await
    }
}
