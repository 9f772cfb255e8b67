//! Online, outlier-robust scaling of raw feature rows to roughly `[0, 1]`, and categorical
//! encoding with a fixed output width.
//!
//! # Scaling
//!
//! Each feature goes through a per-feature [`Transform`] (`None` or a sign-safe `Log1p`), then a
//! min–max map over bounds `(lo, hi)` kept in transformed units:
//! `y = (transform(x) - lo) / (hi - lo)`.
//!
//! Bounds come from one of two places:
//!
//! * [`Scaler::fit`]: the exact minimum and maximum of the transformed training values. This is
//!   the protocol the published baselines use (min–max fitted on benign training rows), so
//!   results are comparable with them.
//! * streaming ([`Scaler::update`]): the `q_lo`/`q_hi` quantiles (default 0.001 / 0.999) of a
//!   decayed histogram with fixed log-spaced buckets (see [`StreamingOpts`]). One huge outlier
//!   moves a quantile by at most one observation's weight, so it does not squash every other
//!   value towards 0 as a running max would.
//!
//! Values outside the bounds map outside `[0, 1]` and are clamped to
//! [`[OUT_MIN, OUT_MAX]`](OUT_MIN) = `[-1, 2]`: far enough to stand out, bounded so split-based
//! models (trees, half-space trees) keep a sane working range. Non-finite input is sanitised
//! first (NaN → 0, ±∞ → ±[`RAW_LIMIT`]), so the output is always finite.
//!
//! A feature whose bounds coincide (a constant during training) uses a tiny span, so any other
//! value lands at the clamp: "never seen before". A streaming feature with no observations
//! yet uses bounds `(0, 1)` in transformed units.
//!
//! # Categories
//!
//! [`CategoryEncoder`] is either a bounded one-hot (the first `k` distinct values get a slot,
//! later ones share an `other` slot; [`CategoryEncoder::freeze`] stops learning) or feature
//! hashing into `m` buckets. Its width is fixed at construction.

use rustc_hash::{FxHashMap, FxHasher};
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// Lowest scaled output.
pub const OUT_MIN: f32 = -1.0;
/// Highest scaled output.
pub const OUT_MAX: f32 = 2.0;
/// Raw magnitudes are clamped to this before any arithmetic (±∞ become ±`RAW_LIMIT`).
pub const RAW_LIMIT: f64 = 1e15;

/// Replaces NaN by 0 and clamps to `±RAW_LIMIT`.
#[inline]
pub fn sanitize(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-RAW_LIMIT, RAW_LIMIT)
    }
}

/// Per-feature transform applied before min–max.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transform {
    /// Identity.
    #[default]
    None,
    /// `sign(x) · ln(1 + |x|)`: compresses heavy tails (bytes, packets, counts), safe for
    /// negative values.
    Log1p,
}

impl Transform {
    /// Applies the transform to a sanitised value.
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::None => x,
            Transform::Log1p => x.signum() * x.abs().ln_1p(),
        }
    }

    /// Inverse of [`Transform::apply`].
    #[inline]
    pub fn invert(self, y: f64) -> f64 {
        match self {
            Transform::None => y,
            Transform::Log1p => y.signum() * y.abs().min(700.0).exp_m1(),
        }
    }
}

/// Options of the streaming bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StreamingOpts {
    /// Lower quantile used as the lower bound.
    pub q_lo: f64,
    /// Upper quantile used as the upper bound.
    pub q_hi: f64,
    /// Half-life of an observation's weight, in rows. `f64::INFINITY` keeps everything.
    pub half_life_rows: f64,
    /// Bounds are recomputed from the histograms every this many updates (and on
    /// [`Scaler::refresh`]); the quantile walk is O(buckets).
    pub refresh_every: u32,
}

impl Default for StreamingOpts {
    fn default() -> Self {
        StreamingOpts {
            q_lo: 0.001,
            q_hi: 0.999,
            half_life_rows: 1_000_000.0,
            refresh_every: 1024,
        }
    }
}

