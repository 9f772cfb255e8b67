//! Damped incremental statistics in the style of Kitsune's AfterImage (Mirsky et al., NDSS
//! 2018, "Kitsune: An Ensemble of Autoencoders for Online Network Intrusion Detection"), and
//! the per-host context features built from them.
//!
//! # Damped statistics
//!
//! A stream keeps decayed sums: before adding an observation at time `t`, every sum is
//! multiplied by `2^(−λ·Δt)` (`Δt` = seconds since the stream's last update), so an
//! observation's weight halves every `1/λ` seconds. [`IncStat`] keeps `(w, LS, SS)` and gives
//! mean and standard deviation; [`IncStat2D`] keeps the joint sums of two values observed
//! together (a flow's originator and responder bytes) and gives magnitude
//! `√(μa² + μb²)`, radius `√(σa² + σb²)`, covariance and the correlation coefficient.
//! Kitsune approximates the covariance of two independently updated packet streams from
//! residual products; in a flow record both directions arrive together, so the joint sums give
//! the exact decayed covariance at the same cost.
//!
//! Time that goes backwards (flows are logged when they end, stamped when they start) is
//! treated as "no time passed": `Δt` is clamped at 0 and a stream's clock never moves back.
//! A NaN time counts as the stream's last time. Values are clamped to `±1e15` so squares stay
//! finite.
//!
//! # Keyed tables
//!
//! [`DecayedSums`] stores the sums of many keys (u64 hashes) for several decay rates at once,
//! in one flat slab, with a hard bound on the number of keys: when the table is full, the
//! least-recently-updated key is evicted (exact LRU through an intrusive list, O(1) per update).
//! Memory is `max_keys · (8·sums·rates + ~40)` bytes. [`IncStatDb`] wraps two such tables with
//! the `update_1d` / `update_2d` API.
//!
//! # Flow and authentication context
//!
//! [`FlowContext`] turns a time-ordered flow stream into per-source, per host-pair, per-socket
//! and per-destination features ([`FlowContext::names`] lists them), including the behaviour
//! that scans and brute force show: connection rate, failed/unanswered share, and damped counts
//! of new destination ports, new destination hosts and (per destination) new sources. "New"
//! means not seen for that key within [`RecentSet`]'s horizon; the damped count of new pairs
//! over a window approximates the number of distinct ports/hosts contacted in that window.
//! [`AuthContext`] does the same for logins (failure share per user and per source, new users
//! per source).

use rustc_hash::FxHashMap;

/// Default decay rates λ (1/s): half-lives of 0.2 s, 0.33 s, 1 s, 6.9 s and 69 s (Kitsune's).
pub const DEFAULT_LAMBDAS: [f64; 5] = [5.0, 3.0, 1.0, 0.1, 0.01];
/// Default bound on keys per table.
pub const DEFAULT_MAX_KEYS: usize = 65_536;
/// Values are clamped to this magnitude before entering a statistic.
pub const VALUE_LIMIT: f64 = 1e15;

#[inline]
fn clamp_value(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-VALUE_LIMIT, VALUE_LIMIT)
    }
}

#[inline]
fn elapsed(t_last: f64, t: f64) -> f64 {
    let dt = t - t_last;
    if dt > 0.0 { dt.min(1e12) } else { 0.0 }
}

#[inline]
fn variance(w: f64, ls: f64, ss: f64) -> f64 {
    if w <= 0.0 {
        return 0.0;
    }
    let m = ls / w;
    (ss / w - m * m).max(0.0)
}

/// One damped 1-D stream with one decay rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncStat {
    pub lambda: f64,
    pub w: f64,
    pub ls: f64,
    pub ss: f64,
    pub t_last: f64,
}

impl IncStat {
    pub fn new(lambda: f64) -> Self {
        IncStat {
            lambda,
            w: 0.0,
            ls: 0.0,
            ss: 0.0,
            t_last: f64::NEG_INFINITY,
        }
    }

    /// Decays the sums to time `t` (no observation).
    pub fn decay(&mut self, t: f64) {
        if t.is_nan() {
            return;
        }
        if self.t_last == f64::NEG_INFINITY {
            self.t_last = t;
            return;
        }
        let dt = elapsed(self.t_last, t);
        if dt > 0.0 {
            let f = (-self.lambda * dt).exp2();
            self.w *= f;
            self.ls *= f;
            self.ss *= f;
            self.t_last = t;
        }
    }

