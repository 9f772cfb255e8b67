//! Streaming Half-Space Trees (Tan, Ting & Liu, IJCAI 2011, "Fast Anomaly Detection for
//! Streaming Data").
//!
//! Faithful to the paper:
//!
//! * each tree draws, per dimension, `sq ~ U[0, 1]` and the *work range*
//!   `sq ± 2·max(sq, 1 − sq)` (features are expected scaled to roughly `[0, 1]`);
//! * each internal node picks a random dimension and splits at the middle of the node's
//!   range in that dimension (the range is halved for the child);
//! * each node keeps a reference mass `r` (counts of the previous window) and a latest mass
//!   `l` (counts of the current window); after every window of `ψ` learned rows, `r ← l`
//!   and `l ← 0`;
//! * the mass of `x` is `Σ_trees r_node · 2^depth_node` at the node where the traversal
//!   stops: the first node with `r < size_limit`, or a leaf at the maximum depth.
//!
//! **Score.** A high mass means "normal", so [`Model::score`] returns
//! `1 − mass / max_mass` with `max_mass = trees · ψ · 2^height` (the largest mass any row can
//! have). The score lies in `[0, 1]`; higher is more anomalous; it orders rows exactly as the
//! negated paper mass does.
//!
//! **Warm-up.** Until the first window of `ψ` rows has been learned the reference mass is
//! empty and every row would score `1`. As in River, the counts of the first window become
//! the reference when it completes; before that [`Model::score`] returns `0.0` (no opinion,
//! never an alert). [`HalfSpaceTrees::is_warm`] tells the two apart.
//!
//! **How it is computed.** The results are exactly those of keeping both masses at every
//! node of complete trees (snapshots hold them so, and a test checks every entry point
//! against such a plain model), but the work is arranged around two facts:
//!
//! * A score reads the reference mass only along its path down to the first node with
//!   `r < limit` (`limit = ⌈size_limit⌉`), and the reference masses of one level sum to at
//!   most `ψ`, so at most `ψ / limit` nodes per level (10 at the default) let a descent
//!   continue. The *reference* is therefore kept as a small tree of its own: those nodes,
//!   each with its split and its two children, and the nodes where descents stop, with
//!   their mass (at most `2·height·ψ/limit + 1` nodes of 16 bytes per tree; about 90, 1.4
//!   KiB, on the synthetic rows of `examples/hst_speed.rs`, where the complete tree has
//!   65 535 nodes). All trees' references together stay in the L1/L2 caches, and a score is
//!   25 short descents, the trees side by side so that their chains of dependent loads
//!   overlap; a descent that stops leaves the group, so no step is spent on stopped trees.
//! * The latest mass is needed only when its window closes. Learning a row therefore only
//!   stores it (column by column); when the window closes, each tree builds its new
//!   reference top-down by splitting the window's rows at the nodes whose count lets a
//!   descent continue (`count ≥ limit`), and nowhere else. For windows of at most 256 rows
//!   (the default 250) a node's rows are a 256-bit set and one vectorised comparison of a
//!   column splits them all; larger windows partition lists of row ids. The full splits
//!   (8 bytes per internal node, 6.5 MiB at the default) are read only there, a few dozen
//!   nodes per tree per window.
//!
//! The rows of the previous window are kept too, so that the complete masses (snapshots,
//! `==`) can be counted on demand. A model restored from a snapshot holds the complete
//! counts it was given until they have left both windows.
//!
//! [`HalfSpaceTrees::score_learn_batch`], [`HalfSpaceTrees::score_batch`] and
//! [`HalfSpaceTrees::score_learn_where`] (score each row, learn those a predicate accepts,
//! as guarded learning does) take many rows, bit-identical to row by row: rows until the
//! next window change are scored against the same reference.
//!
//! **Height.** The default is the paper's 15. Faster heights measurably lose accuracy: on a
//! validation split of the NSL-KDD *training* rows (fit on half the normal rows, score the
//! other half plus the training attacks; mean ROC-AUC of 3 seeds, min-max / log1p+min-max
//! features) height 15 gives 0.969 / 0.971, height 12 0.967 / 0.964, height 10 0.961 /
//! 0.963, height 8 0.941 / 0.941.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::{Model, goes_right};

/// Errors from building a model with an unusable configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A parameter lies outside the range the model supports.
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
}

/// Configuration of [`HalfSpaceTrees`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HstConfig {
    /// Number of trees (paper: 25).
    pub trees: usize,
    /// Maximum depth of a tree; a tree has `2^(height+1) − 1` nodes. Paper and default: 15
    /// (see the module documentation for the speed/accuracy trade-off). At most 24.
    pub height: u32,
    /// Window size `ψ` in rows (paper: 250). At most 65 535.
    pub window: usize,
    /// A traversal stops at the first node whose reference mass is below this many rows.
    /// `None` means the paper's `0.1 · window`.
    pub size_limit: Option<f64>,
    /// Seed of the random tree structure.
    pub seed: u64,
}

impl Default for HstConfig {
    fn default() -> Self {
        Self {
            trees: 25,
            height: 15,
            window: 250,
            size_limit: None,
            seed: 0,
        }
    }
}

impl HstConfig {
    /// The size limit in rows, `0.1 · window` unless set.
    pub fn effective_size_limit(&self) -> f64 {
        self.size_limit.unwrap_or(0.1 * self.window as f64)
    }
}

/// Streaming Half-Space Trees; see the module documentation.
///
/// Serialised as [`Snapshot`] (split, reference and latest mass per node in plain arrays),
/// which is validated on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "Snapshot", try_from = "Snapshot")]
pub struct HalfSpaceTrees {
    cfg: HstConfig,
    dims: usize,
    /// Nodes per tree, `2^(height+1) − 1`; internal nodes per tree, `2^height − 1` (they
    /// come first in breadth-first order, the `2^height` leaves after them).
    nodes_per_tree: usize,
    internal_per_tree: usize,
    /// Split of internal node `i` (breadth-first: children of `i` are `2i+1`, `2i+2`) of
    /// tree `t`, at `t * internal_per_tree + i`.
    splits: Vec<Split>,
    /// The rows learned in the current window: the latest mass counts them.
    cur: Window,
    /// The rows of the previous window: the reference mass counts them.
    prev: Window,
    /// What a score reads of the reference mass, built from `prev` when a window closes.
    reference: Reference,
    /// Rows learned in the current window.
    in_window: u32,
    /// Whether a full window has been learned (the reference mass exists).
    warm: bool,
    /// The reference mass is compared as `r < limit`, with `limit = ceil(size_limit)`.
    limit: u32,
    /// `trees · ψ · 2^height`.
    max_mass: f64,
    /// Buffers of [`HalfSpaceTrees::rebuild`], kept to spare allocations.
    scratch: Scratch,
}