/// Buckets per octave of the histogram key (relative resolution ≤ 12.5 %).
const BUCKETS_PER_OCTAVE: usize = 8;
/// Values are keyed on `a = 1 + |x| · 2^10`: resolution ~0.1 % of a unit near 0, relative
/// further out. The bucket is read from `a`'s float bits (exponent and top three mantissa
/// bits: log-linear buckets as in HDR histograms), so no logarithm is computed per value.
const KEY_SCALE: f64 = 1024.0;
/// Octaves covered on each side of 0: `RAW_LIMIT · KEY_SCALE < 2^61`.
const OCTAVES: usize = 61;
const HALF_BUCKETS: usize = OCTAVES * BUCKETS_PER_OCTAVE;
const N_BUCKETS: usize = 2 * HALF_BUCKETS;
/// The lazy-decay increment is folded back into the weights past this.
const RENORM_AT: f64 = 1e12;

/// Index of `|x|` among one side's buckets.
#[inline]
fn magnitude_bucket(x: f64) -> usize {
    let a = x.abs() * KEY_SCALE + 1.0;
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7ff) as usize - 1023;
    let m = ((bits >> 49) & 7) as usize;
    (e * BUCKETS_PER_OCTAVE + m).min(HALF_BUCKETS - 1)
}

/// The magnitudes `[lo, hi)` of one side's bucket `i`.
fn magnitude_edges(i: usize) -> (f64, f64) {
    let (e, m) = (i / BUCKETS_PER_OCTAVE, i % BUCKETS_PER_OCTAVE);
    let base = 2f64.powi(e as i32);
    let lo = base * (1.0 + m as f64 / 8.0);
    let hi = base * (1.0 + (m + 1) as f64 / 8.0);
    ((lo - 1.0) / KEY_SCALE, (hi - 1.0) / KEY_SCALE)
}

/// A decayed histogram over fixed log-spaced buckets (symmetric around 0).
///
/// Decay is lazy: instead of shrinking all buckets on each update, each new observation adds a
/// growing increment; weights are rescaled when the increment gets large.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogHistogram {
    counts: Vec<f32>,
    total: f64,
    inc: f64,
}

impl LogHistogram {
    fn new() -> Self {
        LogHistogram {
            counts: vec![0.0; N_BUCKETS],
            total: 0.0,
            inc: 1.0,
        }
    }

    /// Buckets in value order: negative magnitudes mirrored below `HALF_BUCKETS`.
    #[inline]
    fn bucket(x: f64) -> usize {
        let i = magnitude_bucket(x);
        if x < 0.0 {
            HALF_BUCKETS - 1 - i
        } else {
            HALF_BUCKETS + i
        }
    }

    /// Value range `[lo, hi]` (ascending) of bucket `b`.
    fn bucket_edges(b: usize) -> (f64, f64) {
        if b >= HALF_BUCKETS {
            magnitude_edges(b - HALF_BUCKETS)
        } else {
            let (lo, hi) = magnitude_edges(HALF_BUCKETS - 1 - b);
            (-hi, -lo)
        }
    }

    #[inline]
    fn add(&mut self, x: f64, growth: f64) {
        self.counts[Self::bucket(x)] += self.inc as f32;
        self.total += self.inc;
        self.inc *= growth;
        if self.inc > RENORM_AT {
            let s = 1.0 / self.inc;
            for c in &mut self.counts {
                *c = (f64::from(*c) * s) as f32;
            }
            self.total *= s;
            self.inc = 1.0;
        }
    }

    /// The `q`-quantile, interpolated inside its bucket; `None` when empty.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * self.total;
        let mut acc = 0.0;
        let mut last_nonempty = None;
        for (b, &c) in self.counts.iter().enumerate() {
            let c = f64::from(c);
            if c <= 0.0 {
                continue;
            }
            last_nonempty = Some(b);
            if acc + c >= target {
                let (lo, hi) = Self::bucket_edges(b);
                let frac = ((target - acc) / c).clamp(0.0, 1.0);
                return Some(lo + (hi - lo) * frac);
            }
            acc += c;
        }
        last_nonempty.map(|b| Self::bucket_edges(b).1)
    }
}