    /// Adds observation `v` at time `t`.
    pub fn update(&mut self, t: f64, v: f64) {
        self.decay(t);
        let v = clamp_value(v);
        self.w += 1.0;
        self.ls += v;
        self.ss += v * v;
    }

    pub fn weight(&self) -> f64 {
        self.w
    }

    pub fn mean(&self) -> f64 {
        if self.w > 0.0 { self.ls / self.w } else { 0.0 }
    }

    pub fn var(&self) -> f64 {
        variance(self.w, self.ls, self.ss)
    }

    pub fn std(&self) -> f64 {
        self.var().sqrt()
    }
}

/// Two values observed together (one decay rate): joint decayed sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncStat2D {
    pub lambda: f64,
    /// `[w, Σa, Σb, Σa², Σb², Σab]`.
    pub sums: [f64; 6],
    pub t_last: f64,
}

impl IncStat2D {
    pub fn new(lambda: f64) -> Self {
        IncStat2D {
            lambda,
            sums: [0.0; 6],
            t_last: f64::NEG_INFINITY,
        }
    }

    pub fn update(&mut self, t: f64, a: f64, b: f64) {
        if !t.is_nan() {
            if self.t_last == f64::NEG_INFINITY {
                self.t_last = t;
            }
            let dt = elapsed(self.t_last, t);
            if dt > 0.0 {
                let f = (-self.lambda * dt).exp2();
                self.sums.iter_mut().for_each(|s| *s *= f);
                self.t_last = t;
            }
        }
        add_2d(&mut self.sums, clamp_value(a), clamp_value(b));
    }

    /// `[w, μa, σa, μb, magnitude, radius, cov, pcc]`.
    pub fn stats(&self) -> [f64; 8] {
        stats_2d(&self.sums)
    }
}

#[inline]
fn add_2d(s: &mut [f64], a: f64, b: f64) {
    s[0] += 1.0;
    s[1] += a;
    s[2] += b;
    s[3] += a * a;
    s[4] += b * b;
    s[5] += a * b;
}

/// `[w, μa, σa, μb, magnitude, radius, cov, pcc]` from `[w, Σa, Σb, Σa², Σb², Σab]`.
#[inline]
fn stats_2d(s: &[f64]) -> [f64; 8] {
    let w = s[0];
    if w <= 0.0 {
        return [0.0; 8];
    }
    let (ma, mb) = (s[1] / w, s[2] / w);
    let va = (s[3] / w - ma * ma).max(0.0);
    let vb = (s[4] / w - mb * mb).max(0.0);
    let cov = s[5] / w - ma * mb;
    let (sa, sb) = (va.sqrt(), vb.sqrt());
    let denom = sa * sb;
    let pcc = if denom > 1e-12 {
        (cov / denom).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    [
        w,
        ma,
        sa,
        mb,
        (ma * ma + mb * mb).sqrt(),
        (va + vb).sqrt(),
        cov,
        pcc,
    ]
}

const NIL: u32 = u32::MAX;

/// Decayed sums for many keys and several decay rates, with LRU eviction past `max_keys`.
/// See the [module docs](self).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DecayedSums {
    lambdas: Vec<f64>,
    /// Sums per decay rate.
    n: usize,
    max_keys: usize,
    map: FxHashMap<u64, u32>,
    keys: Vec<u64>,
    t_last: Vec<f64>,
    /// `stride = n · lambdas.len()` floats per slot: rate-major.
    data: Vec<f64>,
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Most recently updated slot.
    head: u32,
    /// Least recently updated slot.
    tail: u32,
    evictions: u64,
}

impl DecayedSums {
    /// A table of `n` sums per decay rate, holding at most `max_keys` keys (at least 1).
    pub fn new(lambdas: &[f64], n: usize, max_keys: usize) -> Self {
        let max_keys = max_keys.clamp(1, NIL as usize - 1);
        DecayedSums {
            lambdas: lambdas.to_vec(),
            n,
            max_keys,
            map: FxHashMap::default(),
            keys: Vec::new(),
            t_last: Vec::new(),
            data: Vec::new(),
            prev: Vec::new(),
            next: Vec::new(),
            head: NIL,
            tail: NIL,
            evictions: 0,
        }
    }

    pub fn lambdas(&self) -> &[f64] {
        &self.lambdas
    }