/// Split of an internal node: `x[dim] < value` goes left (NaN goes right). Also the
/// serialised form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Split {
    value: f32,
    dim: u32,
}

/// The rows of one window, and counts restored from a snapshot.
#[derive(Debug, Clone, Default)]
struct Window {
    /// Rows column by column: feature `d` of row `j` at `d · window + j` (so the partition
    /// of a node's rows reads one short column). Allocated on first use.
    cols: Vec<f32>,
    /// Rows held.
    rows: usize,
    /// Per-node counts (`t · nodes_per_tree + i`) of rows of this window learned before the
    /// model was restored from a snapshot, which holds them only as counts.
    base: Option<Vec<u16>>,
}

/// A node of a tree's reference: where a descent continues (`child != 0`: split, and the
/// children at `child`, `child + 1`), or where it stops and adds `mass · 2^depth`.
/// Index 0 and 1 of [`Reference::nodes`] are a sink that a stopped descent stays in, adding
/// nothing, so that descents need no per-tree flag.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
struct RefNode {
    value: f32,
    child: u32,
    mass: u32,
    dim: u16,
    depth: u8,
    _pad: u8,
}

const _: () = assert!(size_of::<RefNode>() == 16);

/// Every tree's reference, in one array.
#[derive(Debug, Clone, Default)]
struct Reference {
    /// The sink (0 and 1), then each tree's nodes, breadth-first, children side by side.
    nodes: Vec<RefNode>,
    /// Each tree's root in `nodes`.
    roots: Vec<u32>,
}

/// A node of the reference waiting to be built: its place in [`Reference::nodes`], its
/// breadth-first index in the complete tree, its depth, and its rows.
#[derive(Debug, Clone, Copy)]
struct Job<R> {
    at: u32,
    node: u32,
    depth: u8,
    rows: R,
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Row ids of the nodes of one level of [`Ids`], and of the next.
    ids: Vec<u32>,
    tmp: Vec<u32>,
    queue_ids: Vec<Job<Ids>>,
    queue_bits: Vec<Job<Bits>>,
}

/// The rows of a window at a node, while the reference is built.
trait RowSet: Copy {
    /// The first `n` rows.
    fn all(n: usize) -> Self;
    /// Prepare `scratch` for a tree of a window of `n` rows.
    fn start(scratch: &mut Scratch, n: usize);
    fn len(&self) -> u32;
    /// The rows with `col[row] < value`, and the others (NaN goes right). `depth` is the
    /// node's.
    fn split(self, scratch: &mut Scratch, col: &[f32], value: f32, depth: u8) -> (Self, Self);
    fn queue(scratch: &mut Scratch) -> &mut Vec<Job<Self>>;
}

/// Rows of windows of at most [`BITS`] rows: bit `j` is row `j`.
const BITS: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Bits([u64; BITS / 64]);

impl RowSet for Bits {
    fn all(n: usize) -> Self {
        debug_assert!(n <= BITS);
        Bits(std::array::from_fn(|w| match n.saturating_sub(64 * w) {
            0 => 0,
            k if k >= 64 => u64::MAX,
            k => (1u64 << k) - 1,
        }))
    }

    fn start(_: &mut Scratch, _: usize) {}

    #[inline]
    fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Dense sets compare the whole column at once ([`less_than`]), sparse ones only their
    /// rows.
    #[inline]
    fn split(self, _: &mut Scratch, col: &[f32], value: f32, _: u8) -> (Self, Self) {
        let col: &[f32; BITS] = col[..BITS].try_into().expect("columns of BITS rows");
        let mut less = [0u64; BITS / 64];
        if self.len() >= 32 {
            less = less_than(col, value);
        } else {
            for (w, (m, &rows)) in less.iter_mut().zip(&self.0).enumerate() {
                let mut rest = rows;
                while rest != 0 {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    *m |= u64::from(col[64 * w + b] < value) << b;
                }
            }
        }
        (
            Bits(std::array::from_fn(|w| self.0[w] & less[w])),
            Bits(std::array::from_fn(|w| self.0[w] & !less[w])),
        )
    }

    fn queue(scratch: &mut Scratch) -> &mut Vec<Job<Self>> {
        &mut scratch.queue_bits
    }
}

/// Bit `j` set where `col[j] < value` (NaN: not set).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn less_than(col: &[f32; BITS], value: f32) -> [u64; BITS / 64] {
    // SAFETY: the function needs SSE2, which this build enables (the `cfg` above; every
    // x86_64 processor has it).
    unsafe { less_than_sse2(col, value) }
}

/// [`less_than`] in SSE2: four comparisons of four lanes, packed to sixteen bytes, give
/// sixteen bits in one `movemask`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn less_than_sse2(col: &[f32; BITS], value: f32) -> [u64; BITS / 64] {
    use std::arch::x86_64::{
        _mm_castps_si128, _mm_cmplt_ps, _mm_movemask_epi8, _mm_packs_epi16, _mm_packs_epi32,
        _mm_set1_ps, _mm_setr_ps,
    };
    let v = _mm_set1_ps(value);
    let mut out = [0u64; BITS / 64];
    for (m, c) in out.iter_mut().zip(col.chunks_exact(64)) {
        let mut bits = 0u64;
        for (k, c) in c.chunks_exact(16).enumerate() {
            let lt = |i: usize| {
                _mm_castps_si128(_mm_cmplt_ps(
                    _mm_setr_ps(c[i], c[i + 1], c[i + 2], c[i + 3]),
                    v,
                ))
            };
            let lo = _mm_packs_epi32(lt(0), lt(4));
            let hi = _mm_packs_epi32(lt(8), lt(12));
            let b = _mm_movemask_epi8(_mm_packs_epi16(lo, hi)) as u32;
            bits |= u64::from(b) << (16 * k);
        }
        *m = bits;
    }
    out
}

/// Bit `j` set where `col[j] < value` (NaN: not set).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn less_than(col: &[f32; BITS], value: f32) -> [u64; BITS / 64] {
    let mut out = [0u64; BITS / 64];
    for (m, c) in out.iter_mut().zip(col.chunks_exact(64)) {
        for (b, &x) in c.iter().enumerate() {
            *m |= u64::from(x < value) << b;
        }
    }
    out
}

/// Rows of larger windows: `ids[a..b]` of the level's buffer (`Scratch::ids` at even
/// depths, `Scratch::tmp` at odd ones).
#[derive(Debug, Clone, Copy)]
struct Ids {
    a: u32,
    b: u32,
}

