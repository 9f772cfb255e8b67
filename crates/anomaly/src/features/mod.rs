//! Events (flows, logins, process starts) to fixed-width raw feature rows.
//!
//! A [`FeatureConfig`] says, for one [`SourceKind`], which numeric fields to read (and the
//! [`Transform`] the scaler should apply to them), which derived values to compute (hour of
//! day, Zeek `history` flags, command-line statistics), which categorical fields to encode
//! (bounded one-hot or hashing) and whether to add context features from
//! [`incstat`](crate::incstat) (per-host damped statistics over the event stream).
//! [`FeatureConfig::default_for`] gives the built-in configuration of each kind.
//!
//! An [`Extractor`] resolves every field name to a [`FieldId`] once, at construction; per event
//! it only compares ids. [`Extractor::extract`] writes the raw (unscaled) row — numeric, then
//! derived, then categorical, then context columns, in the order of [`Extractor::names`] — and
//! updates the context statistics. Feed a [`Scaler`] from [`Extractor::new_scaler`] to get
//! model input.
//!
//! Rules every row follows:
//!
//! * a missing or unparsable numeric field is 0; booleans (`T`/`F`, `true`/`false`) are 1/0;
//! * every value is finite: NaN becomes 0 and magnitudes are clamped to
//!   [`RAW_LIMIT`](crate::scale::RAW_LIMIT);
//! * the width never changes for a given configuration;
//! * label columns (`label`, `detailedlabel`, `attack_cat`, `difficulty`, `Label`, in any
//!   spelling) can never be features: [`Extractor::new`] refuses a configuration that names
//!   one.
//!
//! Context features need events in time order (per source); time comes from the event
//! timestamp, else from the configured time field, else the previous event's time (no decay).

mod defaults;

pub use defaults::{
    CIC_NUMERIC, FAILED_CONN_STATES, NSL_KDD_NUMERIC, UNSW_NB15_NUMERIC, ZEEK_CONN_STATES,
};

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use chrono::Timelike;
use palisade_event::{Event, FieldId, Value};
use rustc_hash::FxHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::incstat::{AuthContext, AuthObs, ContextOpts, FlowContext, FlowObs, mix};
use crate::scale::{CategoryEncoder, Encoding, Scaler, Transform, sanitize};

/// The kinds of events with a built-in feature configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceKind {
    /// Zeek `conn.log` records (TSV or JSON).
    ZeekConn,
    /// NSL-KDD / KDD Cup 99 CSV rows.
    NslKdd,
    /// UNSW-NB15 CSV rows (training/testing sets, or the original 49-column files).
    UnswNb15,
    /// CICFlowMeter CSV rows (CICIDS2017 and later).
    CicFlow,
    /// Authentication events (ECS `event.category: authentication`).
    Auth,
    /// Process starts (ECS `event.category: process`, Sysmon 1, Security 4688).
    Process,
}

struct DetectIds {
    category: FieldId,
    command_line: [FieldId; 2],
}

fn detect_ids() -> &'static DetectIds {
    static IDS: OnceLock<DetectIds> = OnceLock::new();
    IDS.get_or_init(|| DetectIds {
        category: FieldId::known("event.category"),
        command_line: [
            FieldId::known("process.command_line"),
            FieldId::known("CommandLine"),
        ],
    })
}

