//! Prometheus metrics (`GET /metrics`, text exposition format).
//!
//! Labels are bounded: sources are labelled by their configured name (never by file path or
//! peer address), detectors by their fixed names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DetectorLabel {
    pub detector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardFindingLabel {
    pub direction: String,
    pub kind: String,
    pub verdict: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric Palisade serve exports.
pub struct Metrics {
    registry: Registry,
    pub events_in: Family<SourceLabel, Counter>,
    pub parse_errors: Family<SourceLabel, Counter>,
    pub udp_dropped: Family<SourceLabel, Counter>,
    pub queue_depth: Gauge,
    pub rejected: Counter,
    pub events_applied: Counter,
    pub alerts: Family<DetectorLabel, Counter>,
    pub incidents_created: Counter,
    pub incidents_updated: Counter,
    pub detector_seconds: HistogramFamily<DetectorLabel>,
    pub batch_seconds: Histogram,
    pub ingest_ack_seconds: Histogram,
    pub wal_append_seconds: Histogram,
    pub wal_bytes: Gauge,
    pub wal_segments: Gauge,
    pub snapshots: Counter,
    pub decisions_active: Gauge,
    pub bouncer_pulls: Counter,
    /// Response actions recorded, by the state they were recorded in.
    pub respond_actions: Family<StateLabel, Counter>,
    /// Planned actions skipped because the same target was handled within the cooldown.
    pub respond_skipped: Counter,
    /// Incidents the responder never saw (its queue was full).
    pub respond_dropped: Counter,
    /// Authentication assessments, by decision (allow, challenge, deny).
    pub auth_assessments: Family<DecisionLabel, Counter>,
    /// Authentication events (challenges, denies, outcomes) not handed to the pipeline
    /// because the ingest queue was full.
    pub auth_events_dropped: Counter,
    /// LLM firewall requests, by outcome (forwarded, blocked, refused, upstream_error).
    pub guard_proxy_requests: Family<OutcomeLabel, Counter>,
    /// LLM firewall findings, by direction, kind and verdict.
    pub guard_proxy_findings: Family<GuardFindingLabel, Counter>,
    /// LLM firewall events not handed to the pipeline because the ingest queue was full.
    pub guard_proxy_events_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("palisade");
        let m = Metrics {
            events_in: Family::default(),
            parse_errors: Family::default(),
            udp_dropped: Family::default(),
            queue_depth: Gauge::default(),
            rejected: Counter::default(),
            events_applied: Counter::default(),
            alerts: Family::default(),
            incidents_created: Counter::default(),
            incidents_updated: Counter::default(),
            detector_seconds: Family::new_with_constructor(latency_histogram),
            batch_seconds: latency_histogram(),
            ingest_ack_seconds: latency_histogram(),
            wal_append_seconds: latency_histogram(),
            wal_bytes: Gauge::default(),
            wal_segments: Gauge::default(),
            snapshots: Counter::default(),
            decisions_active: Gauge::default(),
            bouncer_pulls: Counter::default(),
            respond_actions: Family::default(),
            respond_skipped: Counter::default(),
            respond_dropped: Counter::default(),
            auth_assessments: Family::default(),
            auth_events_dropped: Counter::default(),
            guard_proxy_requests: Family::default(),
            guard_proxy_findings: Family::default(),
            guard_proxy_events_dropped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_received",
            "Records accepted into the write-ahead log, per source",
            m.events_in.clone(),
        );
        registry.register(
            "parse_errors",
            "Records that could not be parsed, per source",
            m.parse_errors.clone(),
        );
        registry.register(
            "syslog_udp_dropped",
            "Syslog datagrams dropped because the ingest queue was full, per listener",
            m.udp_dropped.clone(),
        );
        registry.register(
            "queue_depth",
            "Records acknowledged and not yet applied by the pipeline",
            m.queue_depth.clone(),
        );
        registry.register(
            "ingest_rejected_records",
            "Records refused because the ingest queue was full (HTTP 429)",
            m.rejected.clone(),
        );
        registry.register(
            "events_applied",
            "Events through the whole pipeline and stored",
            m.events_applied.clone(),
        );
        registry.register("alerts", "Alerts raised, per detector", m.alerts.clone());
        registry.register(
            "incidents_created",
            "Incidents opened by triage",
            m.incidents_created.clone(),
        );
        registry.register(
            "incidents_updated",
            "Open incidents that absorbed new alerts",
            m.incidents_updated.clone(),
        );
        registry.register(
            "detector_seconds",
            "Time per pipeline batch spent in each detector",
            m.detector_seconds.clone(),
        );
        registry.register(
            "batch_seconds",
            "Time to apply one pipeline batch (parse, detect, triage, store)",
            m.batch_seconds.clone(),
        );
        registry.register(
            "ingest_ack_seconds",
            "HTTP ingest latency from request to acknowledgement",
            m.ingest_ack_seconds.clone(),
        );
        registry.register(
            "wal_append_seconds",
            "Time per group append to the write-ahead log (including sync)",
            m.wal_append_seconds.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes in the write-ahead log",
            m.wal_bytes.clone(),
        );
        registry.register(
            "wal_segments",
            "Segment files in the write-ahead log",
            m.wal_segments.clone(),
        );
        registry.register(
            "snapshots",
            "Baseline snapshots written",
            m.snapshots.clone(),
        );
        registry.register(
            "decisions_active",
            "Decisions in force (what bouncers enforce)",
            m.decisions_active.clone(),
        );
        registry.register(
            "bouncer_pulls",
            "Authenticated bouncer requests to the decisions API",
            m.bouncer_pulls.clone(),
        );
        registry.register(
            "respond_actions",
            "Response actions recorded, by state (active, pending, dry-run, refused, failed, done)",
            m.respond_actions.clone(),
        );
        registry.register(
            "respond_skipped",
            "Planned actions skipped: the same target was handled within the playbook's cooldown",
            m.respond_skipped.clone(),
        );
        registry.register(
            "respond_dropped",
            "Incidents the responder never planned because its queue was full",
            m.respond_dropped.clone(),
        );
        registry.register(
            "auth_assessments",
            "Risk-based authentication assessments, by decision",
            m.auth_assessments.clone(),
        );
        registry.register(
            "auth_events_dropped",
            "Authentication events not handed to the pipeline because the ingest queue was full",
            m.auth_events_dropped.clone(),
        );
        registry.register(
            "guard_proxy_requests",
            "LLM firewall proxy requests, by outcome",
            m.guard_proxy_requests.clone(),
        );
        registry.register(
            "guard_proxy_findings",
            "LLM firewall proxy findings, by direction, kind and verdict",
            m.guard_proxy_findings.clone(),
        );
        registry.register(
            "guard_proxy_events_dropped",
            "LLM firewall events not handed to the pipeline because the ingest queue was full",
            m.guard_proxy_events_dropped.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn source(&self, name: &str) -> SourceLabel {
        SourceLabel {
            source: name.to_owned(),
        }
    }
}
