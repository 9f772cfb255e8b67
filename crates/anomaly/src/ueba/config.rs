//! [`UebaConfig`]: every knob of the behaviour baselines, with the default profile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Configuration of [`super::Ueba`]. `Default` is the default profile (≤ 4 KiB per entity).
///
/// Fields marked *layout* shape the stored sketches: a snapshot can only be restored with the
/// same layout values (restore says which differ). All other knobs may change between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UebaConfig {
    /// Half-life of every learned count (hour-of-week profile, related-value counts, peer-group
    /// counts), in days. A value not seen for `k` half-lives weighs `2^-k` of what it did.
    /// Default 30.
    pub half_life_days: f64,
    /// Half-life of the seasonal event-rate EWMAs, in days (each hour-of-day slot is updated
    /// once a day), 0.5–150. Default 14.
    pub rate_half_life_days: f64,
    /// Events an entity must have before it may alert. Default 30.
    pub warmup_min_events: u32,
    /// Days between an entity's first and latest event before it may alert. Default 7.
    pub warmup_min_days: f64,
    /// Events a relation (e.g. user → country) must have seen for this entity before a new or
    /// rare value of it is reported. Default 10.
    pub relation_min_events: u32,
    /// Most entities kept (all kinds together). When exceeded, the least recently seen
    /// `1/16` are evicted. Default 1,000,000.
    pub max_entities: usize,
    /// *layout* Count-min width per entity (power of two). Default 128.
    pub cms_width: usize,
    /// *layout* Count-min depth (rows) for entity and group sketches. Default 2.
    pub cms_depth: usize,
    /// *layout* Frequent values kept per relation with first/last-seen times. Default 3.
    pub top_k: usize,
    /// A value whose decayed count is below this is "new" (never seen, or forgotten after
    /// about `log2(1/new_below)` half-lives). Default 0.25 (one sighting, two half-lives ago).
    pub new_below: f64,
    /// A relation in which more than this share of events brought a value never seen before
    /// (HyperLogLog distinct count / events) is open-ended — a server with thousands of users,
    /// a user behind changing addresses — so new and rare values of it are not reported.
    /// Default 0.05.
    pub novelty_max: f64,
    /// A value whose decayed count is below this share of the relation's decayed total is
    /// "rare". Default 0.01.
    pub rare_share: f64,
    /// ... and whose decayed count is below this (so a value that is merely one of many
    /// regulars — one user of a busy service — is not "rare"). Default 2.
    pub rare_max_count: f64,
    /// An hour-of-week whose smoothed probability in the entity's profile is below this is
    /// "unusual". Uniform activity is 1/168 ≈ 0.006. Default 0.0015.
    pub unusual_hour_prob: f64,
    /// z-score of the current hour's event count against the seasonal EWMA above which the
    /// rate is a "spike". Default 6.
    pub rate_z: f64,
    /// Fewest events in the current hour for a spike. Default 30.
    pub rate_min_count: u32,
    /// ... and at least this multiple of the expected count: for busy entities a few percent
    /// more is statistically significant but not worth a person's time. Default 2.
    pub rate_min_ratio: f64,
    /// Seasonal hour slots that must have been folded into the EWMAs (hours of history)
    /// before spikes are judged. Default 72.
    pub rate_min_hours: u32,
    /// Seconds a finding for one (entity, alert family, value) stays muted after it was
    /// reported. Default 21,600 (6 hours).
    pub cooldown_secs: i64,
    /// Most cooldown entries kept; expired ones are pruned first, then the oldest. Default
    /// 200,000.
    pub cooldown_max: usize,
    /// Lowest combined score (0–1) of an event's findings that raises an alert. A new source
    /// IP alone (0.25) stays below the default 0.3. Default 0.3.
    pub min_score: f64,
    /// Configured peer groups: `"user:alice"` or `"host:web1"` (a bare name means a user) →
    /// group name. Configured groups take precedence over learned ones.
    pub peer_groups: BTreeMap<String, String>,
    /// *layout* Number of learned user peer groups (k-means over hour-of-week profiles with
    /// cosine similarity, fixed seed); 0 disables learning. Default 8.
    pub learned_groups: usize,
    /// Hours of event time between re-clusterings (warm-started from the previous centroids,
    /// so group identities stay stable); entities re-assign themselves lazily on their next
    /// event after each re-clustering. Default 168 (weekly).
    pub peer_recompute_hours: u32,
    /// Most users sampled (lowest key hashes, so deterministic) to fit the clusters. Default
    /// 4096.
    pub peer_sample: usize,
    /// Decayed events a group must hold for a relation before peer rarity is judged.
    /// Default 200.
    pub peer_min_events: f64,
    /// A value whose share among the entity's *peers* (own contribution removed) is below this
    /// is rare in the group. Default 0.002.
    pub peer_rare_share: f64,
    /// Peer rarity is judged only while the entity itself has fewer than this many decayed
    /// sightings of the value: a fresh habit is compared with the peers, a long-standing
    /// personal one (the user's own workstation) is not re-reported. Default 5.
    pub peer_self_max: f64,
    /// *layout* Count-min width of each peer-group sketch (power of two). Default 2048.
    pub peer_cms_width: usize,
    /// Seed of the clustering's initial centroids. Default 0x5EED.
    pub seed: u64,
}