fn growth_of(opts: &StreamingOpts) -> f64 {
    let h = opts.half_life_rows;
    if h.is_finite() && h > 0.0 {
        2f64.powf(1.0 / h)
    } else {
        1.0
    }
}

/// Per-feature robust min–max scaler. See the [module docs](self).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaler {
    transforms: Vec<Transform>,
    /// Bounds in transformed units.
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// `1 / max(hi - lo, tiny)`, cached for [`Scaler::transform`].
    inv_span: Vec<f64>,
    opts: StreamingOpts,
    hists: Vec<LogHistogram>,
    /// `2^(1/half_life)`, cached.
    growth: f64,
    since_refresh: u32,
    rows: u64,
}

impl Scaler {
    /// A scaler for `transforms.len()` features with default streaming options.
    pub fn new(transforms: Vec<Transform>) -> Self {
        Self::with_opts(transforms, StreamingOpts::default())
    }

    pub fn with_opts(transforms: Vec<Transform>, opts: StreamingOpts) -> Self {
        let n = transforms.len();
        let mut s = Scaler {
            lo: vec![0.0; n],
            hi: vec![1.0; n],
            inv_span: vec![1.0; n],
            hists: (0..n).map(|_| LogHistogram::new()).collect(),
            transforms,
            growth: growth_of(&opts),
            opts,
            since_refresh: 0,
            rows: 0,
        };
        s.recompute_spans();
        s
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        self.transforms.len()
    }

    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }

    /// Rows seen by [`Scaler::fit`] or [`Scaler::update`].
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Fits exact min/max bounds of the transformed training rows (the peers' protocol).
    /// Rows shorter or longer than the width are read up to the width. The rows also seed the
    /// streaming histograms, so [`Scaler::update`] can continue from here.
    pub fn fit<'a, I>(&mut self, rows: I)
    where
        I: IntoIterator<Item = &'a [f64]>,
    {
        let n = self.width();
        let mut lo = vec![f64::INFINITY; n];
        let mut hi = vec![f64::NEG_INFINITY; n];
        let growth = self.growth();
        for row in rows {
            self.rows += 1;
            for (i, &x) in row.iter().take(n).enumerate() {
                let x = sanitize(x);
                let y = self.transforms[i].apply(x);
                lo[i] = lo[i].min(y);
                hi[i] = hi[i].max(y);
                self.hists[i].add(x, growth);
            }
        }
        for i in 0..n {
            if lo[i] <= hi[i] {
                self.lo[i] = lo[i];
                self.hi[i] = hi[i];
            }
        }
        self.since_refresh = 0;
        self.recompute_spans();
    }

    /// Streaming mode: adds one row to the decayed histograms; bounds follow the quantiles,
    /// refreshed every [`StreamingOpts::refresh_every`] rows (and at rows 1, 2, 4, … before
    /// that).
    pub fn update(&mut self, raw: &[f64]) {
        let growth = self.growth();
        for (h, &x) in self.hists.iter_mut().zip(raw) {
            h.add(sanitize(x), growth);
        }
        self.rows += 1;
        self.since_refresh += 1;
        // Refresh early and often while the histograms fill (rows 1, 2, 4, …), then every
        // `refresh_every` rows.
        let warming = self.rows < u64::from(self.opts.refresh_every) && self.rows.is_power_of_two();
        if self.since_refresh >= self.opts.refresh_every.max(1) || warming {
            self.refresh();
        }
    }

    /// Recomputes the bounds from the streaming quantiles now.
    pub fn refresh(&mut self) {
        self.since_refresh = 0;
        for i in 0..self.width() {
            let h = &self.hists[i];
            if let (Some(a), Some(b)) = (h.quantile(self.opts.q_lo), h.quantile(self.opts.q_hi)) {
                let t = self.transforms[i];
                self.lo[i] = t.apply(a);
                self.hi[i] = t.apply(b);
            }
        }
        self.recompute_spans();
    }

    fn growth(&self) -> f64 {
        self.growth
    }

    fn recompute_spans(&mut self) {
        for i in 0..self.width() {
            let span = self.hi[i] - self.lo[i];
            let tiny = 1e-9 * self.lo[i].abs().max(self.hi[i].abs()).max(1.0);
            self.inv_span[i] = 1.0 / span.max(tiny);
        }
    }

    /// Scales one raw row into `out` (no allocation). Reads `min(raw, out, width)` values;
    /// output is finite and within `[OUT_MIN, OUT_MAX]`.
    #[inline]
    pub fn transform(&self, raw: &[f64], out: &mut [f32]) {
        let n = self.width().min(raw.len()).min(out.len());
        for i in 0..n {
            let y = self.transforms[i].apply(sanitize(raw[i]));
            let s = (y - self.lo[i]) * self.inv_span[i];
            out[i] = if s.is_nan() {
                0.0
            } else {
                (s as f32).clamp(OUT_MIN, OUT_MAX)
            };
        }
    }

    /// Streaming convenience: [`Scaler::update`] then [`Scaler::transform`].
    pub fn update_transform(&mut self, raw: &[f64], out: &mut [f32]) {
        self.update(raw);
        self.transform(raw, out);
    }

    /// The raw value that scales to `y` for feature `i` (inverse of [`Scaler::transform`]
    /// inside the clamp range).
    pub fn inverse(&self, i: usize, y: f32) -> f64 {
        let t = self.lo[i] + f64::from(y) / self.inv_span[i];
        self.transforms[i].invert(t)
    }

    /// The usual range of feature `i` in raw units (the bounds, untransformed), for
    /// explanations such as "dst_bytes usually 0–40 kB".
    pub fn expected_range(&self, i: usize) -> (f64, f64) {
        let t = self.transforms[i];
        (t.invert(self.lo[i]), t.invert(self.hi[i]))
    }

    /// Bounds of feature `i` in transformed units.
    pub fn bounds(&self, i: usize) -> (f64, f64) {
        (self.lo[i], self.hi[i])
    }
}