impl RowSet for Ids {
    fn all(n: usize) -> Self {
        Ids { a: 0, b: n as u32 }
    }

    fn start(scratch: &mut Scratch, n: usize) {
        scratch.ids.clear();
        scratch.ids.extend(0..n as u32);
        scratch.tmp.resize(n, 0);
    }

    #[inline]
    fn len(&self) -> u32 {
        self.b - self.a
    }

    fn split(self, scratch: &mut Scratch, col: &[f32], value: f32, depth: u8) -> (Self, Self) {
        let (a, b) = (self.a as usize, self.b as usize);
        let (src, dst) = if depth.is_multiple_of(2) {
            (&scratch.ids[a..b], &mut scratch.tmp[a..b])
        } else {
            (&scratch.tmp[a..b], &mut scratch.ids[a..b])
        };
        let m = self.a + partition(src, dst, col, value) as u32;
        (Ids { a: self.a, b: m }, Ids { a: m, b: self.b })
    }

    fn queue(scratch: &mut Scratch) -> &mut Vec<Job<Self>> {
        &mut scratch.queue_ids
    }
}

/// The serialised form: the field layout of the struct-of-arrays model this replaced, so
/// snapshots stay compatible.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    cfg: HstConfig,
    dims: usize,
    nodes_per_tree: usize,
    internal_per_tree: usize,
    /// Split of internal node `i` of tree `t`, at `t * internal_per_tree + i`.
    splits: Vec<Split>,
    /// Reference mass of node `i` of tree `t`, at `t * nodes_per_tree + i`.
    r: Vec<u16>,
    /// Latest mass, indexed like `r`.
    l: Vec<u16>,
    in_window: u32,
    warm: bool,
    limit: u32,
    max_mass: f64,
}

impl From<HalfSpaceTrees> for Snapshot {
    fn from(m: HalfSpaceTrees) -> Self {
        let r = m.counts(&m.prev);
        let l = m.counts(&m.cur);
        Snapshot {
            cfg: m.cfg,
            dims: m.dims,
            nodes_per_tree: m.nodes_per_tree,
            internal_per_tree: m.internal_per_tree,
            splits: m.splits,
            r,
            l,
            in_window: m.in_window,
            warm: m.warm,
            limit: m.limit,
            max_mass: m.max_mass,
        }
    }
}

impl TryFrom<Snapshot> for HalfSpaceTrees {
    type Error = ConfigError;

    /// Checks everything the model relies on: array sizes, split dimensions, and masses
    /// that rows could have produced (every internal node's mass is the sum of its
    /// children's, the latest mass counts the window's rows so far, no mass exceeds the
    /// window).
    fn try_from(s: Snapshot) -> Result<Self, ConfigError> {
        let mut m = HalfSpaceTrees::empty(s.dims, s.cfg.clone())?;
        let (npt, nint, trees) = (m.nodes_per_tree, m.internal_per_tree, m.cfg.trees);
        if s.nodes_per_tree != npt
            || s.internal_per_tree != nint
            || s.splits.len() != trees * nint
            || s.r.len() != trees * npt
            || s.l.len() != s.r.len()
        {
            return Err(ConfigError::Invalid(
                "snapshot arrays do not fit the configuration",
            ));
        }
        if s.splits.iter().any(|sp| sp.dim as usize >= s.dims) {
            return Err(ConfigError::Invalid(
                "snapshot split dimension out of range",
            ));
        }
        if s.in_window as usize >= m.cfg.window {
            return Err(ConfigError::Invalid(
                "snapshot window position out of range",
            ));
        }
        let window = m.cfg.window;
        for (masses, root) in [(&s.r, None), (&s.l, Some(s.in_window as usize))] {
            for tree in masses.chunks_exact(npt) {
                if usize::from(tree[0]) > window || root.is_some_and(|n| n != usize::from(tree[0]))
                {
                    return Err(ConfigError::Invalid("snapshot mass exceeds the window"));
                }
                if (0..nint).any(|i| {
                    u32::from(tree[i]) != u32::from(tree[2 * i + 1]) + u32::from(tree[2 * i + 2])
                }) {
                    return Err(ConfigError::Invalid(
                        "snapshot masses are not counts of rows",
                    ));
                }
            }
        }
        let nonzero = |v: Vec<u16>| v.iter().any(|&c| c != 0).then_some(v);
        m.splits = s.splits;
        m.prev.base = nonzero(s.r);
        m.cur.base = nonzero(s.l);
        m.in_window = s.in_window;
        m.warm = s.warm;
        m.rebuild();
        Ok(m)
    }
}

impl PartialEq for HalfSpaceTrees {
    /// Same configuration, structure, masses and window position (however the masses are
    /// held).
    fn eq(&self, o: &Self) -> bool {
        self.cfg == o.cfg
            && self.dims == o.dims
            && self.in_window == o.in_window
            && self.warm == o.warm
            && self.splits == o.splits
            && self.counts(&self.prev) == o.counts(&o.prev)
            && self.counts(&self.cur) == o.counts(&o.cur)
    }
}

/// Trees descended together, level by level (more than the default 25 go in several groups).
const GROUP: usize = 32;

impl HalfSpaceTrees {
    /// Build the random trees for rows of `dims` features.
    pub fn new(dims: usize, cfg: HstConfig) -> Result<Self, ConfigError> {
        let mut m = Self::empty(dims, cfg)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(m.cfg.seed);
        let mut lo = vec![0f64; dims];
        let mut hi = vec![0f64; dims];
        let nint = m.internal_per_tree;
        for tree in m.splits.chunks_exact_mut(nint) {
            for d in 0..dims {
                let sq: f64 = rng.random();
                let half = 2.0 * sq.max(1.0 - sq);
                lo[d] = sq - half;
                hi[d] = sq + half;
            }
            build(tree, 0, &mut lo, &mut hi, &mut rng);
        }
        Ok(m)
    }