    /// Floats per key.
    pub fn stride(&self) -> usize {
        self.n * self.lambdas.len()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Keys evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    fn unlink(&mut self, s: u32) {
        let (p, n) = (self.prev[s as usize], self.next[s as usize]);
        if p != NIL {
            self.next[p as usize] = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        } else {
            self.tail = p;
        }
    }

    fn push_front(&mut self, s: u32) {
        self.prev[s as usize] = NIL;
        self.next[s as usize] = self.head;
        if self.head != NIL {
            self.prev[self.head as usize] = s;
        }
        self.head = s;
        if self.tail == NIL {
            self.tail = s;
        }
    }

    /// The slot of `key`, created (possibly evicting the LRU key) with zero sums at time `t`.
    fn slot(&mut self, key: u64, t: f64) -> usize {
        if let Some(&s) = self.map.get(&key) {
            if self.head != s {
                self.unlink(s);
                self.push_front(s);
            }
            return s as usize;
        }
        let stride = self.stride();
        let s = if self.map.len() < self.max_keys {
            let s = self.keys.len() as u32;
            self.keys.push(key);
            self.t_last
                .push(if t.is_nan() { f64::NEG_INFINITY } else { t });
            self.data.extend(std::iter::repeat_n(0.0, stride));
            self.prev.push(NIL);
            self.next.push(NIL);
            s
        } else {
            let s = self.tail;
            self.unlink(s);
            self.map.remove(&self.keys[s as usize]);
            self.evictions += 1;
            self.keys[s as usize] = key;
            self.t_last[s as usize] = if t.is_nan() { f64::NEG_INFINITY } else { t };
            let base = s as usize * stride;
            self.data[base..base + stride].fill(0.0);
            s
        };
        self.map.insert(key, s);
        self.push_front(s);
        s as usize
    }

    /// Decays `key`'s sums to `t`, then calls `add(rate_index, sums)` for each decay rate, and
    /// returns all sums (`stride` floats, rate-major).
    #[inline]
    pub fn update_with(
        &mut self,
        key: u64,
        t: f64,
        mut add: impl FnMut(usize, &mut [f64]),
    ) -> &[f64] {
        let s = self.slot(key, t);
        let stride = self.stride();
        let n = self.n;
        let last = self.t_last[s];
        let dt = if t.is_nan() { 0.0 } else { elapsed(last, t) };
        if dt > 0.0 {
            self.t_last[s] = t;
        }
        let block = &mut self.data[s * stride..(s + 1) * stride];
        for (r, (lambda, sums)) in self
            .lambdas
            .iter()
            .zip(block.chunks_exact_mut(n))
            .enumerate()
        {
            if dt > 0.0 {
                let f = (-lambda * dt).exp2();
                sums.iter_mut().for_each(|x| *x *= f);
            }
            add(r, sums);
        }
        &self.data[s * stride..(s + 1) * stride]
    }

    /// Decays `key`'s sums to `t` and adds `add` (n values) to each rate's sums.
    pub fn update(&mut self, key: u64, t: f64, add: &[f64]) -> &[f64] {
        self.update_with(key, t, |_, sums| {
            for (s, a) in sums.iter_mut().zip(add) {
                *s += clamp_value(*a);
            }
        })
    }

    /// The stored sums of `key` as of its last update (not decayed to now).
    pub fn get(&self, key: u64) -> Option<&[f64]> {
        let s = *self.map.get(&key)? as usize;
        let stride = self.stride();
        Some(&self.data[s * stride..(s + 1) * stride])
    }
}

/// Keyed damped statistics with several decay rates: 1-D streams and paired 2-D streams, each
/// in its own table of at most `max_keys` keys (LRU eviction).
#[derive(Debug, Clone)]
pub struct IncStatDb {
    one: DecayedSums,
    two: DecayedSums,
}

impl Default for IncStatDb {
    fn default() -> Self {
        Self::new(&DEFAULT_LAMBDAS, DEFAULT_MAX_KEYS)
    }
}

impl IncStatDb {
    pub fn new(lambdas: &[f64], max_keys: usize) -> Self {
        IncStatDb {
            one: DecayedSums::new(lambdas, 3, max_keys),
            two: DecayedSums::new(lambdas, 6, max_keys),
        }
    }

    pub fn lambdas(&self) -> &[f64] {
        self.one.lambdas()
    }

    /// Outputs of [`IncStatDb::update_1d`]: `[w, mean, std]` per rate.
    pub const OUT_1D: usize = 3;
    /// Outputs of [`IncStatDb::update_2d`]: `[w, μa, σa, μb, magnitude, radius, cov, pcc]` per
    /// rate.
    pub const OUT_2D: usize = 8;