fn has_text(v: Option<&Value>, text: &str) -> bool {
    match v {
        Some(Value::Str(s)) => s.as_str() == text,
        Some(Value::Array(items)) => items.iter().any(|x| x.as_str() == Some(text)),
        _ => false,
    }
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::ZeekConn,
        SourceKind::NslKdd,
        SourceKind::UnswNb15,
        SourceKind::CicFlow,
        SourceKind::Auth,
        SourceKind::Process,
    ];

    /// The kind of `ev`, from `meta.format`/`meta.product`/`meta.service`, then ECS
    /// `event.category`, then the presence of a command line. `None` for other events
    /// (a Zeek `dns` record, a syslog line that is not about a login, …).
    pub fn detect(ev: &Event) -> Option<SourceKind> {
        let service = ev.meta.service.as_deref();
        if ev.meta.format == "zeek" || ev.meta.product.as_deref() == Some("zeek") {
            return (service == Some("conn")).then_some(SourceKind::ZeekConn);
        }
        match service {
            Some("nsl-kdd") => return Some(SourceKind::NslKdd),
            Some("unsw-nb15") => return Some(SourceKind::UnswNb15),
            Some("cicflowmeter") => return Some(SourceKind::CicFlow),
            _ => {}
        }
        let ids = detect_ids();
        let category = ev.get(ids.category);
        if has_text(category, "authentication") {
            return Some(SourceKind::Auth);
        }
        if has_text(category, "process") || ids.command_line.iter().any(|&id| ev.get(id).is_some())
        {
            return Some(SourceKind::Process);
        }
        None
    }

    /// Short name (`zeek-conn`, `nsl-kdd`, …).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ZeekConn => "zeek-conn",
            SourceKind::NslKdd => "nsl-kdd",
            SourceKind::UnswNb15 => "unsw-nb15",
            SourceKind::CicFlow => "cicflowmeter",
            SourceKind::Auth => "auth",
            SourceKind::Process => "process",
        }
    }
}

/// A numeric column. `fields` are alternative names; the first present one is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericSpec {
    /// Feature name.
    pub name: String,
    pub fields: Vec<String>,
    /// The scaler's transform for this column.
    #[serde(default)]
    pub transform: Transform,
}

/// A categorical field encoded by a [`CategoryEncoder`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategorySpec {
    /// Column name prefix.
    pub name: String,
    pub fields: Vec<String>,
    pub encoding: Encoding,
    /// Values given the first one-hot slots, in order (stable, readable column names).
    #[serde(default)]
    pub seed: Vec<String>,
    /// Encode the lower-cased last path component (`C:\Windows\cmd.exe` → `cmd.exe`).
    #[serde(default)]
    pub basename: bool,
}

/// Values computed from fields rather than read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Derived {
    /// `hour_sin`, `hour_cos`: time of day (UTC) of the event timestamp on the unit circle;
    /// both 0 without a timestamp.
    HourOfDay,
    /// Zeek's `history`: `history_len`, and whether it holds an originator SYN (`S`), a
    /// responder SYN-ACK (`h`), data (`D`/`d`), a FIN (`F`/`f`), a RST (`R`/`r`), and any
    /// responder activity (any lower-case letter).
    ZeekHistory { fields: Vec<String> },
    /// `cmd_len` (bytes), `cmd_entropy` (Shannon, bits per byte), `cmd_args` (arguments after
    /// the program, double quotes respected).
    CommandLine { fields: Vec<String> },
}

impl Derived {
    fn columns(&self) -> Vec<(String, Transform)> {
        let cols: &[(&str, Transform)] = match self {
            Derived::HourOfDay => &[("hour_sin", Transform::None), ("hour_cos", Transform::None)],
            Derived::ZeekHistory { .. } => &[
                ("history_len", Transform::Log1p),
                ("history_syn", Transform::None),
                ("history_synack", Transform::None),
                ("history_data", Transform::None),
                ("history_fin", Transform::None),
                ("history_rst", Transform::None),
                ("history_resp", Transform::None),
            ],
            Derived::CommandLine { .. } => &[
                ("cmd_len", Transform::Log1p),
                ("cmd_entropy", Transform::None),
                ("cmd_args", Transform::Log1p),
            ],
        };
        cols.iter().map(|(n, t)| (n.to_string(), *t)).collect()
    }

    fn fields(&self) -> &[String] {
        match self {
            Derived::HourOfDay => &[],
            Derived::ZeekHistory { fields } | Derived::CommandLine { fields } => fields,
        }
    }
}

