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
//! **Speed.** Each tree is a complete binary tree (children of `i` are `2i+1`, `2i+2`). An
//! internal node is one record: split value, split dimension and both masses, so a visit
//! touches one cache line; leaves keep only their two masses. A mass never exceeds the
//! window, so with `window ≤ 255` (the default 250) masses are `u8` and a node takes 8
//! bytes (the model about 8 MiB at the default, one tree 320 KiB, inside a core's L2);
//! larger windows (up to 65 535) use `u16` masses and 16-byte nodes. Snapshots are the same
//! bytes either way. Which of the two masses is `l` is a flag: the window change flips it and clears
//! the new `l` only on the paths of the rows of the window before (a journal of the leaves
//! they reached; the top levels wholesale), not all 2^(height+1) nodes. Nodes sit in 64-byte
//! lines with one unused place per tree, so the eight great-grandchildren of a node share a
//! line (the four grandchildren, with 16-byte nodes).
//!
//! [`Model::score_learn`] takes one row: all trees descend level by level together, which
//! overlaps their cache misses. [`HalfSpaceTrees::score_learn_batch`] and
//! [`HalfSpaceTrees::score_batch`] take many rows, bit-identical to row by row and several
//! times faster: trees are independent and the reference mass of a tree changes only at
//! window ends, which fall after the same rows in every tree, so each tree can take the
//! whole batch in turn (its window changes included) while its nodes stay in L2, with
//! groups of 8 rows descending together, each prefetching the line a few levels below it.
//! Throughput, one core, default configuration, 80 features (`examples/hst_speed.rs`;
//! median–best of repeated runs on a shared 2-core machine, so only indicative):
//! score+learn 0.42–0.49 M rows/s row by row, 0.84–0.93 M batched (16-byte nodes:
//! 0.39–0.40 M and 0.62–0.80 M; struct-of-arrays counts and a full memset per window:
//! 0.2–0.29 M); frozen score 0.8–0.91 M row by row, 0.85–1.16 M batched (16-byte nodes:
//! 0.67–0.80 M and 0.91–1.16 M). Fusing the mass updates into the batched descent (one
//! pass instead of descend then walk) measured slower, as did 16 rows a group.
//!
//! **Height.** The default is the paper's 15. Faster heights measurably lose accuracy: on a
//! validation split of the NSL-KDD *training* rows (fit on half the normal rows, score the
//! other half plus the training attacks; mean ROC-AUC of 3 seeds, min-max / log1p+min-max
//! features) height 15 gives 0.969 / 0.971, height 12 0.967 / 0.964, height 10 0.961 /
//! 0.963, height 8 0.941 / 0.941. Lower heights are faster (fewer levels, and the trees fit
//! the caches); choose `height: 8` where throughput matters more than the last few points
//! of AUC.

use std::fmt::Debug;

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
    /// Window size `ψ` in rows (paper: 250). At most 65 535 (counts are 16-bit; 8-bit, and
    /// the model half the size, up to 255).
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
    /// Nodes and leaves, with 8-bit masses when the window allows it, else 16-bit.
    store: Store,
    /// Which of the two masses of every node is the latest mass `l`; the other is the
    /// reference mass `r`. A window change flips it and clears the new `l`.
    cur: usize,
    /// Rows learned in the current window.
    in_window: u32,
    /// Whether a full window has been learned (the reference mass exists).
    warm: bool,
    /// The reference mass is compared as `r < limit`, with `limit = ceil(size_limit)`.
    limit: u32,
    /// `trees · ψ · 2^height`.
    max_mass: f64,
    /// Leaves reached in the current and previous window, to clear only the touched paths
    /// at a window change. A cache: not serialised, ignored by `==`.
    journal: Journal,
}

/// A mass count: `u8` when the window is at most 255 rows (a mass never exceeds the
/// window), `u16` otherwise.
trait Mass: Copy + Default + PartialEq + Debug {
    fn get(self) -> u32;
    fn inc(&mut self);
    /// From a serialised count that fits (checked on deserialisation).
    fn from_u16(v: u16) -> Self;
    fn to_u16(self) -> u16;
}

impl Mass for u8 {
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn inc(&mut self) {
        *self += 1;
    }
    fn from_u16(v: u16) -> Self {
        v as u8
    }
    fn to_u16(self) -> u16 {
        u16::from(self)
    }
}

impl Mass for u16 {
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn inc(&mut self) {
        *self += 1;
    }
    fn from_u16(v: u16) -> Self {
        v
    }
    fn to_u16(self) -> u16 {
        self
    }
}

/// An internal node: split `x[dim] < value` goes left (NaN goes right), and the two masses
/// (see [`HalfSpaceTrees::cur`]), in one record so that a visit touches one cache line for
/// the structure and the counts together. `2^AHEAD` records fill a 64-byte line.
///
/// Implemented only by [`Node`] and [`Node8`]: `repr(C)` plain data without padding bytes
/// (every bit pattern is a valid value), whose size divides 64.
trait Rec: Copy + Default + Debug {
    type M: Mass;
    /// `log2` of the records per line: the `2^AHEAD` descendants of node `i` that lie
    /// `AHEAD` levels below it fill exactly one line (see [`Line`]).
    const AHEAD: usize;
    fn make(value: f32, dim: u32, mass: [u16; 2]) -> Self;
    fn value(&self) -> f32;
    fn dim(&self) -> usize;
    fn mass(&self) -> &[Self::M; 2];
    fn mass_mut(&mut self) -> &mut [Self::M; 2];
}

