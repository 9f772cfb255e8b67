//! `palisade serve`: the always-on service.
//!
//! ```text
//! sources (HTTP, syslog UDP/TCP, file tail, dir watch)
//!    └─► Ingress ─► write-ahead log (group commit; ack after this) ─► pipeline thread
//!                                                    parse → sigma, ioc, anomaly/ueba/beacon
//!                                                    → triage → store (one transaction per
//!                                                    batch, with the applied sequence number)
//!                                                    → respond thread: playbooks → nftables,
//!                                                    decisions, approvals (respond.rs)
//! HTTP: /api/v1/… (tokens with roles, OpenAPI), web UI, /metrics
//! [guard_proxy]: OpenAI-compatible LLM firewall on its own listener (guard_proxy/)
//! ```
//!
//! Library code never prints; it logs through `tracing`, and the binary decides where logs go.

pub mod api;
pub mod auth;
pub mod config;
pub mod demo;
pub mod guard_proxy;
pub mod ingress;
pub mod intel;
pub mod metrics;
pub mod pipeline;
pub mod respond;
pub mod serve;
pub mod session;
pub mod sources;
pub mod state;
pub mod tls;
pub mod ui;
pub mod vuln;
pub mod wal;