    /// Adds `v` at time `t` to stream `key`; writes `[w, mean, std]` for each decay rate into
    /// `out` (`3 · rates` values).
    pub fn update_1d(&mut self, key: u64, t: f64, v: f64, out: &mut [f64]) {
        let v = clamp_value(v);
        let sums = self.one.update_with(key, t, |_, s| {
            s[0] += 1.0;
            s[1] += v;
            s[2] += v * v;
        });
        for (o, s) in out.chunks_exact_mut(3).zip(sums.chunks_exact(3)) {
            let var = variance(s[0], s[1], s[2]);
            o[0] = s[0];
            o[1] = if s[0] > 0.0 { s[1] / s[0] } else { 0.0 };
            o[2] = var.sqrt();
        }
    }

    /// Adds the pair `(a, b)` at time `t` to stream `key`; writes
    /// `[w, μa, σa, μb, magnitude, radius, cov, pcc]` for each decay rate (`8 · rates` values).
    pub fn update_2d(&mut self, key: u64, t: f64, a: f64, b: f64, out: &mut [f64]) {
        let (a, b) = (clamp_value(a), clamp_value(b));
        let sums = self.two.update_with(key, t, |_, s| add_2d(s, a, b));
        for (o, s) in out.chunks_exact_mut(8).zip(sums.chunks_exact(6)) {
            o.copy_from_slice(&stats_2d(s));
        }
    }

    /// Keys held in the 1-D and 2-D tables.
    pub fn len(&self) -> (usize, usize) {
        (self.one.len(), self.two.len())
    }
}

/// A bounded "recently seen" set of u64 keys with a time horizon: 4-way set-associative,
/// replacing the oldest entry of a full set. An entry is a 32-bit fingerprint and a 32-bit
/// whole-second time relative to the first time seen, so a set of four fits half a cache line
/// (the table is probed at random on every flow; its size, not arithmetic, sets the cost).
/// A key counts as new when it is absent or was last seen more than `horizon` seconds ago.
/// Eviction can only forget keys (a repeat may count as new again); a fingerprint collision
/// (odds ~4 / 2³² per probe) can hide a new key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecentSet {
    /// `(fingerprint, seconds since base + 1)`; time 0 marks an empty entry.
    entries: Vec<(u32, u32)>,
    mask: usize,
    horizon: f64,
    base: f64,
    last: u32,
}

const WAYS: usize = 4;

impl RecentSet {
    /// `4 · 2^bits` entries (8 bytes each).
    pub fn new(bits: u32, horizon: f64) -> Self {
        let sets = 1usize << bits.min(28);
        RecentSet {
            entries: vec![(0, 0); WAYS * sets],
            mask: sets - 1,
            horizon,
            base: f64::NAN,
            last: 1,
        }
    }

    #[inline]
    fn seconds(&mut self, t: f64) -> u32 {
        if t.is_nan() {
            return self.last;
        }
        if self.base.is_nan() {
            self.base = t;
        }
        let s = ((t - self.base).max(0.0).min(f64::from(u32::MAX - 2)) as u32) + 1;
        self.last = self.last.max(s);
        s
    }

    /// Records `key` at `t`; returns whether it was new.
    #[inline]
    pub fn observe(&mut self, key: u64, t: f64) -> bool {
        let now = self.seconds(t);
        let h = mix(key);
        let fp = (h >> 32) as u32;
        let set = WAYS * ((h as usize) & self.mask);
        let horizon = self.horizon;
        let ways = &mut self.entries[set..set + WAYS];
        let mut oldest = 0;
        for j in 0..WAYS {
            let (f, seen) = ways[j];
            if seen != 0 && f == fp {
                ways[j].1 = seen.max(now);
                return f64::from(now.saturating_sub(seen)) > horizon;
            }
            if seen < ways[oldest].1 {
                oldest = j;
            }
        }
        ways[oldest] = (fp, now);
        true
    }
}

/// A strong 64-bit mixer (SplitMix64 finaliser) for combining and spreading keys.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Combines two keys (order matters).
#[inline]
pub fn combine(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// One flow, as [`FlowContext`] sees it. Keys are hashes of the addresses and ports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowObs {
    /// Seconds (any epoch; only differences matter).
    pub t: f64,
    pub src: u64,
    pub dst: u64,
    pub sport: u64,
    pub dport: u64,
    pub orig_bytes: f64,
    pub resp_bytes: f64,
    /// Failed or unanswered (Zeek `S0`, `REJ`, …; no responder packets).
    pub failed: bool,
}