    /// A model with zero masses and unset splits, after checking the configuration.
    fn empty(dims: usize, cfg: HstConfig) -> Result<Self, ConfigError> {
        if cfg.trees == 0 {
            return Err(ConfigError::Invalid("trees must be at least 1"));
        }
        if cfg.height == 0 || cfg.height > 24 {
            return Err(ConfigError::Invalid("height must be in 1..=24"));
        }
        if cfg.window == 0 || cfg.window > usize::from(u16::MAX) {
            return Err(ConfigError::Invalid("window must be in 1..=65535"));
        }
        if dims == 0 || dims > usize::from(u16::MAX) + 1 {
            return Err(ConfigError::Invalid("dims must be in 1..=65536"));
        }
        let size_limit = cfg.effective_size_limit();
        if size_limit.is_nan() || size_limit < 0.0 {
            return Err(ConfigError::Invalid("size_limit must be non-negative"));
        }
        let nodes_per_tree = (1usize << (cfg.height + 1)) - 1;
        let internal = (1usize << cfg.height) - 1;
        // Integer counts: `r < size_limit` iff `r < ceil(size_limit)`.
        let limit = size_limit.ceil().min(f64::from(u32::MAX)) as u32;
        let max_mass = cfg.trees as f64 * cfg.window as f64 * (1u64 << cfg.height) as f64;
        let mut m = Self {
            splits: vec![Split::default(); cfg.trees * internal],
            cfg,
            dims,
            nodes_per_tree,
            internal_per_tree: internal,
            cur: Window::default(),
            prev: Window::default(),
            reference: Reference::default(),
            in_window: 0,
            warm: false,
            limit,
            max_mass,
            scratch: Scratch::default(),
        };
        m.rebuild();
        Ok(m)
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &HstConfig {
        &self.cfg
    }

    /// Width of the rows the model expects.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Closes the current window now, as if it were full: the rows learned in it become the
    /// reference mass. For a training set smaller than one window (a model that would
    /// otherwise never warm up); masses are then those of a window of that many rows. No-op
    /// at a window boundary.
    pub fn end_window(&mut self) {
        if self.in_window != 0 {
            self.close_window();
        }
    }

    /// Whether a full window has been learned, i.e. scores are meaningful.
    pub fn is_warm(&self) -> bool {
        self.warm
    }

    /// Paper mass `Σ_trees r · 2^depth` of `x` (higher = more normal); 0 before warm-up.
    pub fn mass(&self, x: &[f32]) -> f64 {
        self.mass_of(x) as f64
    }

    /// [`Self::mass`] as an integer: every tree descends its reference, the trees level by
    /// level together so that their dependent loads overlap; descents that stopped drop out
    /// of the next level (no level visits a stopped tree).
    #[inline]
    fn mass_of(&self, x: &[f32]) -> u64 {
        assert_eq!(x.len(), self.dims, "row width differs from the model's");
        let nodes = self.reference.nodes.as_slice();
        let mut total = 0u64;
        for roots in self.reference.roots.chunks(GROUP) {
            let mut lane = [0u32; GROUP];
            lane[..roots.len()].copy_from_slice(roots);
            let mut open = roots.len();
            while open > 0 {
                let mut k = 0;
                for j in 0..open {
                    // SAFETY: `k ≤ j < open ≤ GROUP`, the length of `lane`. A lane holds a
                    // root or a child of an open node, and a node's dimension is below
                    // `dims = x.len()` (the invariants of `Reference`).
                    let n = unsafe { *nodes.get_unchecked(*lane.get_unchecked(j) as usize) };
                    total += u64::from(n.mass) << n.depth;
                    let v = unsafe { *x.get_unchecked(usize::from(n.dim)) };
                    unsafe { *lane.get_unchecked_mut(k) = n.child + goes_right(v, n.value) as u32 };
                    k += usize::from(n.child != 0);
                }
                open = k;
            }
        }
        total
    }

    /// Scores of the rows of `xs` (row-major) against the current reference, into `out`.
    /// Row by row: all trees of one row descend together ([`Self::mass_of`]), which
    /// measured faster than trees taking blocks of rows in turn (fewer instructions per
    /// step, and the references of all trees stay in the L1/L2 caches anyway).
    fn score_rows(&self, xs: &[f32], out: &mut [f64]) {
        debug_assert_eq!(xs.len(), out.len() * self.dims);
        if !self.warm {
            out.fill(0.0);
            return;
        }
        for (x, o) in xs.chunks_exact(self.dims).zip(out.iter_mut()) {
            *o = self.to_score(self.mass_of(x) as f64);
        }
    }

    /// Score then learn each row of `rows` (row-major, `out.len()` rows of [`Self::dims`]
    /// values): exactly (bit for bit) what calling [`Model::score_learn`] on each row in
    /// turn gives, and leaves the model in the same state, only faster.
    pub fn score_learn_batch(&mut self, rows: &[f32], out: &mut [f64]) {
        self.score_learn_where(rows, out, |_, _| true);
    }

    /// Score each row of `rows` (row-major) and learn it if `learn(row index, score)` says
    /// so: exactly (bit for bit, and the model left in the same state) what
    /// [`Model::score`] then, if accepted, [`Model::learn`] on each row in turn gives.
    /// `learn` is called once per row, in order. Rows until the next window change are
    /// scored together; when learning a row closes the window, the rows after it are scored
    /// again against the new reference.
    pub fn score_learn_where(
        &mut self,
        rows: &[f32],
        out: &mut [f64],
        mut learn: impl FnMut(usize, f64) -> bool,
    ) {
        let dims = self.dims;
        assert_eq!(
            rows.len(),
            out.len() * dims,
            "rows and out differ in length"
        );
        let n = out.len();
        let mut at = 0;
        while at < n {
            // Score ahead at most as many rows as could be learned before the window closes
            // (an accepted row closes it at the earliest after that many).
            let ahead = (self.cfg.window - self.in_window as usize)
                .min(n - at)
                .min(256);
            let end = at + ahead;
            self.score_rows(&rows[at * dims..end * dims], &mut out[at..end]);
            let mut next = end;
            for j in at..end {
                if learn(j, out[j]) {
                    self.learn_row(&rows[j * dims..(j + 1) * dims]);
                    if self.in_window == 0 {
                        // This row closed the window: score the rest against the new one.
                        next = j + 1;
                        break;
                    }
                }
            }
            at = next;
        }
    }

    /// Frozen scores of the rows of `rows` (row-major): exactly what [`Model::score`] gives
    /// for each row.
    pub fn score_batch(&self, rows: &[f32], out: &mut [f64]) {
        assert_eq!(
            rows.len(),
            out.len() * self.dims,
            "rows and out differ in length"
        );
        self.score_rows(rows, out);
    }

    #[inline]
    fn to_score(&self, mass: f64) -> f64 {
        1.0 - mass / self.max_mass
    }

    /// Count `x` in the current window: store it; close the window if it is full.
    #[inline]
    fn learn_row(&mut self, x: &[f32]) {
        assert_eq!(x.len(), self.dims, "row width differs from the model's");
        let w = self.cfg.window;
        let stride = self.stride();
        let cur = &mut self.cur;
        if cur.cols.is_empty() {
            cur.cols = vec![0.0; self.dims * stride];
        }
        let j = cur.rows;
        for (col, &v) in cur.cols.chunks_exact_mut(stride).zip(x) {
            col[j] = v;
        }
        cur.rows += 1;
        self.in_window += 1;
        if self.in_window as usize == w {
            self.close_window();
        }
    }

    /// `r ← l`, `l ← 0`: the current window's rows become the reference.
    fn close_window(&mut self) {
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.cur.rows = 0;
        self.cur.base = None;
        self.in_window = 0;
        self.warm = true;
        self.rebuild();
    }

    /// Build [`Self::reference`] from the rows (and restored counts) of `prev`: each tree
    /// top-down, breadth-first, splitting a node's rows at its split only where its count
    /// lets a descent continue (`count ≥ limit`, not a leaf, and not empty: below an empty
    /// node every count is 0, so stopping there adds the same nothing).
    fn rebuild(&mut self) {
        if self.cfg.window <= BITS {
            self.build_reference(Bits::all(self.prev.rows));
        } else {
            self.build_reference(Ids::all(self.prev.rows));
        }
    }

    /// [`Self::rebuild`] with the rows of a node held as `R`.
    fn build_reference<R: RowSet>(&mut self, all: R) {
        let (h, nint, npt, stride, limit) = (
            self.cfg.height as usize,
            self.internal_per_tree,
            self.nodes_per_tree,
            self.stride(),
            self.limit,
        );
        let Self {
            reference,
            prev,
            splits,
            scratch,
            ..
        } = self;
        let sink = RefNode::default();
        reference.nodes.clear();
        reference.nodes.extend([sink; 2]);
        reference.roots.clear();
        let mut queue = std::mem::take(R::queue(scratch));
        for (t, splits) in splits.chunks_exact(nint).enumerate() {
            let base = prev.base.as_deref().map(|b| &b[t * npt..][..npt]);
            R::start(scratch, prev.rows);
            let root = reference.nodes.len() as u32;
            reference.roots.push(root);
            reference.nodes.push(sink);
            queue.clear();
            queue.push(Job {
                at: root,
                node: 0,
                depth: 0,
                rows: all,
            });
            let mut head = 0;
            while let Some(&job) = queue.get(head) {
                head += 1;
                let node = job.node as usize;
                let count = job.rows.len() + base.map_or(0, |c| u32::from(c[node]));
                let depth = job.depth;
                reference.nodes[job.at as usize] =
                    if usize::from(depth) < h && count >= limit && count > 0 {
                        let sp = splits[node];
                        let (left, right) = if job.rows.len() > 0 {
                            let col = &prev.cols[sp.dim as usize * stride..][..stride];
                            job.rows.split(scratch, col, sp.value, depth)
                        } else {
                            (job.rows, job.rows)
                        };
                        let child = reference.nodes.len() as u32;
                        reference.nodes.extend([sink; 2]);
                        let (c, d) = (job.node * 2 + 1, depth + 1);
                        if usize::from(d) < h {
                            // The children's splits are read a level later; most are not cached.
                            prefetch(splits.as_ptr().wrapping_add(c as usize));
                        }
                        queue.extend([
                            Job {
                                at: child,
                                node: c,
                                depth: d,
                                rows: left,
                            },
                            Job {
                                at: child + 1,
                                node: c + 1,
                                depth: d,
                                rows: right,
                            },
                        ]);
                        RefNode {
                            value: sp.value,
                            child,
                            mass: 0,
                            dim: sp.dim as u16,
                            depth,
                            _pad: 0,
                        }
                    } else {
                        RefNode {
                            mass: count,
                            depth,
                            ..sink
                        }
                    };
            }
        }
        *R::queue(scratch) = queue;
    }

    /// Distance between the columns of a [`Window`]: [`BITS`] rows for windows that fit a
    /// [`Bits`] (so every column can be compared whole), else the window; plus one cache
    /// line, so that the columns of a row do not all fall into the same few cache sets.
    fn stride(&self) -> usize {
        self.cfg.window.max(BITS) + 16
    }

    /// The complete masses of window `win` (every node of every tree, `t · nodes_per_tree +
    /// i`, as snapshots hold them): its restored counts plus its rows, each counted at every
    /// node on its path.
    fn counts(&self, win: &Window) -> Vec<u16> {
        let (h, nint, npt, w) = (
            self.cfg.height as usize,
            self.internal_per_tree,
            self.nodes_per_tree,
            self.stride(),
        );
        let mut out = win
            .base
            .clone()
            .unwrap_or_else(|| vec![0; self.cfg.trees * npt]);
        for (splits, c) in self
            .splits
            .chunks_exact(nint)
            .zip(out.chunks_exact_mut(npt))
        {
            for j in 0..win.rows {
                let mut i = 0;
                for _ in 0..h {
                    c[i] += 1;
                    let sp = splits[i];
                    i = 2 * i + 1 + goes_right(win.cols[sp.dim as usize * w + j], sp.value);
                }
                c[i] += 1;
            }
        }
        out
    }
}

/// Write the row ids of `src` to `dst`, those with `col[id] < value` first (as many as
/// returned), the others after them. Branch-free: each id is written both where the next
/// left one goes and where the next right one goes; the side it belongs to keeps it, the
/// other place is overwritten before it is claimed.
#[inline]
fn partition(src: &[u32], dst: &mut [u32], col: &[f32], value: f32) -> usize {
    assert_eq!(src.len(), dst.len());
    let (mut l, mut r) = (0, dst.len());
    for &id in src {
        let right = goes_right(col[id as usize], value);
        // SAFETY: `l < r ≤ dst.len()` while ids remain (`l + dst.len() − r` ids placed).
        unsafe {
            *dst.get_unchecked_mut(l) = id;
            *dst.get_unchecked_mut(r - 1) = id;
        }
        l += 1 - right;
        r -= right;
    }
    l
}

/// Hint the processor to fetch the cache line of `p` (any address: a prefetch never faults).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not access memory architecturally.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Model for HalfSpaceTrees {
    /// `1 − mass / max_mass` in `[0, 1]`; `0.0` before the first window completes. Frozen:
    /// scoring never changes the model.
    fn score(&self, x: &[f32]) -> f64 {
        if !self.warm {
            assert_eq!(x.len(), self.dims, "row width differs from the model's");
            return 0.0;
        }
        self.to_score(self.mass_of(x) as f64)
    }