/// 16-byte node, 16-bit masses (windows over 255 rows).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(16))]
struct Node {
    value: f32,
    dim: u32,
    mass: [u16; 2],
    _pad: u32,
}

/// 8-byte node, 8-bit masses (windows of at most 255 rows, the default 250): half the
/// memory of [`Node`], eight nodes a line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(8))]
struct Node8 {
    value: f32,
    /// `dims ≤ 65 536`, so a dimension fits.
    dim: u16,
    mass: [u8; 2],
}

const _: () = assert!(size_of::<Node>() == 16 && size_of::<Node8>() == 8);

impl Rec for Node {
    type M = u16;
    const AHEAD: usize = 2;
    #[inline(always)]
    fn make(value: f32, dim: u32, mass: [u16; 2]) -> Self {
        Node {
            value,
            dim,
            mass,
            _pad: 0,
        }
    }
    #[inline(always)]
    fn value(&self) -> f32 {
        self.value
    }
    #[inline(always)]
    fn dim(&self) -> usize {
        self.dim as usize
    }
    #[inline(always)]
    fn mass(&self) -> &[u16; 2] {
        &self.mass
    }
    #[inline(always)]
    fn mass_mut(&mut self) -> &mut [u16; 2] {
        &mut self.mass
    }
}

impl Rec for Node8 {
    type M = u8;
    const AHEAD: usize = 3;
    #[inline(always)]
    fn make(value: f32, dim: u32, mass: [u16; 2]) -> Self {
        Node8 {
            value,
            dim: dim as u16,
            mass: mass.map(u8::from_u16),
        }
    }
    #[inline(always)]
    fn value(&self) -> f32 {
        self.value
    }
    #[inline(always)]
    fn dim(&self) -> usize {
        usize::from(self.dim)
    }
    #[inline(always)]
    fn mass(&self) -> &[u8; 2] {
        &self.mass
    }
    #[inline(always)]
    fn mass_mut(&mut self) -> &mut [u8; 2] {
        &mut self.mass
    }
}

/// 64 bytes, 64-byte aligned: four [`Node`]s or eight [`Node8`]s. Each tree takes
/// `2^height` node places, the first unused, so node `i` sits at place `1 + i` and the
/// descendants of node `i` `AHEAD` levels down (`2^AHEAD · (i + 1) − 1 ..`) fill exactly
/// one line: the batch descent fetches it that many levels ahead.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// The nodes of `lines`, flat.
fn flat<N: Rec>(lines: &[Line]) -> &[N] {
    const { assert!(64 % size_of::<N>() == 0 && align_of::<N>() <= 64) };
    // SAFETY: `Line` is 64 bytes of plain data, 64-byte aligned; `N` is plain data without
    // padding (see `Rec`), its size divides 64 and its alignment divides 64.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast(), lines.len() * 64 / size_of::<N>()) }
}

/// The nodes of `lines`, flat and mutable.
fn flat_mut<N: Rec>(lines: &mut [Line]) -> &mut [N] {
    const { assert!(64 % size_of::<N>() == 0 && align_of::<N>() <= 64) };
    // SAFETY: as in `flat` (writing an `N` leaves no uninitialised bytes: no padding); the
    // borrow is exclusive.
    unsafe {
        std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * 64 / size_of::<N>())
    }
}

/// Every tree's internal nodes and leaves for one node type.
#[derive(Debug, Clone)]
struct Arrays<N: Rec> {
    /// Internal nodes, as 64-byte lines: node `i` of tree `t` at place `t · 2^height + 1 + i`
    /// (see [`Line`]).
    lines: Vec<Line>,
    /// Both masses of leaf `i` (node `internal_per_tree + i`) of tree `t`, at
    /// `t * (internal_per_tree + 1) + i`.
    leaves: Vec<[N::M; 2]>,
}

/// The model's arrays: 8-bit masses when `window ≤ 255`, else 16-bit.
#[derive(Debug, Clone)]
enum Store {
    Narrow(Arrays<Node8>),
    Wide(Arrays<Node>),
}

/// Evaluate `$body` with `$a` bound to the [`Arrays`] inside `$store`, whichever type.
macro_rules! dispatch {
    ($store:expr, $a:ident => $body:expr) => {
        match $store {
            Store::Narrow($a) => $body,
            Store::Wide($a) => $body,
        }
    };
}

/// Split of an internal node, as serialised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Split {
    value: f32,
    dim: u32,
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

impl<N: Rec> Arrays<N> {
    /// Zeroed arrays for `trees` trees of `nint` internal nodes.
    fn new(trees: usize, nint: usize) -> Self {
        let places = (nint + 1) * trees;
        Arrays {
            lines: vec![Line::default(); places.div_ceil(1 << N::AHEAD) + 1],
            leaves: vec![[N::M::default(); 2]; places],
        }
    }

    /// Every tree's node places (`2^height` each, see [`Line`]).
    fn all(&self, trees: usize, nint: usize) -> &[N] {
        &flat(&self.lines)[..trees * (nint + 1)]
    }

    /// Internal nodes and leaves of tree `t`.
    fn tree(&self, t: usize, nint: usize) -> (&[N], &[[N::M; 2]]) {
        (
            &flat(&self.lines)[t * (nint + 1) + 1..][..nint],
            &self.leaves[t * (nint + 1)..][..nint + 1],
        )
    }