/// Options of [`FlowContext`] and [`AuthContext`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContextOpts {
    pub lambdas: Vec<f64>,
    pub max_keys: usize,
    /// Seconds after which a (source, port) or (source, host) pair counts as new again.
    pub horizon: f64,
    /// `log2` of the number of 4-way sets of each [`RecentSet`] (default 14: 65 536 pairs in
    /// 512 KiB per set).
    pub recent_bits: u32,
}

impl Default for ContextOpts {
    fn default() -> Self {
        ContextOpts {
            lambdas: DEFAULT_LAMBDAS.to_vec(),
            max_keys: DEFAULT_MAX_KEYS,
            horizon: 3600.0,
            recent_bits: 14,
        }
    }
}

fn lambda_suffix(l: f64) -> String {
    format!("_l{l}")
}

const SRC_STATS: [&str; 6] = [
    "src_conns",
    "src_bytes_mean",
    "src_bytes_std",
    "src_fail_share",
    "src_new_ports",
    "src_new_hosts",
];
const PAIR_STATS: [&str; 8] = [
    "pair_conns",
    "pair_obytes_mean",
    "pair_obytes_std",
    "pair_rbytes_mean",
    "pair_magnitude",
    "pair_radius",
    "pair_cov",
    "pair_pcc",
];
const SOCK_STATS: [&str; 3] = ["sock_conns", "sock_bytes_mean", "sock_bytes_std"];
const DST_STATS: [&str; 3] = ["dst_conns", "dst_fail_share", "dst_new_srcs"];

/// Per-source, host-pair, socket and destination context of a flow stream. Bytes enter the
/// statistics as `ln(1 + bytes)`: flow sizes are heavy-tailed, and raw-byte variances would be
/// ruled by single transfers.
///
/// Per decay rate λ (names end in `_l{λ}`), in this order (blocks, then rates, then stats):
///
/// * source (`src_*`, key: source address): damped connection count `conns` (rate × 1/(λ ln 2)),
///   mean/std of originator bytes, damped share of failed/unanswered flows, damped count of new
///   (source, destination port) pairs and of new (source, destination) pairs;
/// * host pair (`pair_*`, key: source → destination): Kitsune 2-D statistics of (originator
///   bytes, responder bytes): count, means, std, magnitude, radius, covariance, correlation;
/// * socket (`sock_*`, key: source:port → destination:port): count, mean/std of total bytes;
/// * destination (`dst_*`, key: destination address): count, failed share, damped count of new
///   sources.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FlowContext {
    src: DecayedSums,
    pair: DecayedSums,
    sock: DecayedSums,
    dst: DecayedSums,
    ports: RecentSet,
    hosts: RecentSet,
    rates: usize,
}

impl FlowContext {
    pub fn new(opts: &ContextOpts) -> Self {
        let l = &opts.lambdas;
        FlowContext {
            src: DecayedSums::new(l, 6, opts.max_keys),
            pair: DecayedSums::new(l, 6, opts.max_keys),
            sock: DecayedSums::new(l, 3, opts.max_keys),
            dst: DecayedSums::new(l, 3, opts.max_keys),
            ports: RecentSet::new(opts.recent_bits, opts.horizon),
            hosts: RecentSet::new(opts.recent_bits, opts.horizon),
            rates: l.len(),
        }
    }

    /// Feature names, in output order.
    pub fn names(lambdas: &[f64]) -> Vec<String> {
        let mut v = Vec::new();
        for block in [&SRC_STATS[..], &PAIR_STATS, &SOCK_STATS, &DST_STATS] {
            for &l in lambdas {
                for s in block {
                    v.push(format!("{s}{}", lambda_suffix(l)));
                }
            }
        }
        v
    }

    /// Output width for `rates` decay rates.
    pub fn width_for(rates: usize) -> usize {
        rates * (SRC_STATS.len() + PAIR_STATS.len() + SOCK_STATS.len() + DST_STATS.len())
    }

    pub fn width(&self) -> usize {
        Self::width_for(self.rates)
    }