/// How a [`CategoryEncoder`] maps values to columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// The first `k` distinct values get a column each; all later values share one `other`
    /// column. Width `k + 1`.
    OneHot { k: usize },
    /// Feature hashing (FxHash of the text) into `m` columns. Width `m`.
    Hash { m: usize },
}

impl Encoding {
    pub fn width(self) -> usize {
        match self {
            Encoding::OneHot { k } => k + 1,
            Encoding::Hash { m } => m.max(1),
        }
    }
}

/// Longest category text kept in a vocabulary (longer values are truncated before lookup).
pub const MAX_CATEGORY_LEN: usize = 256;

/// Categorical encoder with a fixed output width. A missing value encodes as all zeros.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "EncoderState", into = "EncoderState")]
pub struct CategoryEncoder {
    encoding: Encoding,
    vocab: Vec<String>,
    index: FxHashMap<String, u32>,
    frozen: bool,
}

/// Serialised form: the vocabulary in slot order (the index is rebuilt).
#[derive(Serialize, Deserialize)]
struct EncoderState {
    encoding: Encoding,
    vocab: Vec<String>,
    frozen: bool,
}

impl From<EncoderState> for CategoryEncoder {
    fn from(s: EncoderState) -> Self {
        let mut e = CategoryEncoder::new(s.encoding);
        e.seed(s.vocab.iter().map(String::as_str));
        e.frozen = s.frozen;
        e
    }
}

impl From<CategoryEncoder> for EncoderState {
    fn from(e: CategoryEncoder) -> Self {
        EncoderState {
            encoding: e.encoding,
            vocab: e.vocab,
            frozen: e.frozen,
        }
    }
}