    fn learn(&mut self, x: &[f32]) {
        self.learn_row(x);
    }

    fn score_learn(&mut self, x: &[f32]) -> f64 {
        let s = self.score(x);
        self.learn_row(x);
        s
    }

    fn name(&self) -> &'static str {
        "hst"
    }
}

/// Fill the internal nodes of the subtree at `i` (the node's range is `lo..hi`).
fn build(
    tree: &mut [Split],
    i: usize,
    lo: &mut [f64],
    hi: &mut [f64],
    rng: &mut Xoshiro256PlusPlus,
) {
    if i >= tree.len() {
        return;
    }
    let d = rng.random_range(0..lo.len());
    let mid = 0.5 * (lo[d] + hi[d]);
    tree[i] = Split {
        value: mid as f32,
        dim: d as u32,
    };
    let saved_hi = hi[d];
    hi[d] = mid;
    build(tree, 2 * i + 1, lo, hi, rng);
    hi[d] = saved_hi;
    let saved_lo = lo[d];
    lo[d] = mid;
    build(tree, 2 * i + 2, lo, hi, rng);
    lo[d] = saved_lo;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of a tight cluster around 0.5 (deterministic, Gaussian-ish via sums of uniforms).
    fn cluster(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                (0..dims)
                    .map(|_| {
                        let s: f32 = (0..4).map(|_| rng.random::<f32>()).sum::<f32>() / 4.0;
                        0.4 + 0.2 * s
                    })
                    .collect()
            })
            .collect()
    }

    fn small() -> HstConfig {
        HstConfig {
            trees: 10,
            height: 8,
            window: 50,
            size_limit: None,
            seed: 7,
        }
    }

    #[test]
    fn rejects_bad_config() {
        let bad = HstConfig {
            window: 0,
            ..HstConfig::default()
        };
        assert!(HalfSpaceTrees::new(4, bad).is_err());
        assert!(HalfSpaceTrees::new(0, HstConfig::default()).is_err());
        let bad = HstConfig {
            height: 0,
            ..HstConfig::default()
        };
        assert!(HalfSpaceTrees::new(4, bad).is_err());
    }

    #[test]
    fn work_ranges_and_splits_follow_the_paper() {
        let m = HalfSpaceTrees::new(3, small()).unwrap();
        // Root split = middle of the work range sq ± 2·max(sq, 1−sq) = sq, so in [0, 1].
        for t in 0..m.cfg.trees {
            let root = m.splits[t * m.internal_per_tree];
            assert!((0.0..=1.0).contains(&root.value));
            assert!((root.dim as usize) < 3);
        }
    }

    #[test]
    fn silent_until_first_window_then_warm() {
        let mut m = HalfSpaceTrees::new(4, small()).unwrap();
        let rows = cluster(50, 4, 1);
        for r in &rows[..49] {
            assert_eq!(m.score_learn(r), 0.0);
        }
        assert!(!m.is_warm());
        m.learn(&rows[49]);
        assert!(m.is_warm());
        assert!(m.score(&rows[0]) < 1.0);
    }

    #[test]
    fn mass_profile_after_first_window() {
        // One tree of height 1, window 4, size limit 0: root r = 4 (stops at depth 1 with the
        // child's count · 2).
        let cfg = HstConfig {
            trees: 1,
            height: 1,
            window: 4,
            size_limit: Some(0.0),
            seed: 3,
        };
        let mut m = HalfSpaceTrees::new(1, cfg).unwrap();
        let split = m.splits[0].value;
        let left = [split - 0.1];
        let right = [split + 0.1];
        for x in [&left, &left, &left, &right] {
            m.learn(x);
        }
        assert_eq!(m.mass(&left), 3.0 * 2.0);
        assert_eq!(m.mass(&right), 2.0);
        assert!(m.score(&right) > m.score(&left));
        // The next window's counts do not affect the reference until it completes.
        for _ in 0..3 {
            m.learn(&right);
        }
        assert_eq!(m.mass(&left), 6.0);
        assert_eq!(m.mass(&right), 2.0);
        m.learn(&right);
        assert_eq!(m.mass(&left), 0.0);
        assert_eq!(m.mass(&right), 8.0);
        for _ in 0..4 {
            m.learn(&left);
        }
        assert_eq!(m.mass(&right), 0.0);
        assert_eq!(m.mass(&left), 8.0);
    }

    #[test]
    fn size_limit_stops_the_descent() {
        let cfg = HstConfig {
            trees: 1,
            height: 1,
            window: 4,
            size_limit: Some(5.0),
            seed: 3,
        };
        let mut m = HalfSpaceTrees::new(1, cfg).unwrap();
        let x = [m.splits[0].value - 0.1];
        for _ in 0..4 {
            m.learn(&x);
        }
        // Root r = 4 < 5: stop at the root, mass = 4 · 2^0.
        assert_eq!(m.mass(&x), 4.0);
    }

    #[test]
    fn fused_score_learn_equals_score_then_learn() {
        let rows = cluster(400, 6, 2);
        let mut a = HalfSpaceTrees::new(6, small()).unwrap();
        let mut b = a.clone();
        for r in &rows {
            let sa = a.score_learn(r);
            let sb = b.score(r);
            b.learn(r);
            assert_eq!(sa.to_bits(), sb.to_bits());
        }
        assert_eq!(a, b);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let rows = cluster(300, 5, 3);
        let run = |seed| {
            let mut m = HalfSpaceTrees::new(5, HstConfig { seed, ..small() }).unwrap();
            rows.iter().map(|r| m.score_learn(r)).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn snapshot_round_trip_gives_identical_scores() {
        let rows = cluster(330, 5, 4);
        let mut m = HalfSpaceTrees::new(5, small()).unwrap();
        for r in &rows[..230] {
            m.learn(r);
        }
        let bytes = postcard::to_allocvec(&m).unwrap();
        let mut back: HalfSpaceTrees = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        for r in &rows[230..] {
            assert_eq!(m.score_learn(r).to_bits(), back.score_learn(r).to_bits());
        }
    }

    /// Row-major rows: a few clusters plus uniform noise, in `[-0.2, 1.2]`.
    fn mixed(n: usize, dims: usize, seed: u64) -> Vec<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let centres: Vec<f32> = (0..3 * dims).map(|_| rng.random()).collect();
        let mut out = Vec::with_capacity(n * dims);
        for _ in 0..n {
            let c = rng.random_range(0..4usize);
            for d in 0..dims {
                out.push(if c == 3 {
                    rng.random::<f32>() * 1.4 - 0.2
                } else {
                    centres[c * dims + d] + 0.1 * (rng.random::<f32>() - 0.5)
                });
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Batched score+learn is bit-identical to row-by-row score+learn, and leaves the
        /// same model, for any chunking and window, across several window changes; batched
        /// frozen scores equal row-by-row frozen scores. Snapshots taken between chunks
        /// (which drop the window-change journal) change nothing either.
        #[test]
        fn batches_equal_row_by_row(
            seed in 0u64..1000,
            dims in 1usize..12,
            trees in 1usize..6,
            height in 1u32..12,
            snapshots in proptest::collection::vec(proptest::bool::ANY, 8),
            window in 1usize..80,
            limit in proptest::option::of(0.0f64..20.0),
            chunks in proptest::collection::vec(0usize..700, 1..8),
        ) {
            let cfg = HstConfig { trees, height, window, size_limit: limit, seed };
            let n: usize = chunks.iter().sum();
            let rows = mixed(n, dims, seed ^ 0x5eed);
            let mut a = HalfSpaceTrees::new(dims, cfg).unwrap();
            let mut b = a.clone();
            let mut start = 0;
            for (&c, &snap) in chunks.iter().zip(&snapshots) {
                if snap {
                    b = postcard::from_bytes(&postcard::to_allocvec(&b).unwrap()).unwrap();
                }
                let xs = &rows[start * dims..(start + c) * dims];
                let mut got = vec![f64::NAN; c];
                b.score_learn_batch(xs, &mut got);
                for (x, g) in xs.chunks_exact(dims).zip(&got) {
                    proptest::prop_assert_eq!(a.score_learn(x).to_bits(), g.to_bits());
                }
                proptest::prop_assert_eq!(&a, &b);
                let mut frozen = vec![f64::NAN; c];
                b.score_batch(xs, &mut frozen);
                for (x, f) in xs.chunks_exact(dims).zip(&frozen) {
                    proptest::prop_assert_eq!(a.score(x).to_bits(), f.to_bits());
                }
                start += c;
            }
        }
    }

    #[test]
    fn batch_at_default_config_equals_row_by_row() {
        let dims = 20;
        let rows = mixed(3000, dims, 9);
        let mut a = HalfSpaceTrees::new(dims, HstConfig::default()).unwrap();
        let mut b = a.clone();
        let mut got = vec![0.0; 1500];
        for half in rows.chunks(1500 * dims) {
            b.score_learn_batch(half, &mut got);
            for (x, g) in half.chunks_exact(dims).zip(&got) {
                assert_eq!(a.score_learn(x).to_bits(), g.to_bits());
            }
        }
        assert_eq!(a, b);
        b.score_batch(&rows[..1500 * dims], &mut got);
        for (x, g) in rows.chunks_exact(dims).zip(&got) {
            assert_eq!(a.score(x).to_bits(), g.to_bits());
        }
    }

    #[test]
    fn far_point_scores_higher_than_cluster() {
        let dims = 8;
        let rows = cluster(1000, dims, 5);
        let mut m = HalfSpaceTrees::new(dims, HstConfig::default()).unwrap();
        for r in &rows {
            m.learn(r);
        }
        let far = vec![0.95f32; dims];
        let s_far = m.score(&far);
        let test = cluster(200, dims, 6);
        let max_in = test.iter().map(|r| m.score(r)).fold(f64::MIN, f64::max);
        assert!(s_far > max_in, "far {s_far} vs cluster max {max_in}");
        // A far point outside [0, 1] as well.
        assert!(m.score(&vec![1.7f32; dims]) > max_in);
    }

    #[test]
    fn end_window_makes_a_short_training_set_the_reference() {
        let dims = 3;
        let rows: Vec<[f32; 3]> = (0..100)
            .map(|i| {
                let v = (i % 10) as f32 / 20.0;
                [v, 0.3 + v / 3.0, 0.5]
            })
            .collect();
        let cfg = |window| HstConfig {
            trees: 5,
            height: 6,
            window,
            size_limit: Some(2.0),
            seed: 9,
        };
        let mut short = HalfSpaceTrees::new(dims, cfg(250)).unwrap();
        let mut exact = HalfSpaceTrees::new(dims, cfg(100)).unwrap();
        for r in &rows {
            short.learn(r);
            exact.learn(r);
        }
        assert!(!short.is_warm());
        assert!(exact.is_warm());
        short.end_window();
        assert!(short.is_warm());
        for probe in [[0.1f32, 0.33, 0.5], [0.9, 0.9, 0.1], [0.45, 0.45, 0.5]] {
            assert_eq!(short.mass(&probe), exact.mass(&probe));
        }
        assert!(short.mass(&[0.1, 0.33, 0.5]) > short.mass(&[0.9, 0.9, 0.1]));
        // Learning continues in whole windows afterwards, and a second call is a no-op.
        short.end_window();
        for r in rows.iter().cycle().take(250) {
            short.learn(r);
        }
        assert!(short.mass(&[0.1, 0.33, 0.5]) > 0.0);
    }

    /// Windows over 256 rows (row sets as lists of ids): batches still equal row by row,
    /// across window changes and a snapshot round trip.
    #[test]
    fn wide_window_batch_equals_row_by_row() {
        let dims = 5;
        let cfg = HstConfig {
            trees: 3,
            height: 14,
            window: 300,
            size_limit: None,
            seed: 4,
        };
        let rows = mixed(1500, dims, 8);
        let mut a = HalfSpaceTrees::new(dims, cfg).unwrap();
        // Rows of windows over `BITS` are split as lists of ids, not bit sets.
        assert!(a.cfg.window > BITS);
        let mut b = a.clone();
        let mut got = vec![0.0; 500];
        for (k, part) in rows.chunks(500 * dims).enumerate() {
            if k == 1 {
                b = postcard::from_bytes(&postcard::to_allocvec(&b).unwrap()).unwrap();
            }
            b.score_learn_batch(part, &mut got);
            for (x, g) in part.chunks_exact(dims).zip(&got) {
                assert_eq!(a.score_learn(x).to_bits(), g.to_bits());
            }
            assert_eq!(a, b);
        }
        assert!(a.is_warm());
    }

    /// The paper's model kept the plain way, as the semantics the fast one must match bit
    /// for bit: both masses at every node of complete trees, the reference read along the
    /// path, every learned row counted on its whole path, masses swapped at window ends.
    struct Naive {
        splits: Vec<Split>,
        r: Vec<u32>,
        l: Vec<u32>,
        h: usize,
        nint: usize,
        npt: usize,
        window: usize,
        limit: u32,
        in_window: usize,
        warm: bool,
        max_mass: f64,
    }

    impl Naive {
        /// The same trees and masses as `m` (read from its snapshot).
        fn of(m: &HalfSpaceTrees) -> Naive {
            let s = Snapshot::from(m.clone());
            Naive {
                splits: s.splits,
                r: s.r.iter().map(|&c| u32::from(c)).collect(),
                l: s.l.iter().map(|&c| u32::from(c)).collect(),
                h: s.cfg.height as usize,
                nint: s.internal_per_tree,
                npt: s.nodes_per_tree,
                window: s.cfg.window,
                limit: s.limit,
                in_window: s.in_window as usize,
                warm: s.warm,
                max_mass: s.max_mass,
            }
        }

        fn child(&self, t: usize, i: usize, x: &[f32]) -> usize {
            let sp = self.splits[t * self.nint + i];
            2 * i + 1 + goes_right(x[sp.dim as usize], sp.value)
        }

        fn mass(&self, x: &[f32]) -> f64 {
            let mut total = 0u64;
            for t in 0..self.splits.len() / self.nint {
                let mut i = 0;
                for d in 0..=self.h {
                    let r = self.r[t * self.npt + i];
                    if r < self.limit || d == self.h {
                        total += u64::from(r) << d;
                        break;
                    }
                    i = self.child(t, i, x);
                }
            }
            total as f64
        }

        fn score(&self, x: &[f32]) -> f64 {
            if self.warm {
                1.0 - self.mass(x) / self.max_mass
            } else {
                0.0
            }
        }

        fn learn(&mut self, x: &[f32]) {
            for t in 0..self.splits.len() / self.nint {
                let mut i = 0;
                for d in 0..=self.h {
                    self.l[t * self.npt + i] += 1;
                    if d < self.h {
                        i = self.child(t, i, x);
                    }
                }
            }
            self.in_window += 1;
            if self.in_window == self.window {
                self.end_window();
            }
        }

        fn end_window(&mut self) {
            if self.in_window > 0 {
                self.r = std::mem::replace(&mut self.l, vec![0; self.r.len()]);
                self.in_window = 0;
                self.warm = true;
            }
        }

        /// Same masses and window position as `m`.
        fn matches(&self, m: &HalfSpaceTrees) -> bool {
            let s = Snapshot::from(m.clone());
            let wide = |v: &[u16]| v.iter().map(|&c| u32::from(c)).collect::<Vec<_>>();
            wide(&s.r) == self.r
                && wide(&s.l) == self.l
                && s.in_window as usize == self.in_window
                && s.warm == self.warm
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Every entry point of the model gives, bit for bit, what the plain model gives,
        /// for any mix of calls: single rows, batches, guarded batches (learning rows a
        /// predicate picks), windows ended early, snapshot round trips; over windows with
        /// row sets as bits (≤ 256 rows) and as id lists, and any size limit (0 included).
        #[test]
        fn equals_the_plain_model(
            seed in 0u64..1000,
            dims in 1usize..10,
            trees in 1usize..5,
            height in 1u32..10,
            window in proptest::prop_oneof![1usize..60, 240usize..300],
            limit in proptest::option::of(0.0f64..12.0),
            ops in proptest::collection::vec((0u8..7, 1usize..400), 1..12),
        ) {
            let cfg = HstConfig { trees, height, window, size_limit: limit, seed };
            let n: usize = ops.iter().map(|o| o.1).sum();
            let rows = mixed(n, dims, seed ^ 0xbead);
            let mut m = HalfSpaceTrees::new(dims, cfg).unwrap();
            let mut p = Naive::of(&m);
            let mut at = 0;
            for (op, len) in ops {
                let xs = &rows[at * dims..(at + len) * dims];
                at += len;
                let mut out = vec![f64::NAN; len];
                match op {
                    0 => for x in xs.chunks_exact(dims) {
                        let s = p.score(x);
                        p.learn(x);
                        proptest::prop_assert_eq!(m.score_learn(x).to_bits(), s.to_bits());
                    },
                    1 => {
                        m.score_learn_batch(xs, &mut out);
                        for (x, o) in xs.chunks_exact(dims).zip(&out) {
                            proptest::prop_assert_eq!(o.to_bits(), p.score(x).to_bits());
                            p.learn(x);
                        }
                    }
                    2 => {
                        // Learn rows scoring at most the median of a fixed probe (or every
                        // third row before warm-up), as guarded learning does.
                        let cut = if p.warm { p.score(&rows[..dims]) } else { -1.0 };
                        let mut asked = 0;
                        m.score_learn_where(xs, &mut out, |j, s| {
                            asked += 1;
                            assert_eq!(j + 1, asked);
                            s <= cut || (cut < 0.0 && j % 3 == 0)
                        });
                        proptest::prop_assert_eq!(asked, len);
                        for (j, (x, o)) in xs.chunks_exact(dims).zip(&out).enumerate() {
                            let s = p.score(x);
                            proptest::prop_assert_eq!(o.to_bits(), s.to_bits());
                            if s <= cut || (cut < 0.0 && j % 3 == 0) {
                                p.learn(x);
                            }
                        }
                    }
                    3 => {
                        m.score_batch(xs, &mut out);
                        for (x, o) in xs.chunks_exact(dims).zip(&out) {
                            proptest::prop_assert_eq!(o.to_bits(), p.score(x).to_bits());
                            proptest::prop_assert_eq!(m.mass(x).to_bits(), p.mass(x).to_bits());
                        }
                    }
                    4 => for x in xs.chunks_exact(dims) {
                        m.learn(x);
                        p.learn(x);
                    },
                    5 => {
                        m.end_window();
                        p.end_window();
                    }
                    _ => {
                        m = postcard::from_bytes(&postcard::to_allocvec(&m).unwrap()).unwrap();
                    }
                }
                proptest::prop_assert!(p.matches(&m));
            }
        }
    }

    #[test]
    fn corrupt_masses_are_refused() {
        let rows = cluster(120, 3, 8);
        let mut m = HalfSpaceTrees::new(3, small()).unwrap();
        for r in &rows {
            m.learn(r);
        }
        let good = Snapshot::from(m.clone());
        assert!(
            HalfSpaceTrees::try_from(Snapshot {
                ..clone_snapshot(&good)
            })
            .is_ok()
        );
        // A node whose mass is not the sum of its children's.
        let mut bad = clone_snapshot(&good);
        bad.r[1] += 1;
        assert!(HalfSpaceTrees::try_from(bad).is_err());
        // A latest mass that does not count the window's rows so far.
        let mut bad = clone_snapshot(&good);
        bad.in_window += 1;
        assert!(HalfSpaceTrees::try_from(bad).is_err());
        // More than a window.
        let mut bad = clone_snapshot(&good);
        bad.r[0] = 51;
        bad.r[1] += 51 - good.r[0];
        assert!(HalfSpaceTrees::try_from(bad).is_err());
    }

    fn clone_snapshot(s: &Snapshot) -> Snapshot {
        Snapshot {
            cfg: s.cfg.clone(),
            dims: s.dims,
            nodes_per_tree: s.nodes_per_tree,
            internal_per_tree: s.internal_per_tree,
            splits: s.splits.clone(),
            r: s.r.clone(),
            l: s.l.clone(),
            in_window: s.in_window,
            warm: s.warm,
            limit: s.limit,
            max_mass: s.max_mass,
        }
    }
}