    /// Updates the statistics with `f` and writes the context features into `out[..width]`.
    pub fn update(&mut self, f: &FlowObs, out: &mut [f64]) {
        let r = self.rates;
        let t = f.t;
        let ob = clamp_value(f.orig_bytes).max(0.0).ln_1p();
        let rb = clamp_value(f.resp_bytes).max(0.0).ln_1p();
        let tb = (clamp_value(f.orig_bytes).max(0.0) + clamp_value(f.resp_bytes).max(0.0)).ln_1p();
        let fail = if f.failed { 1.0 } else { 0.0 };
        let pair_key = combine(f.src, f.dst);
        let new_port = if self.ports.observe(combine(f.src, mix(f.dport ^ 0x5eed)), t) {
            1.0
        } else {
            0.0
        };
        let new_host = if self.hosts.observe(pair_key, t) {
            1.0
        } else {
            0.0
        };

        let (o_src, rest) = out.split_at_mut(r * SRC_STATS.len());
        let (o_pair, rest) = rest.split_at_mut(r * PAIR_STATS.len());
        let (o_sock, rest) = rest.split_at_mut(r * SOCK_STATS.len());
        let o_dst = &mut rest[..r * DST_STATS.len()];

        let sums = self.src.update_with(f.src, t, |_, s| {
            s[0] += 1.0;
            s[1] += ob;
            s[2] += ob * ob;
            s[3] += fail;
            s[4] += new_port;
            s[5] += new_host;
        });
        for (o, s) in o_src.chunks_exact_mut(6).zip(sums.chunks_exact(6)) {
            let w = s[0];
            o[0] = w;
            o[1] = s[1] / w;
            o[2] = variance(w, s[1], s[2]).sqrt();
            o[3] = s[3] / w;
            o[4] = s[4];
            o[5] = s[5];
        }

        let sums = self.pair.update_with(pair_key, t, |_, s| add_2d(s, ob, rb));
        for (o, s) in o_pair.chunks_exact_mut(8).zip(sums.chunks_exact(6)) {
            o.copy_from_slice(&stats_2d(s));
        }

        let sock_key = combine(combine(f.src, f.sport), combine(f.dst, f.dport));
        let sums = self.sock.update_with(sock_key, t, |_, s| {
            s[0] += 1.0;
            s[1] += tb;
            s[2] += tb * tb;
        });
        for (o, s) in o_sock.chunks_exact_mut(3).zip(sums.chunks_exact(3)) {
            o[0] = s[0];
            o[1] = s[1] / s[0];
            o[2] = variance(s[0], s[1], s[2]).sqrt();
        }

        let sums = self.dst.update_with(f.dst, t, |_, s| {
            s[0] += 1.0;
            s[1] += fail;
            s[2] += new_host;
        });
        for (o, s) in o_dst.chunks_exact_mut(3).zip(sums.chunks_exact(3)) {
            o[0] = s[0];
            o[1] = s[1] / s[0];
            o[2] = s[2];
        }
    }

    /// Keys held per table: source, pair, socket, destination.
    pub fn keys(&self) -> [usize; 4] {
        [
            self.src.len(),
            self.pair.len(),
            self.sock.len(),
            self.dst.len(),
        ]
    }
}

/// One authentication attempt, as [`AuthContext`] sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AuthObs {
    pub t: f64,
    /// Hash of `user.name`, `None` when absent.
    pub user: Option<u64>,
    /// Hash of `source.ip`, `None` when absent.
    pub source: Option<u64>,
    pub failed: bool,
}

const USER_STATS: [&str; 2] = ["user_attempts", "user_fail_share"];
const ASRC_STATS: [&str; 3] = ["srcip_attempts", "srcip_fail_share", "srcip_new_users"];

/// Per-user and per-source-address login context: damped attempt count and failure share per
/// user and per source address, and the damped count of new users per source address
/// (password spraying). Missing keys give zeros for their block.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuthContext {
    user: DecayedSums,
    src: DecayedSums,
    users_of_src: RecentSet,
    rates: usize,
}

impl AuthContext {
    pub fn new(opts: &ContextOpts) -> Self {
        let l = &opts.lambdas;
        AuthContext {
            user: DecayedSums::new(l, 2, opts.max_keys),
            src: DecayedSums::new(l, 3, opts.max_keys),
            users_of_src: RecentSet::new(opts.recent_bits, opts.horizon),
            rates: l.len(),
        }
    }

    pub fn names(lambdas: &[f64]) -> Vec<String> {
        let mut v = Vec::new();
        for block in [&USER_STATS[..], &ASRC_STATS] {
            for &l in lambdas {
                for s in block {
                    v.push(format!("{s}{}", lambda_suffix(l)));
                }
            }
        }
        v
    }