/// Flow context: which fields identify hosts, ports, bytes, time and failure.
/// See [`FlowContext`] for the features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowContextSpec {
    pub src: Vec<String>,
    pub dst: Vec<String>,
    pub sport: Vec<String>,
    pub dport: Vec<String>,
    pub orig_bytes: Vec<String>,
    pub resp_bytes: Vec<String>,
    /// Numeric seconds, used when the event has no timestamp.
    pub time: Vec<String>,
    /// Connection state; a value in `failed_states` marks the flow failed/unanswered.
    pub state: Vec<String>,
    pub failed_states: Vec<String>,
    /// Responder packets: when there is no state field, 0 marks the flow unanswered.
    pub resp_pkts: Vec<String>,
    pub lambdas: Vec<f64>,
    /// Keys per table (source, pair, socket, destination), least-recently-updated evicted.
    pub max_keys: usize,
    /// Seconds after which a (source, port) / (source, destination) pair counts as new again.
    pub horizon_secs: f64,
}

/// Login context: see [`AuthContext`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthContextSpec {
    pub user: Vec<String>,
    pub source: Vec<String>,
    pub outcome: Vec<String>,
    /// Outcome values that count as failures.
    pub failure_values: Vec<String>,
    pub lambdas: Vec<f64>,
    pub max_keys: usize,
    pub horizon_secs: f64,
}

/// Context features added after the per-event columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContextSpec {
    Flow(FlowContextSpec),
    Auth(AuthContextSpec),
}

/// What to extract from one kind of event. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub kind: SourceKind,
    #[serde(default)]
    pub numeric: Vec<NumericSpec>,
    #[serde(default)]
    pub derived: Vec<Derived>,
    #[serde(default)]
    pub categorical: Vec<CategorySpec>,
    #[serde(default)]
    pub context: Option<ContextSpec>,
}

impl FeatureConfig {
    /// Every field name the configuration reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        v.extend(
            self.numeric
                .iter()
                .flat_map(|n| &n.fields)
                .map(String::as_str),
        );
        v.extend(
            self.derived
                .iter()
                .flat_map(|d| d.fields())
                .map(String::as_str),
        );
        v.extend(
            self.categorical
                .iter()
                .flat_map(|c| &c.fields)
                .map(String::as_str),
        );
        match &self.context {
            Some(ContextSpec::Flow(c)) => {
                for list in [
                    &c.src,
                    &c.dst,
                    &c.sport,
                    &c.dport,
                    &c.orig_bytes,
                    &c.resp_bytes,
                    &c.time,
                    &c.state,
                    &c.resp_pkts,
                ] {
                    v.extend(list.iter().map(String::as_str));
                }
            }
            Some(ContextSpec::Auth(c)) => {
                for list in [&c.user, &c.source, &c.outcome] {
                    v.extend(list.iter().map(String::as_str));
                }
            }
            None => {}
        }
        v
    }
}

/// Whether `name` is a ground-truth label column of one of the data sets.
pub fn is_label_field(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    matches!(
        n.as_str(),
        "label" | "labels" | "detailedlabel" | "attackcat" | "difficulty" | "class"
    )
}

/// Why an [`Extractor`] could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("field {0:?} is a ground-truth label column and cannot be a feature")]
    LabelField(String),
    #[error("field name {name:?}: {reason}")]
    Field { name: String, reason: String },
    #[error("context needs at least one decay rate")]
    NoDecayRates,
    #[error("a configuration may read at most {MAX_FIELDS} distinct fields")]
    TooManyFields,
    #[error("saved extractor state does not fit its configuration")]
    StateMismatch,
}

/// Most distinct field names one configuration may read.
pub const MAX_FIELDS: usize = 128;

/// The distinct fields a configuration reads, each with a slot in a per-event [`View`].
#[derive(Debug, Default)]
struct Registry {
    ids: Vec<FieldId>,
    index: rustc_hash::FxHashMap<FieldId, u16>,
    /// Union of the ids' [`FieldId::bit`]s: most of an event's other fields skip the lookup.
    bits: u64,
}

