//! Versioned snapshots: `MAGIC` (8 bytes) + format version (u16 little-endian) + postcard body.
//!
//! The body holds the learned state only (entities sorted by key, cooldowns, peer groups and
//! centroids, the clock) plus the *layout* knobs it was built with; the rest of the
//! configuration comes from the caller of [`Ueba::restore`]. Restoring validates every length
//! and index, so corrupt bytes give an error, never a panic later.

use serde::{Deserialize, Serialize};

use super::peer::Peers;
use super::profile::{Entity, NO_GROUP};
use super::sketch::{HLL_REGISTERS, LABEL_MAX};
use super::{Ueba, UebaConfig, UebaError};

/// First bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"PLSDUEBA";
/// Body format written by this build; restore refuses any other.
pub const FORMAT_VERSION: u16 = 1;

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Layout {
    cms_width: u64,
    cms_depth: u64,
    top_k: u64,
    learned_groups: u64,
    peer_cms_width: u64,
}

impl Layout {
    fn of(c: &UebaConfig) -> Self {
        Layout {
            cms_width: c.cms_width as u64,
            cms_depth: c.cms_depth as u64,
            top_k: c.top_k as u64,
            learned_groups: c.learned_groups as u64,
            peer_cms_width: c.peer_cms_width as u64,
        }
    }
}

#[derive(Serialize)]
struct BodyRef<'a> {
    layout: Layout,
    clock: i64,
    evictions: u64,
    entities: Vec<(u64, &'a Entity)>,
    cooldown: Vec<(u64, i64)>,
    peers: &'a Peers,
}

#[derive(Deserialize)]
struct Body {
    layout: Layout,
    clock: i64,
    evictions: u64,
    entities: Vec<(u64, Entity)>,
    cooldown: Vec<(u64, i64)>,
    peers: Peers,
}

fn corrupt(msg: impl Into<String>) -> UebaError {
    UebaError::Corrupt(msg.into())
}

impl Ueba {
    /// The learned state as bytes (deterministic: equal state, equal bytes).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut entities: Vec<(u64, &Entity)> =
            self.entities.iter().map(|(k, e)| (*k, &**e)).collect();
        entities.sort_unstable_by_key(|e| e.0);
        let mut cooldown: Vec<(u64, i64)> = self.cooldown.iter().map(|(k, v)| (*k, *v)).collect();
        cooldown.sort_unstable();
        let body = BodyRef {
            layout: Layout::of(&self.cfg),
            clock: self.clock,
            evictions: self.evictions,
            entities,
            cooldown,
            peers: &self.peers,
        };
        let mut out = Vec::with_capacity(64 + self.entities.len() * 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Serialising plain structs into a Vec cannot fail.
        postcard::to_io(&body, &mut out).expect("in-memory postcard serialisation");
        out
    }

    /// A model from [`Ueba::snapshot`] bytes and a configuration whose *layout* knobs match
    /// the snapshot's.
    pub fn restore(bytes: &[u8], cfg: UebaConfig) -> Result<Ueba, UebaError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(UebaError::BadMagic);
        }
        let rest = &bytes[MAGIC.len()..];
        if rest.len() < 2 {
            return Err(corrupt("truncated before the format version"));
        }
        let version = u16::from_le_bytes([rest[0], rest[1]]);
        if version != FORMAT_VERSION {
            return Err(UebaError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let body: Body =
            postcard::from_bytes(&rest[2..]).map_err(|e| corrupt(format!("body: {e}")))?;
        let mut u = Ueba::new(cfg)?;
        let want = Layout::of(&u.cfg);
        let checks = [
            ("cms_width", body.layout.cms_width, want.cms_width),
            ("cms_depth", body.layout.cms_depth, want.cms_depth),
            ("top_k", body.layout.top_k, want.top_k),
            (
                "learned_groups",
                body.layout.learned_groups,
                want.learned_groups,
            ),
            (
                "peer_cms_width",
                body.layout.peer_cms_width,
                want.peer_cms_width,
            ),
        ];
        for (knob, found, configured) in checks {
            if found != configured {
                return Err(UebaError::Incompatible {
                    knob,
                    found,
                    configured,
                });
            }
        }
        let cells = u.cfg.cms_depth * u.cfg.cms_width;
        let mut last_key = None;
        for (k, e) in &body.entities {
            if last_key.is_some_and(|l| l >= *k) {
                return Err(corrupt("entities out of order or repeated"));
            }
            last_key = Some(*k);
            validate_entity(e, cells, u.cfg.top_k, u.cfg.learned_groups)?;
        }
        let gcells = u.cfg.cms_depth * u.cfg.peer_cms_width;
        let p = &body.peers;
        if p.configured > p.groups.len()
            || p.groups.iter().any(|g| g.cms.len() != gcells)
            || p.groups.len() - p.configured != u.cfg.learned_groups
        {
            return Err(corrupt("peer groups do not match their layout"));
        }
        if !(p.centroids.is_empty() || p.centroids.len() == u.cfg.learned_groups)
            || p.centroids.iter().any(|c| c.len() != super::HOW)
        {
            return Err(corrupt("peer centroids do not match their layout"));
        }
        u.clock = body.clock;
        u.evictions = body.evictions;
        u.entities.reserve(body.entities.len());
        for (k, e) in body.entities {
            u.entities.insert(k, Box::new(e));
        }
        u.cooldown = body.cooldown.into_iter().collect();
        let peers = body.peers;
        u.peers.centroids = peers.centroids;
        u.peers.epoch = peers.epoch;
        u.peers.next_recompute_hour = peers.next_recompute_hour;
        // Group sketches are matched by name against the (possibly changed) configuration.
        u.set_groups(peers.groups);
        Ok(u)
    }
}

fn validate_entity(
    e: &Entity,
    cells: usize,
    top_k: usize,
    learned_groups: usize,
) -> Result<(), UebaError> {
    if !(e.cms.is_empty() || e.cms.len() == cells) {
        return Err(corrupt("entity sketch has the wrong size"));
    }
    if e.group != NO_GROUP && e.group as usize >= learned_groups {
        return Err(corrupt("entity peer group out of range"));
    }
    let rels = e.kind.relations();
    if e.rels.len() > rels.len() {
        return Err(corrupt("too many relations for the entity kind"));
    }
    for (i, r) in e.rels.iter().enumerate() {
        if !rels.contains(&r.kind) || e.rels[..i].iter().any(|o| o.kind == r.kind) {
            return Err(corrupt("relation not valid for the entity kind"));
        }
        if e.cms.is_empty() {
            return Err(corrupt("relation without a sketch"));
        }
        if r.top.len() > top_k
            || !r.distinct.is_finite()
            || r.top.iter().any(|t| t.label.len() > LABEL_MAX)
            || r.hll
                .iter()
                .any(|&x| x as usize > 64 - HLL_REGISTERS.trailing_zeros() as usize + 1)
        {
            return Err(corrupt("relation sketch out of bounds"));
        }
    }
    let finite = e.how.iter().chain(e.hod.iter()).all(|x| x.is_finite())
        && e.how_total.is_finite()
        && e.cms.iter().all(|x| x.is_finite());
    if !finite {
        return Err(corrupt("non-finite counts"));
    }
    Ok(())
}
