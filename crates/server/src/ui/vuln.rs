//! `/vuln`: the latest weakness scan — vulnerable packages by priority with the reasons and the
//! version to upgrade to, and host weaknesses with their fixes.

use axum::extract::State;
use maud::html;
use palisade_store::VulnStore;

use super::layout::{self, Nav};
use super::{PageResult, SignedIn};
use crate::state::AppState;

/// Rows shown per kind.
const MAX_ROWS: usize = 500;

pub async fn page(State(state): State<AppState>, who: SignedIn) -> PageResult {
    let (scan, findings) = state
        .db(|s| {
            let scan = s.latest_vuln_scan()?;
            let findings = match &scan {
                Some(sc) => s.vuln_findings(sc.id, MAX_ROWS * 2)?,
                None => Vec::new(),
            };
            Ok((scan, findings))
        })
        .await?;
    let packages: Vec<_> = findings.iter().filter(|f| f.kind == "package").collect();
    let host: Vec<_> = findings.iter().filter(|f| f.kind == "host").collect();
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    let body = html! {
        h1 { "Weaknesses" }
        @match &scan {
            None => p.muted { "No scan yet. Turn on [vuln] in the configuration (or run `palisade vuln scan --store`)." },
            Some(sc) => p.muted {
                "Last scan: " (layout::time_tag(chrono::DateTime::from_timestamp_millis(sc.finished_at)))
                " · " (sc.packages) " packages in " (sc.targets.join(", "))
                " · " (packages.len()) " vulnerable · " (host.len()) " host weaknesses"
            },
        }
        @if !packages.is_empty() {
            h2 { "Vulnerable packages" }
            table #vuln-packages {
                thead { tr { th.num { "Priority" } th { "Severity" } th { "Advisory" } th { "Package" } th { "Installed" } th { "Fix" } th { "Why" } } }
                tbody {
                    @for f in packages.iter().take(MAX_ROWS) {
                        tr {
                            td.num { (format!("{:.1}", f.priority)) }
                            td { (f.severity) }
                            td {
                                (f.id)
                                @for a in f.body["aliases"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).filter(|a| a.starts_with("CVE-")) {
                                    div.small.muted { (a) }
                                }
                            }
                            td { (text(&f.body, "package")) div.small.muted { (text(&f.body, "ecosystem")) } }
                            td { (text(&f.body, "installed")) }
                            td { @if f.body["fixed"].is_string() { (text(&f.body, "fixed")) } @else { span.muted { "none" } } }
                            td.small {
                                @for r in f.body["reasons"].as_array().into_iter().flatten() {
                                    div { (r["reason"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !host.is_empty() {
            h2 { "Host configuration" }
            table #vuln-host {
                thead { tr { th { "Severity" } th { "Weakness" } th { "Where" } th { "Seen" } th { "Fix" } } }
                tbody {
                    @for f in host.iter().take(MAX_ROWS) {
                        tr {
                            td { (f.severity) }
                            td { (text(&f.body, "title")) }
                            td.small { (f.target) }
                            td.small { (text(&f.body, "evidence")) }
                            td.small { (text(&f.body, "fix")) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Weaknesses", &who, Nav::Vuln, body))
}