impl Registry {
    fn slot(&mut self, name: &str) -> Result<u16, FeatureError> {
        if is_label_field(name) {
            return Err(FeatureError::LabelField(name.to_string()));
        }
        let id = FieldId::intern(name).map_err(|e| FeatureError::Field {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        if let Some(&k) = self.index.get(&id) {
            return Ok(k);
        }
        if self.ids.len() >= MAX_FIELDS {
            return Err(FeatureError::TooManyFields);
        }
        let k = self.ids.len() as u16;
        self.ids.push(id);
        self.index.insert(id, k);
        self.bits |= id.bit();
        Ok(k)
    }

    /// One pass over `ev`'s stored fields, filling the slots of the fields we read.
    #[inline]
    fn view<'a, 'e>(&'a self, ev: &'e Event) -> View<'a, 'e> {
        let mut found = [None; MAX_FIELDS];
        for (id, v) in ev.fields() {
            if id.bit() & self.bits != 0
                && let Some(&k) = self.index.get(&id)
            {
                found[k as usize].get_or_insert(v);
            }
        }
        View {
            ev,
            ids: &self.ids,
            found,
        }
    }
}

/// The fields of one event that a configuration reads, found in one pass.
struct View<'a, 'e> {
    ev: &'e Event,
    ids: &'a [FieldId],
    found: [Option<&'e Value>; MAX_FIELDS],
}

impl<'e> View<'_, 'e> {
    /// The value in slot `k`; fields reached only through the event's alias table (an ECS
    /// name on a Zeek record) are looked up on demand.
    #[inline]
    fn get(&self, k: u16) -> Option<&'e Value> {
        match self.found[k as usize] {
            Some(v) => Some(v),
            None if self.ev.aliases().is_some() => self.ev.get(self.ids[k as usize]),
            None => None,
        }
    }
}

/// Alternative names of one field (slots in the [`Registry`]): the first present is read.
#[derive(Debug, Clone)]
struct Lookup(Vec<u16>);

impl Lookup {
    fn new(reg: &mut Registry, names: &[String]) -> Result<Self, FeatureError> {
        names
            .iter()
            .map(|n| reg.slot(n))
            .collect::<Result<Vec<_>, _>>()
            .map(Lookup)
    }

    #[inline]
    fn get<'e>(&self, view: &View<'_, 'e>) -> Option<&'e Value> {
        self.0.iter().find_map(|&k| view.get(k))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The number in a value: numbers, booleans (1/0), numeric or `T`/`F` text, an array's first
/// element.
#[inline]
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Str(s) => match s.as_str() {
            "T" | "true" | "True" => Some(1.0),
            "F" | "false" | "False" => Some(0.0),
            t => t.trim().parse().ok(),
        },
        Value::Array(items) => items.first().and_then(number),
        Value::Null => None,
    }
}

/// The text of a scalar value, formatting numbers into `buf`.
fn text<'a>(v: &'a Value, buf: &'a mut String) -> Option<&'a str> {
    match v {
        Value::Str(s) => Some(s.as_str()),
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "{i}");
            Some(buf.as_str())
        }
        Value::Float(x) => {
            buf.clear();
            let _ = write!(buf, "{x}");
            Some(buf.as_str())
        }
        Value::Bool(b) => Some(if *b { "T" } else { "F" }),
        Value::Array(items) => items.first().and_then(|x| text(x, buf)),
        Value::Null => None,
    }
}

/// A 64-bit key for a value (address or port), without allocating.
#[inline]
fn key_of(v: &Value) -> u64 {
    match v {
        Value::Str(s) => {
            let mut h = FxHasher::default();
            s.as_bytes().hash(&mut h);
            mix(h.finish())
        }
        Value::Int(i) => mix(*i as u64 ^ 0x1234_5678),
        Value::Float(f) => mix(f.to_bits()),
        Value::Bool(b) => mix(u64::from(*b)),
        Value::Array(items) => items.first().map_or(0, key_of),
        Value::Null => 0,
    }
}

fn event_seconds(ev: &Event) -> Option<f64> {
    ev.timestamp
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9)
}

struct DerivedX {
    spec: Derived,
    field: Lookup,
}