    /// Internal nodes and leaves of tree `t`, mutable.
    fn tree_mut(&mut self, t: usize, nint: usize) -> (&mut [N], &mut [[N::M; 2]]) {
        (
            &mut flat_mut(&mut self.lines)[t * (nint + 1) + 1..][..nint],
            &mut self.leaves[t * (nint + 1)..][..nint + 1],
        )
    }

    /// Splits (internal nodes, tree by tree) and reference and latest masses (all nodes,
    /// tree by tree), as serialised; slot `cur` holds the latest mass.
    fn export(&self, trees: usize, nint: usize, cur: usize) -> (Vec<Split>, Vec<u16>, Vec<u16>) {
        let mut r = Vec::with_capacity(trees * (2 * nint + 1));
        let mut l = Vec::with_capacity(r.capacity());
        let mut splits = Vec::with_capacity(trees * nint);
        for t in 0..trees {
            let (nodes, leaves) = self.tree(t, nint);
            let masses = nodes
                .iter()
                .map(|n| *n.mass())
                .chain(leaves.iter().copied());
            for mass in masses {
                r.push(mass[1 - cur].to_u16());
                l.push(mass[cur].to_u16());
            }
            splits.extend(nodes.iter().map(|n| Split {
                value: n.value(),
                dim: n.dim() as u32,
            }));
        }
        (splits, r, l)
    }

    /// Fill from serialised arrays (lengths checked), the latest mass in slot 0.
    fn import(&mut self, trees: usize, nint: usize, s: &Snapshot) {
        let npt = 2 * nint + 1;
        for t in 0..trees {
            let (nodes, leaves) = self.tree_mut(t, nint);
            let (r, l) = (&s.r[t * npt..][..npt], &s.l[t * npt..][..npt]);
            for (i, n) in nodes.iter_mut().enumerate() {
                let sp = s.splits[t * nint + i];
                *n = N::make(sp.value, sp.dim, [l[i], r[i]]);
            }
            for (i, leaf) in leaves.iter_mut().enumerate() {
                *leaf = [N::M::from_u16(l[nint + i]), N::M::from_u16(r[nint + i])];
            }
        }
    }

    /// Same splits and masses, slot `a` here holding what slot `b` holds in `o`.
    fn same(&self, o: &Self, trees: usize, nint: usize, a: usize, b: usize) -> bool {
        self.lines.len() == o.lines.len()
            && self.leaves.len() == o.leaves.len()
            && self
                .all(trees, nint)
                .iter()
                .zip(o.all(trees, nint))
                .all(|(x, y)| {
                    x.value() == y.value()
                        && x.dim() == y.dim()
                        && x.mass()[a] == y.mass()[b]
                        && x.mass()[1 - a] == y.mass()[1 - b]
                })
            && self
                .leaves
                .iter()
                .zip(&o.leaves)
                .all(|(x, y)| x[a] == y[b] && x[1 - a] == y[1 - b])
    }
}

