//! Peer groups: configured (entity → group name) or learned (k-means over users' hour-of-week
//! profiles with cosine similarity, fixed seed, warm-started on every recomputation so a
//! group keeps its identity), each with a decayed count-min sketch of related values.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::profile::{HOW, RelKind};
use super::sketch::{cms_add, cms_get};

/// One peer group's decayed related-value counts (inflated units relative to `base`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub base: i64,
    /// `depth × peer_cms_width` cells over (relation, value) hashes.
    pub cms: Vec<f32>,
    /// Decayed events per relation (indexed by `RelKind as usize`).
    pub totals: [f32; RelKind::ALL.len()],
}

impl Group {
    pub fn new(name: String, cells: usize) -> Self {
        Group {
            name,
            base: i64::MIN,
            cms: vec![0.0; cells],
            totals: [0.0; RelKind::ALL.len()],
        }
    }

    /// Forward-decay weight of `t`, renormalising first when needed; call once per event.
    pub fn prepare(&mut self, t: i64, hl: f64) -> f32 {
        if self.base == i64::MIN {
            self.base = t;
        }
        let x = (t - self.base) as f64 / hl;
        if x > 16.0 {
            let shift = x.floor();
            let f = (-shift).exp2() as f32;
            self.cms.iter_mut().for_each(|c| *c *= f);
            self.totals.iter_mut().for_each(|c| *c *= f);
            self.base += (shift * hl) as i64;
        }
        (((t - self.base) as f64) / hl).exp2() as f32
    }

    /// Adds one sighting (weight `w` from [`Group::prepare`]) of value `h` of relation `rel`.
    pub fn add(&mut self, depth: usize, rel: RelKind, h: u64, w: f32) {
        cms_add(&mut self.cms, depth, h, w);
        self.totals[rel as usize] += w;
    }

    /// Read weight of time `t` (no renormalisation); `None` for an empty group.
    pub fn weight_at(&self, t: i64, hl: f64) -> Option<f64> {
        (self.base != i64::MIN).then(|| (((t - self.base) as f64) / hl).exp2())
    }

    /// Decayed (count of `h`, total of `rel`) for read weight `w`.
    pub fn get(&self, depth: usize, rel: RelKind, h: u64, w: f64) -> (f64, f64) {
        (
            cms_get(&self.cms, depth, h) as f64 / w,
            self.totals[rel as usize] as f64 / w,
        )
    }
}

/// Peer-group state kept in snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Peers {
    /// Configured groups (sorted by name) first, then learned ones.
    pub groups: Vec<Group>,
    /// Number of configured groups at the front of `groups`.
    pub configured: usize,
    /// Learned centroids (unit vectors over the 168 hours of the week).
    pub centroids: Vec<Vec<f32>>,
    /// Bumped at every clustering; entities re-assign themselves lazily when it changes.
    pub epoch: u32,
    /// Hour (since the epoch) of the next clustering.
    pub next_recompute_hour: i64,
}

/// Unit-length copy of a profile (zero vector stays zero).
pub fn normalise(p: &[f32; HOW]) -> [f32; HOW] {
    let n = p.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut out = [0f32; HOW];
    if n > 0.0 {
        for (o, x) in out.iter_mut().zip(p) {
            *o = x / n;
        }
    }
    out
}

/// Dot product in eight lanes (vectorises; 168 = 21 × 8).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum()
}

/// Index of the centroid most cosine-similar to the unit vector `v`.
pub fn nearest(centroids: &[Vec<f32>], v: &[f32; HOW]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = dot(c, v);
        if d > best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Spherical k-means over unit vectors: k-means++ seeding from `seed` when `prev` is empty,
/// otherwise warm-started from `prev`; 10 rounds from scratch, 3 when warm-started. Returns
/// unit centroids.
pub fn kmeans(points: &[[f32; HOW]], k: usize, prev: &[Vec<f32>], seed: u64) -> Vec<Vec<f32>> {
    let rounds = if prev.len() == k { 3 } else { 10 };
    let mut cents: Vec<Vec<f32>> = if prev.len() == k {
        prev.to_vec()
    } else {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut c: Vec<Vec<f32>> = vec![points[rng.random_range(0..points.len())].to_vec()];
        while c.len() < k {
            let d: Vec<f64> = points
                .iter()
                .map(|p| {
                    let best = c
                        .iter()
                        .map(|ci| dot(ci, p))
                        .fold(f32::NEG_INFINITY, f32::max);
                    ((1.0 - best).max(0.0) as f64).powi(2)
                })
                .collect();
            let sum: f64 = d.iter().sum();
            let pick = if sum <= 0.0 {
                rng.random_range(0..points.len())
            } else {
                let mut r = rng.random::<f64>() * sum;
                let mut idx = points.len() - 1;
                for (i, di) in d.iter().enumerate() {
                    r -= di;
                    if r <= 0.0 {
                        idx = i;
                        break;
                    }
                }
                idx
            };
            c.push(points[pick].to_vec());
        }
        c
    };
    for _ in 0..rounds {
        let mut sums = vec![[0f32; HOW]; k];
        let mut counts = vec![0usize; k];
        for p in points {
            let i = nearest(&cents, p);
            counts[i] += 1;
            for (s, x) in sums[i].iter_mut().zip(p) {
                *s += x;
            }
        }
        for i in 0..k {
            if counts[i] > 0 {
                cents[i] = normalise(&sums[i]).to_vec();
            }
        }
    }
    cents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmeans_separates_day_and_night_workers() {
        let mut pts = Vec::new();
        for i in 0..40 {
            let mut p = [0f32; HOW];
            let (from, to) = if i % 2 == 0 { (8, 17) } else { (20, 24) };
            for d in 0..5 {
                for h in from..to {
                    p[d * 24 + h] = 1.0 + (i % 3) as f32;
                }
            }
            pts.push(normalise(&p));
        }
        let c = kmeans(&pts, 2, &[], 7);
        let a = nearest(&c, &pts[0]);
        let b = nearest(&c, &pts[1]);
        assert_ne!(a, b);
        for (i, p) in pts.iter().enumerate() {
            assert_eq!(nearest(&c, p), if i % 2 == 0 { a } else { b });
        }
        assert_eq!(kmeans(&pts, 2, &[], 7), c, "fixed seed, same clusters");
    }
}