struct CategoryX {
    field: Lookup,
    encoder: CategoryEncoder,
    basename: bool,
    offset: usize,
    name: String,
}

struct FlowX {
    src: Lookup,
    dst: Lookup,
    sport: Lookup,
    dport: Lookup,
    orig_bytes: Lookup,
    resp_bytes: Lookup,
    time: Lookup,
    state: Lookup,
    failed_states: Vec<String>,
    resp_pkts: Lookup,
    ctx: FlowContext,
}

struct AuthX {
    user: Lookup,
    source: Lookup,
    outcome: Lookup,
    failure_values: Vec<String>,
    ctx: AuthContext,
}

enum ContextX {
    Flow(Box<FlowX>),
    Auth(Box<AuthX>),
}

/// Turns events of one [`SourceKind`] into raw feature rows. See the [module docs](self).
pub struct Extractor {
    cfg: FeatureConfig,
    names: Arc<[String]>,
    transforms: Vec<Transform>,
    numeric: Vec<Lookup>,
    derived: Vec<DerivedX>,
    cats: Vec<CategoryX>,
    context: Option<(ContextX, usize)>,
    reg: Registry,
    buf: String,
    lower: String,
    last_t: f64,
    rows: u64,
}

/// What an [`Extractor`] has learned (vocabularies, context statistics, clock), to resume it
/// after a restart with [`Extractor::resume`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractorState {
    cfg: FeatureConfig,
    encoders: Vec<CategoryEncoder>,
    flow: Option<FlowContext>,
    auth: Option<AuthContext>,
    last_t: f64,
    rows: u64,
}

impl serde::Serialize for Extractor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.state().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Extractor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let state = ExtractorState::deserialize(d)?;
        Extractor::resume(state).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Debug for Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("kind", &self.cfg.kind)
            .field("width", &self.names.len())
            .field("rows", &self.rows)
            .finish()
    }
}

fn context_opts(
    lambdas: &[f64],
    max_keys: usize,
    horizon: f64,
) -> Result<ContextOpts, FeatureError> {
    let lambdas: Vec<f64> = lambdas
        .iter()
        .copied()
        .filter(|l| l.is_finite() && *l >= 0.0)
        .collect();
    if lambdas.is_empty() {
        return Err(FeatureError::NoDecayRates);
    }
    Ok(ContextOpts {
        lambdas,
        max_keys,
        horizon: if horizon.is_nan() { 3600.0 } else { horizon },
        ..ContextOpts::default()
    })
}

fn context_transform(name: &str) -> Transform {
    if name.contains("conns") || name.contains("_new_") || name.contains("attempts") {
        Transform::Log1p
    } else {
        Transform::None
    }
}

impl Extractor {
    /// What this extractor has learned; [`Extractor::resume`] continues from it exactly.
    pub fn state(&self) -> ExtractorState {
        let (flow, auth) = match &self.context {
            Some((ContextX::Flow(f), _)) => (Some(f.ctx.clone()), None),
            Some((ContextX::Auth(a), _)) => (None, Some(a.ctx.clone())),
            None => (None, None),
        };
        ExtractorState {
            cfg: self.cfg.clone(),
            encoders: self.cats.iter().map(|c| c.encoder.clone()).collect(),
            flow,
            auth,
            last_t: self.last_t,
            rows: self.rows,
        }
    }

    /// An extractor that continues from `state` (same configuration, vocabularies, context).
    pub fn resume(state: ExtractorState) -> Result<Extractor, FeatureError> {
        let mut ex = Extractor::new(state.cfg)?;
        if state.encoders.len() != ex.cats.len()
            || state
                .encoders
                .iter()
                .zip(&ex.cats)
                .any(|(e, c)| e.width() != c.encoder.width())
        {
            return Err(FeatureError::StateMismatch);
        }
        for (c, e) in ex.cats.iter_mut().zip(state.encoders) {
            c.encoder = e;
        }
        match (&mut ex.context, state.flow, state.auth) {
            (Some((ContextX::Flow(f), _)), Some(ctx), None) => f.ctx = ctx,
            (Some((ContextX::Auth(a), _)), None, Some(ctx)) => a.ctx = ctx,
            (None, None, None) => {}
            _ => return Err(FeatureError::StateMismatch),
        }
        ex.last_t = state.last_t;
        ex.rows = state.rows;
        Ok(ex)
    }