    pub fn width_for(rates: usize) -> usize {
        rates * (USER_STATS.len() + ASRC_STATS.len())
    }

    pub fn update(&mut self, a: &AuthObs, out: &mut [f64]) {
        let r = self.rates;
        let fail = if a.failed { 1.0 } else { 0.0 };
        let (o_user, rest) = out.split_at_mut(r * USER_STATS.len());
        let o_src = &mut rest[..r * ASRC_STATS.len()];
        match a.user {
            Some(u) => {
                let sums = self.user.update_with(u, a.t, |_, s| {
                    s[0] += 1.0;
                    s[1] += fail;
                });
                for (o, s) in o_user.chunks_exact_mut(2).zip(sums.chunks_exact(2)) {
                    o[0] = s[0];
                    o[1] = s[1] / s[0];
                }
            }
            None => o_user.fill(0.0),
        }
        match a.source {
            Some(src) => {
                let new_user = match a.user {
                    Some(u) if self.users_of_src.observe(combine(src, u), a.t) => 1.0,
                    _ => 0.0,
                };
                let sums = self.src.update_with(src, a.t, |_, s| {
                    s[0] += 1.0;
                    s[1] += fail;
                    s[2] += new_user;
                });
                for (o, s) in o_src.chunks_exact_mut(3).zip(sums.chunks_exact(3)) {
                    o[0] = s[0];
                    o[1] = s[1] / s[0];
                    o[2] = s[2];
                }
            }
            None => o_src.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naïve recomputation: weights `2^(−λ(t_now − t_i))` over all observations.
    fn naive(obs: &[(f64, f64)], lambda: f64) -> (f64, f64, f64) {
        let t_now = obs.last().unwrap().0;
        let (mut w, mut ls, mut ss) = (0.0, 0.0, 0.0);
        for &(t, v) in obs {
            let k = (-lambda * (t_now - t)).exp2();
            w += k;
            ls += k * v;
            ss += k * v * v;
        }
        let m = ls / w;
        (w, m, (ss / w - m * m).max(0.0).sqrt())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn incstat_matches_naive() {
        let obs: Vec<(f64, f64)> = (0..500)
            .map(|i| (i as f64 * 0.037, ((i * 7919) % 101) as f64))
            .collect();
        for &l in &DEFAULT_LAMBDAS {
            let mut s = IncStat::new(l);
            for (k, &(t, v)) in obs.iter().enumerate() {
                s.update(t, v);
                if k % 50 == 49 {
                    let (w, m, sd) = naive(&obs[..=k], l);
                    assert!(close(s.weight(), w), "λ {l}: w {} vs {w}", s.weight());
                    assert!(close(s.mean(), m));
                    assert!(close(s.std(), sd), "{} vs {sd}", s.std());
                }
            }
        }
    }

    #[test]
    fn db_matches_single_streams() {
        let mut db = IncStatDb::default();
        let mut singles: Vec<IncStat> = DEFAULT_LAMBDAS.iter().map(|&l| IncStat::new(l)).collect();
        let mut out = [0.0; 15];
        for i in 0..300 {
            let t = i as f64 * 0.1;
            let v = (i % 13) as f64;
            db.update_1d(42, t, v, &mut out);
            // Another key interleaved must not disturb key 42.
            db.update_1d(7, t, 1000.0, &mut [0.0; 15]);
            for s in &mut singles {
                s.update(t, v);
            }
        }
        for (r, s) in singles.iter().enumerate() {
            assert!(close(out[3 * r], s.weight()));
            assert!(close(out[3 * r + 1], s.mean()));
            assert!(close(out[3 * r + 2], s.std()));
        }
    }

    #[test]
    fn two_d_matches_naive() {
        let lambda = 0.5;
        let obs: Vec<(f64, f64, f64)> = (0..200)
            .map(|i| {
                let a = ((i * 31) % 17) as f64;
                (i as f64 * 0.2, a, 2.0 * a + ((i * 13) % 5) as f64)
            })
            .collect();
        let mut db = IncStatDb::new(&[lambda], 10);
        let mut out = [0.0; 8];
        let mut single = IncStat2D::new(lambda);
        for &(t, a, b) in &obs {
            db.update_2d(1, t, a, b, &mut out);
            single.update(t, a, b);
        }
        let t_now = obs.last().unwrap().0;
        let (mut w, mut sa, mut sb) = (0.0, 0.0, 0.0);
        for &(t, a, b) in &obs {
            let k = (-lambda * (t_now - t)).exp2();
            w += k;
            sa += k * a;
            sb += k * b;
        }
        let (ma, mb) = (sa / w, sb / w);
        let (mut va, mut vb, mut cov) = (0.0, 0.0, 0.0);
        for &(t, a, b) in &obs {
            let k = (-lambda * (t_now - t)).exp2() / w;
            va += k * (a - ma) * (a - ma);
            vb += k * (b - mb) * (b - mb);
            cov += k * (a - ma) * (b - mb);
        }
        let expect = [
            w,
            ma,
            va.sqrt(),
            mb,
            (ma * ma + mb * mb).sqrt(),
            (va + vb).sqrt(),
            cov,
            cov / (va.sqrt() * vb.sqrt()),
        ];
        for i in 0..8 {
            assert!(close(out[i], expect[i]), "{i}: {} vs {}", out[i], expect[i]);
            assert!(close(single.stats()[i], expect[i]));
        }
        assert!(out[7] > 0.9);
    }

    #[test]
    fn lru_bound_evicts_least_recent() {
        let mut t = DecayedSums::new(&[1.0], 1, 3);
        for k in 0..3 {
            t.update(k, 0.0, &[1.0]);
        }
        t.update(0, 0.0, &[1.0]); // 0 is now most recent; 1 is least
        t.update(99, 0.0, &[1.0]);
        assert_eq!(t.len(), 3);
        assert!(t.get(1).is_none());
        assert_eq!(t.get(0), Some(&[2.0][..]));
        assert!(t.get(2).is_some() && t.get(99).is_some());
        assert_eq!(t.evictions(), 1);
        for k in 100..1000 {
            t.update(k, 0.0, &[1.0]);
        }
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn time_going_backwards_does_not_inflate() {
        let mut s = IncStat::new(1.0);
        s.update(10.0, 1.0);
        s.update(5.0, 1.0);
        assert_eq!(s.weight(), 2.0);
        s.update(f64::NAN, f64::INFINITY);
        assert!(s.mean().is_finite() && s.std().is_finite());
    }

    #[test]
    fn untimed_first_update_does_not_freeze_the_clock() {
        let mut t = DecayedSums::new(&[1.0], 1, 4);
        t.update(1, f64::NAN, &[1.0]);
        t.update(1, 10.0, &[1.0]);
        t.update(1, 11.0, &[1.0]);
        assert!((t.get(1).unwrap()[0] - 1.5).abs() < 1e-12);
    }

    #[test]
    fn recent_set_horizon() {
        let mut r = RecentSet::new(4, 10.0);
        assert!(r.observe(5, 0.0));
        assert!(!r.observe(5, 5.0));
        assert!(!r.observe(5, 14.0));
        assert!(r.observe(5, 30.0));
    }

    #[test]
    fn scan_raises_new_ports_and_fail_share() {
        let mut ctx = FlowContext::new(&ContextOpts::default());
        let w = ctx.width();
        let names = FlowContext::names(&DEFAULT_LAMBDAS);
        assert_eq!(names.len(), w);
        let idx = |n: &str| names.iter().position(|x| x == n).unwrap();
        let mut out = vec![0.0; w];
        // A benign host talking to one server.
        for i in 0..100 {
            let f = FlowObs {
                t: i as f64,
                src: 1,
                dst: 2,
                sport: 40000 + i,
                dport: 443,
                orig_bytes: 500.0,
                resp_bytes: 5000.0,
                failed: false,
            };
            ctx.update(&f, &mut out);
        }
        let benign_ports = out[idx("src_new_ports_l0.01")];
        let benign_fail = out[idx("src_fail_share_l0.01")];
        // A scanner sweeping ports.
        for i in 0..100 {
            let f = FlowObs {
                t: 100.0 + i as f64 * 0.01,
                src: 3,
                dst: 2,
                sport: 50000,
                dport: i,
                orig_bytes: 0.0,
                resp_bytes: 0.0,
                failed: true,
            };
            ctx.update(&f, &mut out);
        }
        assert!(out[idx("src_new_ports_l0.01")] > 50.0 && benign_ports < 2.0);
        assert!(out[idx("src_fail_share_l0.01")] > 0.99 && benign_fail == 0.0);
        assert!(out.iter().all(|x| x.is_finite()));
    }
}
