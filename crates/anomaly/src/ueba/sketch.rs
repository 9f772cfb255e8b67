//! Bounded-memory sketches used by the per-entity baselines: a stable 64-bit hash, count-min
//! cells over forward-decayed weights, a small HyperLogLog and a filtered space-saving top-k.
//!
//! All counts are kept in *inflated* units (forward decay, Cormode et al. 2009): an event at
//! time `t` adds `2^((t - base) / half_life)` instead of 1, so old mass shrinks relative to new
//! mass without touching every counter on every event. Dividing by the current weight gives
//! the decayed count "as of now". See [`super::profile::Decay`].

use serde::{Deserialize, Serialize};

/// Stable 64-bit hash of bytes (independent of the Rust version or any crate's hasher, so
/// snapshots stay valid): 8-byte chunks folded with a multiply-xorshift, then a splitmix64
/// finaliser.
#[inline]
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        h = (h ^ v).wrapping_mul(K);
        h ^= h >> 29;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(K);
        h ^= h >> 29;
    }
    mix(h)
}

/// splitmix64 finaliser.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Cells per count-min block: one 64-byte cache line of `f32`.
pub const BLOCK: usize = 16;

/// Count-min cell of `h` in row `row`. The sketch is *blocked*: all rows of one value live in
/// one cache line (block chosen by the low 32 bits, the cell within it by 4 bits per row), so
/// a lookup costs one cache miss instead of `depth`. With `depth × width` cells in total the
/// collision rate matches a plain count-min of the same size.
#[inline]
fn cell(h: u64, row: usize, blocks: usize) -> usize {
    let block = ((h as u32 as u64 * blocks as u64) >> 32) as usize;
    block * BLOCK + ((h >> (32 + 4 * row)) as usize & (BLOCK - 1))
}

/// Adds `w` to `h`'s cells ("conservative update": only cells at the current minimum grow,
/// which keeps overestimates from collisions lower) and returns the new estimate.
#[inline]
pub fn cms_add(cells: &mut [f32], depth: usize, h: u64, w: f32) -> f32 {
    let est = cms_get(cells, depth, h) + w;
    let blocks = cells.len() / BLOCK;
    for r in 0..depth {
        let i = cell(h, r, blocks);
        if let Some(c) = cells.get_mut(i)
            && *c < est
        {
            *c = est;
        }
    }
    est
}

/// Count-min estimate (inflated units) of `h`.
#[inline]
pub fn cms_get(cells: &[f32], depth: usize, h: u64) -> f32 {
    let blocks = cells.len() / BLOCK;
    let mut m = f32::INFINITY;
    for r in 0..depth {
        m = m.min(cells.get(cell(h, r, blocks)).copied().unwrap_or(0.0));
    }
    if m.is_finite() { m } else { 0.0 }
}

/// HyperLogLog register count (precision 5: 32 one-byte registers, ~18 % standard error —
/// enough to tell 3 distinct values from 300).
pub const HLL_REGISTERS: usize = 32;

/// Adds `h` to a 32-register HyperLogLog; true when a register changed (so a cached
/// estimate must be refreshed).
#[inline]
pub fn hll_add(regs: &mut [u8; HLL_REGISTERS], h: u64) -> bool {
    let idx = (h >> 59) as usize; // top 5 bits
    let rank = ((h << 5) | (1 << 4)).leading_zeros() as u8 + 1;
    if regs[idx] < rank {
        regs[idx] = rank;
        return true;
    }
    false
}

/// HyperLogLog estimate with the small-range (linear counting) correction.
pub fn hll_estimate(regs: &[u8; HLL_REGISTERS]) -> f64 {
    let m = HLL_REGISTERS as f64;
    let mut sum = 0.0;
    let mut zeros = 0;
    for &r in regs {
        // 2^-r built from the exponent bits (r ≤ 60): no powi on the hot path.
        sum += f64::from_bits((1023 - r.min(60) as u64) << 52);
        if r == 0 {
            zeros += 1;
        }
    }
    let alpha = 0.697; // alpha_32
    let e = alpha * m * m / sum;
    if e <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        e
    }
}

/// One frequent value of a relation: its text (truncated to [`LABEL_MAX`] bytes), count in
/// inflated units, and when it was first and last seen (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopEntry {
    pub hash: u64,
    pub count: f32,
    pub first_seen: i64,
    pub last_seen: i64,
    pub label: Box<str>,
}

/// Longest label kept in a top-k entry.
pub const LABEL_MAX: usize = 40;

fn truncate(s: &str) -> Box<str> {
    if s.len() <= LABEL_MAX {
        return s.into();
    }
    let mut end = LABEL_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

/// Filtered space-saving top-k update: a tracked value gains `w`; an untracked one is admitted
/// only when its count-min estimate `est` beats the smallest tracked count by 25 %, so values
/// seen once never allocate a label. `first_seen` is kept from the count-min's view: a value admitted late
/// was first seen no later than now.
pub fn topk_update(
    top: &mut Vec<TopEntry>,
    k: usize,
    h: u64,
    w: f32,
    est: f32,
    now: i64,
    label: &dyn Fn() -> String,
) {
    if let Some(e) = top.iter_mut().find(|e| e.hash == h) {
        e.count += w;
        e.last_seen = now;
        return;
    }
    if k == 0 {
        return;
    }
    if top.len() < k {
        if top.capacity() < k {
            top.reserve_exact(k - top.len());
        }
        top.push(TopEntry {
            hash: h,
            count: est,
            first_seen: now,
            last_seen: now,
            label: truncate(&label()),
        });
        return;
    }
    let (mi, min) = top
        .iter()
        .enumerate()
        .map(|(i, e)| (i, e.count))
        .fold((0, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    // Hysteresis: a newcomer must beat the weakest entry by a quarter, so values of equal
    // frequency do not evict each other on every event (churn would allocate a label per
    // event and lose first-seen times).
    if est > min * 1.25 {
        top[mi] = TopEntry {
            hash: h,
            count: est,
            first_seen: now,
            last_seen: now,
            label: truncate(&label()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hll_counts_roughly() {
        for n in [1usize, 5, 50, 500] {
            let mut r = [0u8; HLL_REGISTERS];
            for i in 0..n {
                hll_add(&mut r, hash_bytes(1, &i.to_le_bytes()));
            }
            let e = hll_estimate(&r);
            assert!(
                (e - n as f64).abs() <= 0.5 * n as f64 + 1.0,
                "n={n} estimate={e}"
            );
        }
    }

    #[test]
    fn cms_never_underestimates() {
        let mut c = vec![0f32; 2 * 64];
        for i in 0..200u64 {
            for _ in 0..(i % 5) {
                cms_add(&mut c, 2, mix(i), 1.0);
            }
        }
        for i in 0..200u64 {
            assert!(cms_get(&c, 2, mix(i)) >= (i % 5) as f32);
        }
    }

    #[test]
    fn hash_is_stable() {
        // Snapshots depend on this value never changing.
        assert_eq!(hash_bytes(0, b"alice"), hash_bytes(0, b"alice"));
        assert_ne!(hash_bytes(0, b"alice"), hash_bytes(0, b"alicf"));
        assert_ne!(hash_bytes(0, b"alice"), hash_bytes(1, b"alice"));
        assert_eq!(hash_bytes(0, b"abcdefghij"), 3_064_247_703_960_662_030);
    }
}