    /// Resolves every field of `cfg` once. Fails on a label column or an uninternable name.
    pub fn new(cfg: FeatureConfig) -> Result<Extractor, FeatureError> {
        let mut names = Vec::new();
        let mut transforms = Vec::new();
        let mut reg = Registry::default();

        let mut numeric = Vec::with_capacity(cfg.numeric.len());
        for n in &cfg.numeric {
            numeric.push(Lookup::new(&mut reg, &n.fields)?);
            names.push(n.name.clone());
            transforms.push(n.transform);
        }

        let mut derived = Vec::new();
        for d in &cfg.derived {
            derived.push(DerivedX {
                spec: d.clone(),
                field: Lookup::new(&mut reg, d.fields())?,
            });
            for (n, t) in d.columns() {
                names.push(n);
                transforms.push(t);
            }
        }

        let mut cats = Vec::new();
        for c in &cfg.categorical {
            let mut encoder = CategoryEncoder::new(c.encoding);
            encoder.seed(c.seed.iter().map(String::as_str));
            let offset = names.len();
            for n in encoder.column_names(&c.name) {
                names.push(n);
                transforms.push(Transform::None);
            }
            cats.push(CategoryX {
                field: Lookup::new(&mut reg, &c.fields)?,
                encoder,
                basename: c.basename,
                offset,
                name: c.name.clone(),
            });
        }

        let context = match &cfg.context {
            None => None,
            Some(ContextSpec::Flow(c)) => {
                let opts = context_opts(&c.lambdas, c.max_keys, c.horizon_secs)?;
                let offset = names.len();
                names.extend(FlowContext::names(&opts.lambdas));
                let x = FlowX {
                    src: Lookup::new(&mut reg, &c.src)?,
                    dst: Lookup::new(&mut reg, &c.dst)?,
                    sport: Lookup::new(&mut reg, &c.sport)?,
                    dport: Lookup::new(&mut reg, &c.dport)?,
                    orig_bytes: Lookup::new(&mut reg, &c.orig_bytes)?,
                    resp_bytes: Lookup::new(&mut reg, &c.resp_bytes)?,
                    time: Lookup::new(&mut reg, &c.time)?,
                    state: Lookup::new(&mut reg, &c.state)?,
                    failed_states: c.failed_states.clone(),
                    resp_pkts: Lookup::new(&mut reg, &c.resp_pkts)?,
                    ctx: FlowContext::new(&opts),
                };
                Some((ContextX::Flow(Box::new(x)), offset))
            }
            Some(ContextSpec::Auth(c)) => {
                let opts = context_opts(&c.lambdas, c.max_keys, c.horizon_secs)?;
                let offset = names.len();
                names.extend(AuthContext::names(&opts.lambdas));
                let x = AuthX {
                    user: Lookup::new(&mut reg, &c.user)?,
                    source: Lookup::new(&mut reg, &c.source)?,
                    outcome: Lookup::new(&mut reg, &c.outcome)?,
                    failure_values: c.failure_values.clone(),
                    ctx: AuthContext::new(&opts),
                };
                Some((ContextX::Auth(Box::new(x)), offset))
            }
        };
        if let Some((_, offset)) = &context {
            for n in &names[*offset..] {
                transforms.push(context_transform(n));
            }
        }
        debug_assert_eq!(names.len(), transforms.len());

        Ok(Extractor {
            cfg,
            names: names.into(),
            transforms,
            numeric,
            derived,
            cats,
            context,
            reg,
            buf: String::new(),
            lower: String::new(),
            last_t: f64::NAN,
            rows: 0,
        })
    }