impl From<HalfSpaceTrees> for Snapshot {
    fn from(m: HalfSpaceTrees) -> Self {
        let (trees, nint, cur) = (m.cfg.trees, m.internal_per_tree, m.cur);
        let (splits, r, l) = dispatch!(&m.store, a => a.export(trees, nint, cur));
        Snapshot {
            cfg: m.cfg,
            dims: m.dims,
            nodes_per_tree: m.nodes_per_tree,
            internal_per_tree: m.internal_per_tree,
            splits,
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

    /// Checks everything the unchecked descents rely on.
    fn try_from(s: Snapshot) -> Result<Self, ConfigError> {
        let mut m = HalfSpaceTrees::empty(s.dims, s.cfg.clone())?;
        let (npt, nint) = (m.nodes_per_tree, m.internal_per_tree);
        if s.nodes_per_tree != npt
            || s.internal_per_tree != nint
            || s.splits.len() != m.cfg.trees * nint
            || s.r.len() != m.cfg.trees * npt
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
        if matches!(m.store, Store::Narrow(_))
            && s.r.iter().chain(&s.l).any(|&c| c > u16::from(u8::MAX))
        {
            return Err(ConfigError::Invalid("snapshot mass exceeds the window"));
        }
        let trees = m.cfg.trees;
        dispatch!(&mut m.store, a => a.import(trees, nint, &s));
        m.in_window = s.in_window;
        m.warm = s.warm;
        Ok(m)
    }
}

impl PartialEq for HalfSpaceTrees {
    /// Same configuration, structure, masses and window position (whichever slot holds
    /// which mass).
    fn eq(&self, o: &Self) -> bool {
        let (a, b) = (self.cur, o.cur);
        let (trees, nint) = (self.cfg.trees, self.internal_per_tree);
        self.cfg == o.cfg
            && self.dims == o.dims
            && self.in_window == o.in_window
            && self.warm == o.warm
            && match (&self.store, &o.store) {
                (Store::Narrow(x), Store::Narrow(y)) => x.same(y, trees, nint, a, b),
                (Store::Wide(x), Store::Wide(y)) => x.same(y, trees, nint, a, b),
                _ => false,
            }
    }
}

/// The leaf each learned row reached in each tree (its breadth-first node index), for the
/// current and the previous window (`tree * window + position`). The masses of a window
/// are non-zero exactly on the paths to these leaves, so a window change clears those paths
/// (and the top levels wholesale) instead of every node: ~16 stores per row and tree instead
/// of ~13 KiB per row at the default. Used only where that is cheaper
/// (`window · (height + 1) · 4 ≤ nodes per tree`).
#[derive(Debug, Clone, Default)]
struct Journal {
    cur: Vec<u32>,
    prev: Vec<u32>,
    /// `cur` holds every row of the current window so far.
    cur_ok: bool,
    /// `prev` holds every row of the previous window (so the reference mass is non-zero
    /// only on their paths).
    prev_ok: bool,
}

/// Trees descended together, level by level (more than the default 25 go in several groups).
const GROUP: usize = 32;

impl HalfSpaceTrees {
    /// Build the random trees for rows of `dims` features.
    pub fn new(dims: usize, cfg: HstConfig) -> Result<Self, ConfigError> {
        let mut m = Self::empty(dims, cfg)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(m.cfg.seed);
        let mut splits = vec![Split::default(); m.internal_per_tree];
        let mut lo = vec![0f64; dims];
        let mut hi = vec![0f64; dims];
        let (trees, nint) = (m.cfg.trees, m.internal_per_tree);
        for t in 0..trees {
            for d in 0..dims {
                let sq: f64 = rng.random();
                let half = 2.0 * sq.max(1.0 - sq);
                lo[d] = sq - half;
                hi[d] = sq + half;
            }
            build(&mut splits, 0, &mut lo, &mut hi, &mut rng);
            dispatch!(&mut m.store, a => {
                for (n, sp) in a.tree_mut(t, nint).0.iter_mut().zip(&splits) {
                    *n = Rec::make(sp.value, sp.dim, [0, 0]);
                }
            });
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
        // A mass counts rows of one window, so never exceeds it.
        let store = if cfg.window <= usize::from(u8::MAX) {
            Store::Narrow(Arrays::new(cfg.trees, internal))
        } else {
            Store::Wide(Arrays::new(cfg.trees, internal))
        };
        Ok(Self {
            store,
            cur: 0,
            cfg,
            dims,
            nodes_per_tree,
            internal_per_tree: internal,
            in_window: 0,
            warm: false,
            limit,
            max_mass,
            journal: Journal::default(),
        })
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
        if self.in_window == 0 {
            return;
        }
        self.ready_journal();
        // Positions not filled in this window hold older leaves in the journal; clearing
        // their paths later only clears slots that are being reset anyway.
        self.in_window = (self.cfg.window - 1) as u32;
        self.tick();
    }

    /// Whether a full window has been learned, i.e. scores are meaningful.
    pub fn is_warm(&self) -> bool {
        self.warm
    }

    /// Every tree's node places' splits (`2^height` each, see [`Line`]), for tests.
    #[cfg(test)]
    fn all_nodes(&self) -> Vec<Split> {
        let (trees, nint) = (self.cfg.trees, self.internal_per_tree);
        dispatch!(&self.store, a => a
            .all(trees, nint)
            .iter()
            .map(|n| Split {
                value: n.value(),
                dim: n.dim() as u32,
            })
            .collect())
    }

    /// Paper mass `Σ_trees r · 2^depth` of `x` (higher = more normal); 0 before warm-up.
    /// Trees go level by level, as in learning, so their dependent loads overlap; a tree
    /// stays at its stop node once stopped.
    pub fn mass(&self, x: &[f32]) -> f64 {
        assert_eq!(x.len(), self.dims, "row width differs from the model's");
        dispatch!(&self.store, a => self.mass_in(a, x))
    }

    /// [`Self::mass`] on the arrays `a`.
    fn mass_in<N: Rec>(&self, a: &Arrays<N>, x: &[f32]) -> f64 {
        let h = self.cfg.height as usize;
        let nint = self.internal_per_tree;
        let (rf, limit, trees) = (1 - self.cur, self.limit, self.cfg.trees);
        let (nodes, leaves) = (a.all(trees, nint), a.leaves.as_slice());
        assert!(nodes.len() == trees * (nint + 1) && leaves.len() == trees * (nint + 1));
        let mut total: u64 = 0;
        let mut first = 0;
        while first < trees {
            let k = (trees - first).min(GROUP);
            let mut idx = [0usize; GROUP];
            let mut open = [true; GROUP];
            let mut depth = 0;
            while depth < h {
                let mut any = false;
                for t in 0..k {
                    let i = idx[t];
                    // SAFETY: `i < nint` is an internal node of tree `first + t < trees`
                    // (fewer than `h` steps from the root, or a stopped tree's stop node);
                    // lengths asserted above; split dimensions are `< dims`, as in
                    // `descend`.
                    unsafe {
                        let n = nodes.get_unchecked((first + t) * (nint + 1) + 1 + i);
                        let m = n.mass()[rf].get();
                        let stop = open[t] & (m < limit);
                        total += u64::from(u32::from(stop) * m) << depth;
                        open[t] &= !stop;
                        any |= open[t];
                        let v = *x.get_unchecked(n.dim());
                        let child = 2 * i + 1 + goes_right(v, n.value());
                        idx[t] = if open[t] { child } else { i };
                    }
                }
                if !any {
                    break;
                }
                depth += 1;
            }
            if depth == h {
                for t in 0..k {
                    if open[t] {
                        let leaf = leaves[(first + t) * (nint + 1) + idx[t] - nint];
                        total += u64::from(leaf[rf].get()) << h;
                    }
                }
            }
            first += k;
        }
        total as f64
    }

    /// Score then learn each row of `rows` (row-major, `out.len()` rows of [`Self::dims`]
    /// values): exactly (bit for bit) what calling [`Model::score_learn`] on each row in
    /// turn gives, and leaves the model in the same state, only faster.
    ///
    /// Rows go tree by tree (see the module documentation), so pass many rows at a time:
    /// a few hundred to a few thousand.
    pub fn score_learn_batch(&mut self, rows: &[f32], out: &mut [f64]) {
        assert_eq!(
            rows.len(),
            out.len() * self.dims,
            "rows and out differ in length"
        );
        let mut acc = vec![0u64; BLOCK.min(out.len())];
        for (xs, o) in rows.chunks(BLOCK * self.dims).zip(out.chunks_mut(BLOCK)) {
            self.block_score_learn(xs, o, &mut acc[..o.len()]);
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
        if !self.warm {
            out.fill(0.0);
            return;
        }
        let mut acc = vec![0u64; BLOCK.min(out.len())];
        let nint = self.internal_per_tree;
        let tree = Tree {
            height: self.cfg.height,
            limit: self.limit,
        };
        for (xs, o) in rows.chunks(BLOCK * self.dims).zip(out.chunks_mut(BLOCK)) {
            let acc = &mut acc[..o.len()];
            acc.fill(0);
            for t in 0..self.cfg.trees {
                dispatch!(&self.store, a => {
                    let (nodes, leaves) = a.tree(t, nint);
                    tree.score(nodes, leaves, 1 - self.cur, xs, self.dims, acc);
                });
            }
            for (o, &m) in o.iter_mut().zip(acc.iter()) {
                *o = self.to_score(m as f64);
            }
        }
    }

    /// [`Self::score_learn_batch`] on at most [`BLOCK`] rows: each tree in turn takes all
    /// the rows, closing its own windows on the way. Trees are independent and every tree
    /// closes its windows after the same rows, so this is the row-by-row result.
    fn block_score_learn(&mut self, xs: &[f32], out: &mut [f64], acc: &mut [u64]) {
        let n = out.len();
        let window = self.cfg.window;
        acc.fill(0);
        self.ready_journal();
        let start = self.in_window as usize;
        // Rows until the current window closes; row `first_end - 1` closes it.
        let first_end = window - start;
        let closes = if n >= first_end {
            1 + (n - first_end) / window
        } else {
            0
        };
        let pass = Pass {
            tree: Tree {
                height: self.cfg.height,
                limit: self.limit,
            },
            trees: self.cfg.trees,
            nint: self.internal_per_tree,
            window,
            start,
            cur: self.cur,
            dims: self.dims,
        };
        let journal = &mut self.journal;
        dispatch!(&mut self.store, a => pass.run(a, journal, xs, acc));
        if closes % 2 == 1 {
            self.cur = 1 - self.cur;
            std::mem::swap(&mut self.journal.cur, &mut self.journal.prev);
        }
        for (j, (o, &m)) in out.iter_mut().zip(acc.iter()).enumerate() {
            // Warm for row j if a window had closed before it.
            *o = if self.warm || j >= first_end {
                self.to_score(m as f64)
            } else {
                0.0
            };
        }
        self.in_window = ((start + n) % window) as u32;
        self.warm |= closes > 0;
    }

    #[inline]
    fn to_score(&self, mass: f64) -> f64 {
        1.0 - mass / self.max_mass
    }

    /// Whether window changes clear the journalled paths rather than every node.
    fn uses_journal(&self) -> bool {
        self.cfg.window * (self.cfg.height as usize + 1) * 4 <= self.nodes_per_tree
    }

    /// Make the journal ready for recording the current window (after construction or
    /// deserialisation it is empty; it then covers windows from the next one on).
    fn ready_journal(&mut self) {
        let len = self.cfg.trees * self.cfg.window;
        if self.uses_journal() && self.journal.cur.len() != len {
            // Any leaf will do for rows not recorded yet: their paths are only cleared.
            let leaf = self.internal_per_tree as u32;
            self.journal = Journal {
                cur: vec![leaf; len],
                prev: vec![leaf; len],
                cur_ok: self.in_window == 0,
                // A fresh model's masses are all zero: nothing to clear.
                prev_ok: self.in_window == 0 && !self.warm,
            };
        }
    }

    /// Close the window if this row completed it: `r ← l`, `l ← 0` (flip the slots, then
    /// clear the journalled paths or every node, amortised over the window).
    #[inline]
    fn tick(&mut self) {
        self.in_window += 1;
        if self.in_window as usize == self.cfg.window {
            self.in_window = 0;
            self.cur = 1 - self.cur;
            let (h, nint, w, cur) = (
                self.cfg.height,
                self.internal_per_tree,
                self.cfg.window,
                self.cur,
            );
            let j = &mut self.journal;
            let trees = self.cfg.trees;
            dispatch!(&mut self.store, a => {
                for t in 0..trees {
                    let (nodes, leaves) = a.tree_mut(t, nint);
                    if j.prev_ok {
                        clear_paths(nodes, leaves, cur, &j.prev[t * w..][..w], h, w);
                    } else {
                        clear_all(nodes, leaves, cur);
                    }
                }
            });
            std::mem::swap(&mut j.cur, &mut j.prev);
            j.prev_ok = j.cur_ok && !j.cur.is_empty();
            j.cur_ok = !j.cur.is_empty();
            self.warm = true;
        }
    }

    /// Descend every tree once, counting `x` in the latest mass at every node on its path
    /// and, if `SCORE`, accumulating the paper mass from the reference mass. Trees go level
    /// by level so the dependent loads of different trees overlap.
    #[inline(always)]
    fn descend<const SCORE: bool>(&mut self, x: &[f32]) -> u64 {
        assert_eq!(x.len(), self.dims, "row width differs from the model's");
        self.ready_journal();
        let pos = self.in_window as usize;
        let window = self.cfg.window;
        let journal = &mut self.journal.cur;
        let (h, limit, nint, cur) = (
            self.cfg.height as usize,
            self.limit,
            self.internal_per_tree,
            self.cur,
        );
        let trees = self.cfg.trees;
        dispatch!(&mut self.store, a => descend_in::<SCORE, _>(
            a, trees, h, nint, limit, cur, x, journal, window, pos
        ))
    }
}

/// [`HalfSpaceTrees::descend`] on the arrays `a`: descend every tree once with `x`,
/// counting it in mass slot `cur`; record each tree's leaf at `pos` of its window in
/// `journal` (if not empty); if `SCORE`, the paper mass from the other slot.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn descend_in<const SCORE: bool, N: Rec>(
    a: &mut Arrays<N>,
    trees: usize,
    h: usize,
    nint: usize,
    limit: u32,
    cur: usize,
    x: &[f32],
    journal: &mut [u32],
    window: usize,
    pos: usize,
) -> u64 {
    let rf = 1 - cur;
    let mut total: u64 = 0;
    let nodes = &mut flat_mut::<N>(&mut a.lines)[..trees * (nint + 1)];
    let leaves = a.leaves.as_mut_slice();
    assert!(nodes.len() == trees * (nint + 1) && leaves.len() == trees * (nint + 1));
    let mut first = 0;
    while first < trees {
        let k = (trees - first).min(GROUP);
        let mut idx = [0usize; GROUP];
        let mut open = [SCORE; GROUP];
        for depth in 0..=h {
            for t in 0..k {
                let tree = first + t;
                let i = idx[t];
                // SAFETY (all unchecked indexing below): `tree < trees`; `i` is a node of
                // a complete tree of height `h` reached from the root in `depth ≤ h`
                // steps, so `i < nint` while `depth < h` and `nint ≤ i < 2·nint + 1` at
                // `depth == h`; the lengths are asserted above. Split dimensions are
                // `< dims` by construction (`build`, or checked on deserialisation) and
                // `x.len() == dims` is asserted by the caller.
                debug_assert!(if depth < h {
                    i < nint
                } else {
                    i >= nint && i <= 2 * nint
                });
                unsafe {
                    let m = if depth < h {
                        let n = nodes.get_unchecked_mut(tree * (nint + 1) + 1 + i);
                        n.mass_mut()[cur].inc();
                        let v = *x.get_unchecked(n.dim());
                        idx[t] = 2 * i + 1 + goes_right(v, n.value());
                        n.mass()[rf]
                    } else {
                        let leaf = leaves.get_unchecked_mut(tree * (nint + 1) + i - nint);
                        leaf[cur].inc();
                        leaf[rf]
                    };
                    if SCORE {
                        // Branch-free: the first node with r < limit (or the leaf) counts.
                        let r = m.get();
                        let stop = open[t] & ((r < limit) | (depth == h));
                        total += u64::from(u32::from(stop) * r) << depth;
                        open[t] &= !stop;
                    }
                }
            }
        }
        if !journal.is_empty() {
            for (t, &leaf) in idx[..k].iter().enumerate() {
                journal[(first + t) * window + pos] = leaf as u32;
            }
        }
        first += k;
    }
    total
}

/// One tree-major pass of [`HalfSpaceTrees::block_score_learn`] over a block of rows.
struct Pass {
    tree: Tree,
    trees: usize,
    nint: usize,
    window: usize,
    /// Rows of the current window before the block.
    start: usize,
    /// The model's latest-mass slot before the block.
    cur: usize,
    dims: usize,
}

impl Pass {
    /// Each tree of `a` in turn scores and learns all the rows of `xs`, closing its own
    /// windows (and keeping `journal`, whose `cur`/`prev` swap is left to the caller).
    fn run<N: Rec>(&self, a: &mut Arrays<N>, journal: &mut Journal, xs: &[f32], acc: &mut [u64]) {
        let (nint, h, d, window, n) = (
            self.nint,
            self.tree.height,
            self.dims,
            self.window,
            acc.len(),
        );
        let use_journal = !journal.cur.is_empty();
        let mut scratch = Vec::new();
        let (mut cur_ok, mut prev_ok) = (journal.cur_ok, journal.prev_ok);
        for t in 0..self.trees {
            let (nodes, leaves) = a.tree_mut(t, nint);
            let (mut jcur, mut jprev) = if use_journal {
                (
                    &mut journal.cur[t * window..][..window],
                    &mut journal.prev[t * window..][..window],
                )
            } else {
                scratch.resize(window, 0);
                (&mut scratch[..], &mut [][..])
            };
            (cur_ok, prev_ok) = (journal.cur_ok, journal.prev_ok);
            let mut cur = self.cur;
            let (mut a, mut pos) = (0, self.start);
            while a < n {
                let b = n.min(a + window - pos);
                self.tree.score_learn(
                    nodes,
                    leaves,
                    cur,
                    &xs[a * d..b * d],
                    d,
                    &mut acc[a..b],
                    &mut jcur[pos..pos + (b - a)],
                );
                pos += b - a;
                if pos == window {
                    // This tree's window change: r ← l, l ← 0.
                    cur = 1 - cur;
                    if prev_ok {
                        clear_paths(nodes, leaves, cur, jprev, h, window);
                    } else {
                        clear_all(nodes, leaves, cur);
                    }
                    if use_journal {
                        std::mem::swap(&mut jcur, &mut jprev);
                        (prev_ok, cur_ok) = (cur_ok, true);
                    }
                    pos = 0;
                }
                a = b;
            }
        }
        (journal.cur_ok, journal.prev_ok) = (cur_ok, prev_ok);
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

/// Zero mass slot `slot` of one tree on the paths to `paths` (breadth-first leaf indices):
/// the top levels, which most paths share, wholesale, the deeper nodes path by path.
fn clear_paths<N: Rec>(
    nodes: &mut [N],
    leaves: &mut [[N::M; 2]],
    slot: usize,
    paths: &[u32],
    height: u32,
    window: usize,
) {
    let h = height as usize;
    let nint = nodes.len();
    // Depths `< top` hold `2^top − 1 ≥ window` nodes: cheaper to clear than to revisit.
    let top = ((usize::BITS - window.leading_zeros()) as usize).min(h);
    for n in &mut nodes[..(1 << top) - 1] {
        n.mass_mut()[slot] = N::M::default();
    }
    for &leaf in paths {
        let leaf = leaf as usize;
        leaves[leaf - nint][slot] = N::M::default();
        for d in top..h {
            nodes[((leaf + 1) >> (h - d)) - 1].mass_mut()[slot] = N::M::default();
        }
    }
}

/// Zero mass slot `slot` of every node of one tree.
fn clear_all<N: Rec>(nodes: &mut [N], leaves: &mut [[N::M; 2]], slot: usize) {
    for n in nodes {
        n.mass_mut()[slot] = N::M::default();
    }
    for l in leaves {
        l[slot] = N::M::default();
    }
}

/// Rows per tree pass of the batch paths: one tree (640 KiB at height 15) and the rows
/// (320 B each at 80 features) should mostly share the L2 cache.
const BLOCK: usize = 1024;
/// Rows descended together, level by level, through one tree, so their cache misses overlap.
const LANES: usize = 8;

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

/// Descend `K` rows (`xs`, row-major, `dims` wide) through the splits of one tree of height
/// `h` (`nodes`, its `leaves` only prefetched) level by level, so that their chains of
/// dependent loads overlap; their leaves' breadth-first indices. `K` is a constant so the
/// indices stay in registers.
#[inline(always)]
fn descend_lanes<const K: usize, N: Rec>(
    nodes: &[N],
    leaves: &[[N::M; 2]],
    xs: &[f32],
    dims: usize,
    h: usize,
) -> [usize; K] {
    let nint = nodes.len();
    assert!(nint == (1 << h) - 1 && leaves.len() == nint + 1 && xs.len() == K * dims);
    let mut idx = [0usize; K];
    for depth in 0..h {
        for (g, i) in idx.iter_mut().enumerate() {
            // The four grandchildren of `i` (two levels on) fill one cache line (see
            // `Line`): fetch it now, so the chain of dependent loads down the tree is
            // pipelined two levels deep. Above the leaves, fetch the four grandchild
            // leaves' masses for the walk.
            let first = (*i + 1) << N::AHEAD;
            if depth + N::AHEAD < h {
                prefetch(nodes.as_ptr().wrapping_add(first - 1));
            } else if depth + N::AHEAD == h {
                prefetch(leaves.as_ptr().wrapping_add((first - 1).wrapping_sub(nint)));
            }
            // SAFETY: `*i` is an internal node (fewer than `h` steps from the root of a
            // complete tree of height `h`), so `*i < nint = nodes.len()`; split dimensions
            // are `< dims` (by construction, or checked on deserialisation) and row `g` is
            // `dims` wide inside `xs` (asserted).
            unsafe {
                let n = nodes.get_unchecked(*i);
                let v = *xs.get_unchecked(g * dims + n.dim());
                *i = 2 * *i + 1 + goes_right(v, n.value());
            }
        }
    }
    idx
}

/// Shape of a tree, for the batch paths.
struct Tree {
    height: u32,
    limit: u32,
}

impl Tree {
    /// Score (add each row's mass in this tree to `acc`) and count every row of `xs`
    /// (row-major, `dims` wide) in mass slot `cur` of the tree `nodes`, `leaves`, against
    /// the reference in the other slot; write each row's leaf to `paths`.
    ///
    /// Two phases per group of [`LANES`] rows: descend the splits (the only chain of
    /// dependent loads, interleaved across rows), then walk each path again, now in cache,
    /// from the root: its leaf's index determines every node on it. Masses never grow along
    /// a path (a child's rows are a subset of its parent's), so the internal nodes with
    /// `r ≥ limit` form a prefix of the path and the stop depth is their number.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn score_learn<N: Rec>(
        &self,
        nodes: &mut [N],
        leaves: &mut [[N::M; 2]],
        cur: usize,
        xs: &[f32],
        dims: usize,
        acc: &mut [u64],
        paths: &mut [u32],
    ) {
        let h = self.height as usize;
        let nint = (1usize << h) - 1;
        let rf = 1 - cur;
        assert!(nodes.len() == nint && leaves.len() == nint + 1 && cur < 2);
        assert!(xs.len() == acc.len() * dims && paths.len() == acc.len());
        let limit = self.limit;
        for ((xs, acc), paths) in xs
            .chunks(LANES * dims)
            .zip(acc.chunks_mut(LANES))
            .zip(paths.chunks_mut(LANES))
        {
            let k = acc.len();
            let mut idx = [0usize; LANES];
            if k == LANES {
                idx = descend_lanes::<LANES, N>(nodes, leaves, xs, dims, h);
            } else {
                for (g, i) in idx[..k].iter_mut().enumerate() {
                    [*i] = descend_lanes::<1, N>(nodes, leaves, &xs[g * dims..][..dims], dims, h);
                }
            }
            for ((a, path), &i) in acc.iter_mut().zip(paths.iter_mut()).zip(&idx[..k]) {
                *path = i as u32;
                let leaf = i + 1;
                let mut above = 0usize;
                for depth in 0..h {
                    // SAFETY: `leaf - 1` is a leaf (`nint ≤ leaf - 1 ≤ 2·nint`), `node` its
                    // ancestor at `depth < h`, an internal node.
                    unsafe {
                        let n = nodes.get_unchecked_mut((leaf >> (h - depth)) - 1);
                        n.mass_mut()[cur].inc();
                        above += usize::from(n.mass()[rf].get() >= limit);
                    }
                }
                let lm = &mut leaves[i - nint];
                lm[cur].inc();
                // `above ≤ h`; at `h` the descent stops at the leaf.
                let m = if above < h {
                    nodes[(leaf >> (h - above)) - 1].mass()[rf].get()
                } else {
                    lm[rf].get()
                };
                *a += u64::from(m) << above;
            }
        }
    }

    /// Add each row's mass in this tree to `acc` (frozen), reading mass slot `rf`.
    #[inline(never)]
    fn score<N: Rec>(
        &self,
        nodes: &[N],
        leaves: &[[N::M; 2]],
        rf: usize,
        xs: &[f32],
        dims: usize,
        acc: &mut [u64],
    ) {
        let h = self.height as usize;
        let nint = (1usize << h) - 1;
        assert!(nodes.len() == nint && leaves.len() == nint + 1 && rf < 2);
        assert_eq!(xs.len(), acc.len() * dims);
        let limit = self.limit;
        for (xs, acc) in xs.chunks(LANES * dims).zip(acc.chunks_mut(LANES)) {
            let k = acc.len();
            let mut idx = [0usize; LANES];
            let mut open = [true; LANES];
            let mut tot = [0u64; LANES];
            let mut depth = 0;
            while depth < h {
                let mut any = false;
                for g in 0..k {
                    let i = idx[g];
                    // SAFETY: as in `score_learn`; a stopped row stays at its node.
                    unsafe {
                        let n = nodes.get_unchecked(i);
                        let m = n.mass()[rf].get();
                        let stop = open[g] & (m < limit);
                        tot[g] += u64::from(u32::from(stop) * m) << depth;
                        open[g] &= !stop;
                        any |= open[g];
                        let v = *xs.get_unchecked(g * dims + n.dim());
                        let child = 2 * i + 1 + goes_right(v, n.value());
                        idx[g] = if open[g] { child } else { i };
                    }
                }
                if !any {
                    break;
                }
                depth += 1;
            }
            if depth == h {
                for g in 0..k {
                    if open[g] {
                        tot[g] += u64::from(leaves[idx[g] - nint][rf].get()) << h;
                    }
                }
            }
            for (a, t) in acc.iter_mut().zip(tot) {
                *a += t;
            }
        }
    }
}

impl Model for HalfSpaceTrees {
    /// `1 − mass / max_mass` in `[0, 1]`; `0.0` before the first window completes. Frozen:
    /// scoring never changes the model.
    fn score(&self, x: &[f32]) -> f64 {
        if !self.warm {
            assert_eq!(x.len(), self.dims, "row width differs from the model's");
            return 0.0;
        }
        self.to_score(self.mass(x))
    }

    fn learn(&mut self, x: &[f32]) {
        self.descend::<false>(x);
        self.tick();
    }

    fn score_learn(&mut self, x: &[f32]) -> f64 {
        let warm = self.warm;
        let mass = self.descend::<true>(x) as f64;
        self.tick();
        if warm { self.to_score(mass) } else { 0.0 }
    }

    fn name(&self) -> &'static str {
        "hst"
    }
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
            let root = m.all_nodes()[t * (m.internal_per_tree + 1) + 1];
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
        let split = m.all_nodes()[1].value;
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
        let x = [m.all_nodes()[1].value - 0.1];
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

    /// Windows over 255 rows keep 16-bit masses: batches still equal row by row, across
    /// window changes and a snapshot round trip.
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
        // 16-bit masses, and window changes clear journalled paths.
        assert!(matches!(a.store, Store::Wide(_)) && a.uses_journal());
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
}