impl Default for UebaConfig {
    fn default() -> Self {
        UebaConfig {
            half_life_days: 30.0,
            rate_half_life_days: 14.0,
            warmup_min_events: 30,
            warmup_min_days: 7.0,
            relation_min_events: 10,
            max_entities: 1_000_000,
            cms_width: 128,
            cms_depth: 2,
            top_k: 3,
            new_below: 0.25,
            novelty_max: 0.05,
            rare_share: 0.01,
            rare_max_count: 2.0,
            unusual_hour_prob: 0.0015,
            rate_z: 6.0,
            rate_min_count: 30,
            rate_min_ratio: 2.0,
            rate_min_hours: 72,
            cooldown_secs: 6 * 3600,
            cooldown_max: 200_000,
            min_score: 0.3,
            peer_groups: BTreeMap::new(),
            learned_groups: 8,
            peer_recompute_hours: 168,
            peer_sample: 4096,
            peer_min_events: 200.0,
            peer_rare_share: 0.002,
            peer_self_max: 5.0,
            peer_cms_width: 2048,
            seed: 0x5EED,
        }
    }
}

impl UebaConfig {
    /// Checks the values are usable; returns a message naming the bad knob.
    pub fn validate(&self) -> Result<(), String> {
        let pow2 = |n: usize| n >= 16 && n.is_power_of_two() && n <= 1 << 20;
        if !(self.half_life_days > 0.0 && self.half_life_days.is_finite()) {
            return Err("half_life_days must be a positive number".into());
        }
        if !(self.rate_half_life_days >= 0.5 && self.rate_half_life_days <= 150.0) {
            // Above 150 days the hour-of-day slots' update counters (u8) would saturate
            // before their EWMA reaches its steady rate.
            return Err("rate_half_life_days must be between 0.5 and 150".into());
        }
        if !pow2(self.cms_width) {
            return Err("cms_width must be a power of two in 16..=2^20".into());
        }
        if !pow2(self.peer_cms_width) {
            return Err("peer_cms_width must be a power of two in 16..=2^20".into());
        }
        if !(1..=8).contains(&self.cms_depth) {
            return Err("cms_depth must be 1..=8".into());
        }
        if self.top_k > 64 {
            return Err("top_k must be at most 64".into());
        }
        if self.learned_groups > 256 {
            return Err("learned_groups must be at most 256".into());
        }
        if self.max_entities == 0 {
            return Err("max_entities must be positive".into());
        }
        Ok(())
    }
}