    /// The extractor of `kind`'s built-in configuration.
    pub fn for_kind(kind: SourceKind) -> Extractor {
        Extractor::new(FeatureConfig::default_for(kind))
            .expect("built-in feature configurations are valid")
    }

    pub fn kind(&self) -> SourceKind {
        self.cfg.kind
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Column names, fixed for the life of the extractor (one-hot slots learned later are
    /// named `field=#i`; see [`Extractor::describe`]).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// [`Extractor::names`], shared (a reference count, not a copy of the strings).
    pub fn shared_names(&self) -> Arc<[String]> {
        Arc::clone(&self.names)
    }

    /// Row width.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Transform of each column, for a [`Scaler`].
    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }

    /// A scaler with this extractor's transforms (default streaming options).
    pub fn new_scaler(&self) -> Scaler {
        Scaler::new(self.transforms.clone())
    }

    /// Rows extracted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Stops one-hot vocabularies from growing (after training).
    pub fn freeze(&mut self) {
        for c in &mut self.cats {
            c.encoder.freeze();
        }
    }

    /// The encoders, in configuration order.
    pub fn encoders(&self) -> impl Iterator<Item = &CategoryEncoder> {
        self.cats.iter().map(|c| &c.encoder)
    }

    /// The current readable name of column `i`: like [`Extractor::names`], but one-hot slots
    /// learned since construction show their value (`service=irc`).
    pub fn describe(&self, i: usize) -> String {
        for c in &self.cats {
            if (c.offset..c.offset + c.encoder.width()).contains(&i) {
                return c.encoder.column_names(&c.name)[i - c.offset].clone();
            }
        }
        self.names.get(i).cloned().unwrap_or_default()
    }

    /// Whether `ev` is of this extractor's kind.
    pub fn accepts(&self, ev: &Event) -> bool {
        SourceKind::detect(ev) == Some(self.cfg.kind)
    }

    /// Writes `ev`'s raw feature row into `raw` (cleared, then `width` values) and updates the
    /// context statistics and one-hot vocabularies. Returns `false`, leaving `raw` and all state
    /// untouched, when the event is not of this kind.
    pub fn extract(&mut self, ev: &Event, raw: &mut Vec<f64>) -> bool {
        if !self.accepts(ev) {
            return false;
        }
        self.extract_unchecked(ev, raw);
        true
    }

    /// [`Extractor::extract`] without the kind check, for callers that routed the event
    /// already.
    pub fn extract_unchecked(&mut self, ev: &Event, raw: &mut Vec<f64>) {
        raw.clear();
        raw.resize(self.names.len(), 0.0);
        let view = self.reg.view(ev);
        let view = &view;
        let mut i = 0;
        for n in &self.numeric {
            raw[i] = n.get(view).and_then(number).unwrap_or(0.0);
            i += 1;
        }
        for d in &self.derived {
            i += derive(d, view, &mut raw[i..]);
        }
        let (buf, lower) = (&mut self.buf, &mut self.lower);
        for c in &mut self.cats {
            let w = c.encoder.width();
            let out = &mut raw[c.offset..c.offset + w];
            let mut t = c.field.get(view).and_then(|v| text(v, buf));
            if c.basename
                && let Some(s) = t
            {
                let base = s.rsplit(['/', '\\']).next().unwrap_or(s);
                lower.clear();
                lower.extend(base.chars().map(|ch| ch.to_ascii_lowercase()));
                t = Some(lower.as_str());
            }
            c.encoder.encode(t, out);
        }
        if let Some((ctx, offset)) = &mut self.context {
            let t = event_seconds(ev);
            let out = &mut raw[*offset..];
            match ctx {
                ContextX::Flow(x) => {
                    let t = t
                        .or_else(|| x.time.get(view).and_then(number))
                        .filter(|t| t.is_finite())
                        .unwrap_or(self.last_t);
                    self.last_t = t;
                    flow_context(x, view, t, out);
                }
                ContextX::Auth(x) => {
                    let t = t.filter(|t| t.is_finite()).unwrap_or(self.last_t);
                    self.last_t = t;
                    auth_context(x, view, t, out);
                }
            }
        }
        for x in raw.iter_mut() {
            *x = sanitize(*x);
        }
        self.rows += 1;
    }
}

fn flow_context(x: &mut FlowX, ev: &View<'_, '_>, t: f64, out: &mut [f64]) {
    let (Some(src), Some(dst)) = (x.src.get(ev), x.dst.get(ev)) else {
        // Without endpoints there is no context: zeros, and no state change.
        return;
    };
    let failed = match x.state.get(ev).and_then(Value::as_str) {
        Some(s) => x.failed_states.iter().any(|f| f == s),
        None if !x.resp_pkts.is_empty() => x
            .resp_pkts
            .get(ev)
            .and_then(number)
            .is_some_and(|p| p == 0.0),
        None => false,
    };
    let obs = FlowObs {
        t,
        src: key_of(src),
        dst: key_of(dst),
        sport: x.sport.get(ev).map_or(0, key_of),
        dport: x.dport.get(ev).map_or(0, key_of),
        orig_bytes: x.orig_bytes.get(ev).and_then(number).unwrap_or(0.0),
        resp_bytes: x.resp_bytes.get(ev).and_then(number).unwrap_or(0.0),
        failed,
    };
    x.ctx.update(&obs, out);
}

fn auth_context(x: &mut AuthX, ev: &View<'_, '_>, t: f64, out: &mut [f64]) {
    let failed = x
        .outcome
        .get(ev)
        .and_then(Value::as_str)
        .is_some_and(|o| x.failure_values.iter().any(|f| f == o));
    let obs = AuthObs {
        t,
        user: x.user.get(ev).map(key_of),
        source: x.source.get(ev).map(key_of),
        failed,
    };
    x.ctx.update(&obs, out);
}

/// Writes one derived block; returns its width.
fn derive(d: &DerivedX, ev: &View<'_, '_>, out: &mut [f64]) -> usize {
    match &d.spec {
        Derived::HourOfDay => {
            if let Some(ts) = ev.ev.timestamp {
                let secs = f64::from(ts.num_seconds_from_midnight());
                let a = secs / 86_400.0 * std::f64::consts::TAU;
                out[0] = a.sin();
                out[1] = a.cos();
            }
            2
        }
        Derived::ZeekHistory { .. } => {
            if let Some(h) = d.field.get(ev).and_then(Value::as_str) {
                let mut flags = [false; 6];
                for b in h.bytes() {
                    match b {
                        b'S' => flags[0] = true,
                        b'h' => flags[1] = true,
                        b'D' | b'd' => flags[2] = true,
                        b'F' | b'f' => flags[3] = true,
                        b'R' | b'r' => flags[4] = true,
                        _ => {}
                    }
                    if b.is_ascii_lowercase() {
                        flags[5] = true;
                    }
                }
                out[0] = h.len() as f64;
                for (o, f) in out[1..7].iter_mut().zip(flags) {
                    *o = f64::from(u8::from(f));
                }
            }
            7
        }
        Derived::CommandLine { .. } => {
            if let Some(cmd) = d.field.get(ev).and_then(Value::as_str) {
                out[0] = cmd.len() as f64;
                out[1] = entropy(cmd.as_bytes());
                out[2] = count_args(cmd) as f64;
            }
            3
        }
    }
}

/// Shannon entropy in bits per byte.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Arguments after the program in a command line (whitespace-separated, double quotes
/// group).
pub fn count_args(cmd: &str) -> usize {
    let mut tokens = 0usize;
    let mut in_token = false;
    let mut quoted = false;
    for c in cmd.chars() {
        if c == '"' {
            quoted = !quoted;
            if !in_token {
                in_token = true;
                tokens += 1;
            }
        } else if c.is_whitespace() && !quoted {
            in_token = false;
        } else if !in_token {
            in_token = true;
            tokens += 1;
        }
    }
    tokens.saturating_sub(1)
}

#[cfg(test)]
mod tests;