fn truncate(v: &str) -> &str {
    if v.len() <= MAX_CATEGORY_LEN {
        return v;
    }
    let mut end = MAX_CATEGORY_LEN;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

impl CategoryEncoder {
    pub fn new(encoding: Encoding) -> Self {
        CategoryEncoder {
            encoding,
            vocab: Vec::new(),
            index: FxHashMap::default(),
            frozen: false,
        }
    }

    /// Gives the first slots to `values` in order (one-hot only; ignored past `k`).
    pub fn seed<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        if let Encoding::OneHot { k } = self.encoding {
            for v in values {
                let v = truncate(v);
                if self.vocab.len() >= k {
                    break;
                }
                if !self.index.contains_key(v) {
                    self.index.insert(v.to_owned(), self.vocab.len() as u32);
                    self.vocab.push(v.to_owned());
                }
            }
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Output width, fixed at construction.
    pub fn width(&self) -> usize {
        self.encoding.width()
    }

    /// Stops vocabulary growth: unseen values go to `other` from now on.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The learned values in slot order (one-hot).
    pub fn vocabulary(&self) -> &[String] {
        &self.vocab
    }

    /// Column of `value`, learning it when there is room and the encoder is not frozen.
    pub fn slot(&mut self, value: &str) -> usize {
        let value = truncate(value);
        match self.encoding {
            Encoding::OneHot { k } => {
                if let Some(&s) = self.index.get(value) {
                    return s as usize;
                }
                if !self.frozen && self.vocab.len() < k {
                    let s = self.vocab.len();
                    self.index.insert(value.to_owned(), s as u32);
                    self.vocab.push(value.to_owned());
                    return s;
                }
                k
            }
            Encoding::Hash { m } => hash_slot(value, m),
        }
    }

    /// Column of `value` without learning.
    pub fn slot_frozen(&self, value: &str) -> usize {
        let value = truncate(value);
        match self.encoding {
            Encoding::OneHot { k } => self.index.get(value).map_or(k, |&s| s as usize),
            Encoding::Hash { m } => hash_slot(value, m),
        }
    }

    /// Writes the encoding of `value` into `out[..width]` (zeros, then a 1; all zeros for
    /// `None`), learning the value unless frozen.
    pub fn encode(&mut self, value: Option<&str>, out: &mut [f64]) {
        let w = self.width();
        out[..w].fill(0.0);
        if let Some(v) = value {
            let s = self.slot(v);
            out[s] = 1.0;
        }
    }

    /// Column names: `prefix=value` for learned one-hot slots, `prefix=#i` for free ones,
    /// `prefix=other`; `prefix#hi` for hash buckets.
    pub fn column_names(&self, prefix: &str) -> Vec<String> {
        match self.encoding {
            Encoding::OneHot { k } => {
                let mut v: Vec<String> = (0..k)
                    .map(|i| match self.vocab.get(i) {
                        Some(x) => format!("{prefix}={x}"),
                        None => format!("{prefix}=#{i}"),
                    })
                    .collect();
                v.push(format!("{prefix}=other"));
                v
            }
            Encoding::Hash { m } => (0..m.max(1)).map(|i| format!("{prefix}#h{i}")).collect(),
        }
    }
}

fn hash_slot(value: &str, m: usize) -> usize {
    let mut h = FxHasher::default();
    value.hash(&mut h);
    // Fold the high bits in: FxHash's low bits are weak for short keys.
    let x = h.finish();
    ((x ^ (x >> 29) ^ (x >> 47)) % m.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_maps_training_range_to_unit_interval() {
        let mut s = Scaler::new(vec![Transform::None, Transform::Log1p]);
        let rows = [[0.0, 0.0], [10.0, 1000.0], [5.0, 10.0]];
        s.fit(rows.iter().map(|r| &r[..]));
        let mut out = [0f32; 2];
        s.transform(&[0.0, 0.0], &mut out);
        assert_eq!(out, [0.0, 0.0]);
        s.transform(&[10.0, 1000.0], &mut out);
        assert!((out[0] - 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6);
        s.transform(&[1e9, -1e9], &mut out);
        assert_eq!(out, [OUT_MAX, OUT_MIN]);
        let (lo, hi) = s.expected_range(1);
        assert!(lo.abs() < 1e-9 && (hi - 1000.0).abs() < 1e-6, "{lo} {hi}");
    }

    #[test]
    fn round_trip_inverse() {
        let mut s = Scaler::new(vec![Transform::Log1p, Transform::None]);
        let rows: Vec<[f64; 2]> = (0..100)
            .map(|i| [i as f64 * 37.0, i as f64 - 50.0])
            .collect();
        s.fit(rows.iter().map(|r| &r[..]));
        let mut out = [0f32; 2];
        for r in &rows {
            s.transform(r, &mut out);
            for i in 0..2 {
                assert!((0.0..=1.0).contains(&out[i]));
                let back = s.inverse(i, out[i]);
                assert!(
                    (back - r[i]).abs() <= 1e-3 * r[i].abs().max(1.0),
                    "{back} vs {}",
                    r[i]
                );
            }
        }
        let json = serde_json::to_string(&s).unwrap();
        let s2: Scaler = serde_json::from_str(&json).unwrap();
        let bytes = postcard::to_stdvec(&s).unwrap();
        let s3: Scaler = postcard::from_bytes(&bytes).unwrap();
        let (mut a, mut b, mut c) = ([0f32; 2], [0f32; 2], [0f32; 2]);
        s.transform(&[123.0, 7.0], &mut a);
        s2.transform(&[123.0, 7.0], &mut b);
        s3.transform(&[123.0, 7.0], &mut c);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn streaming_bounds_resist_one_outlier() {
        let mut s = Scaler::new(vec![Transform::None]);
        let mut out = [0f32];
        for i in 0..20_000 {
            s.update(&[(i % 1000) as f64]);
        }
        s.update(&[1e12]);
        s.refresh();
        let (lo, hi) = s.expected_range(0);
        assert!(lo < 20.0 && (900.0..1200.0).contains(&hi), "{lo} {hi}");
        s.transform(&[500.0], &mut out);
        assert!((0.3..0.7).contains(&out[0]), "{}", out[0]);
        s.transform(&[1e12], &mut out);
        assert_eq!(out[0], OUT_MAX);
    }

    #[test]
    fn streaming_bounds_follow_drift() {
        let opts = StreamingOpts {
            half_life_rows: 2000.0,
            ..StreamingOpts::default()
        };
        let mut s = Scaler::with_opts(vec![Transform::Log1p], opts);
        for i in 0..20_000 {
            s.update(&[(i % 100) as f64]);
        }
        for i in 0..40_000 {
            s.update(&[10_000.0 + (i % 100) as f64]);
        }
        s.refresh();
        let (lo, _) = s.expected_range(0);
        assert!(lo > 5000.0, "{lo}");
    }

    #[test]
    fn non_finite_inputs_stay_finite() {
        let mut s = Scaler::new(vec![Transform::None, Transform::Log1p, Transform::None]);
        let mut out = [0f32; 3];
        for row in [
            [f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
            [f64::MAX, f64::MIN, 0.0],
            [1.0, 2.0, 3.0],
        ] {
            s.update(&row);
            s.transform(&row, &mut out);
            assert!(out.iter().all(|x| x.is_finite()), "{out:?}");
        }
    }

    #[test]
    fn one_hot_is_bounded_and_freezes() {
        let mut e = CategoryEncoder::new(Encoding::OneHot { k: 2 });
        e.seed(["tcp"]);
        let mut out = [0.0; 3];
        e.encode(Some("udp"), &mut out);
        assert_eq!(out, [0.0, 1.0, 0.0]);
        e.encode(Some("icmp"), &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0]);
        e.encode(None, &mut out);
        assert_eq!(out, [0.0; 3]);
        assert_eq!(
            e.column_names("proto"),
            ["proto=tcp", "proto=udp", "proto=other"]
        );
        let mut f = CategoryEncoder::new(Encoding::OneHot { k: 5 });
        f.freeze();
        assert_eq!(f.slot("x"), 5);
        let json = serde_json::to_string(&e).unwrap();
        let e2: CategoryEncoder = serde_json::from_str(&json).unwrap();
        assert_eq!(e2.slot_frozen("udp"), 1);
        assert_eq!(e2.width(), 3);
    }

    #[test]
    fn hashing_is_stable_and_in_range() {
        let mut e = CategoryEncoder::new(Encoding::Hash { m: 16 });
        let a = e.slot("cmd.exe");
        assert_eq!(a, e.slot("cmd.exe"));
        for v in ["a", "b", "powershell.exe", ""] {
            assert!(e.slot(v) < 16);
        }
        assert_eq!(e.width(), 16);
    }
}
