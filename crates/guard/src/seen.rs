//! Newly seen domains, offline: a bounded memory of the registrable domains this installation's
//! own mail flow has carried (sender and link domains → first and last seen), plus an optional
//! list of newly registered domains the user supplies (one per line, from any NRD feed).
//!
//! A phishing campaign usually sends from and links to domains registered days before; a mail
//! flow that has never carried a domain before is the local view of that. Two named,
//! rule-based signals come out of it, each with a fixed log-odds weight added to the phishing
//! model's score (the model itself is not retrained, its weights are unchanged):
//!
//! - `newly_seen_domain` ([`NEWLY_SEEN_WEIGHT`] = +0.8): a sender or link domain never seen
//!   before, or first seen less than `new_days` ago. Fires only after the memory has seen
//!   `warmup` messages, so a fresh install does not flag every domain. +0.8 is about the weight
//!   the model learned for an impersonal greeting (+0.85) and below urgency language (+1.12) and
//!   an IP-literal link (+1.24): novelty alone is weak evidence (new correspondents are common),
//!   so alone it cannot lift a typical clean message (score ≈ 0.02, log-odds −3.9) over the
//!   suspicious threshold (0.11, log-odds −2.1), but it tips a message that is already close.
//! - `newly_registered_domain` ([`NEWLY_REGISTERED_WEIGHT`] = +1.2): a sender or link domain on
//!   the user's newly-registered list; stronger (about an IP-literal link), because the list is
//!   outside evidence of a fresh registration. Fires from the first message.
//!
//! Each signal counts once per message however many domains fire; the evidence names up to
//! three ("first seen today: examp1e-login.com").
//!
//! Memory is bounded: at `cap` domains the least recently seen one is forgotten (not the first
//! seen: that would forget the most established correspondents first and flag them again).
//! The memory serialises to a small JSON document; callers decide where it lives.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::mail::registrable_domain;
use crate::{GuardError, Signal};

/// Log-odds added when a sender or link domain is newly seen.
pub const NEWLY_SEEN_WEIGHT: f32 = 0.8;
/// Log-odds added when a sender or link domain is on the newly-registered list.
pub const NEWLY_REGISTERED_WEIGHT: f32 = 1.2;

const DAY: u64 = 86_400;
/// The file format version [`SeenDomains::to_json`] writes.
const FORMAT: u32 = 1;

/// How the memory judges novelty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenConfig {
    /// Domains remembered at most; the least recently seen is forgotten beyond.
    pub cap: usize,
    /// Messages the memory must have seen before `newly_seen_domain` fires.
    pub warmup: u64,
    /// A domain first seen less than this many days ago still counts as new (0: only domains
    /// never seen before).
    pub new_days: u32,
}

impl Default for SeenConfig {
    fn default() -> Self {
        SeenConfig {
            cap: 100_000,
            warmup: 200,
            new_days: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    first: u64,
    last: u64,
    messages: u64,
}

/// The seen-domain memory and the newly-registered list.
#[derive(Clone, Debug)]
pub struct SeenDomains {
    config: SeenConfig,
    domains: HashMap<String, Entry>,
    /// (last seen, domain): the eviction order.
    by_last: BTreeSet<(u64, String)>,
    messages: u64,
    nrd: HashSet<String>,
}

#[derive(Serialize, Deserialize)]
struct Doc {
    format: u32,
    messages: u64,
    /// (domain, first seen, last seen, messages), times in Unix seconds.
    domains: Vec<(String, u64, u64, u64)>,
}

impl SeenDomains {
    pub fn new(config: SeenConfig) -> SeenDomains {
        SeenDomains {
            config: SeenConfig {
                cap: config.cap.max(1),
                ..config
            },
            domains: HashMap::new(),
            by_last: BTreeSet::new(),
            messages: 0,
            nrd: HashSet::new(),
        }
    }

    pub fn config(&self) -> SeenConfig {
        self.config
    }

    /// Messages observed so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Domains remembered.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// When `domain` (any host name; its registrable domain counts) was first seen.
    pub fn first_seen(&self, domain: &str) -> Option<u64> {
        self.domains
            .get(&registrable_domain(domain))
            .map(|e| e.first)
    }

    /// Adds a newly-registered-domains list: one domain per line, `#` comments and blank lines
    /// ignored, hosts reduced to their registrable domain. Returns how many were added.
    pub fn add_nrd_list(&mut self, text: &str) -> usize {
        let before = self.nrd.len();
        for line in text.lines() {
            let d = line.split('#').next().unwrap_or("").trim();
            // Some feeds add columns (date, registrar): the domain is the first field.
            let d = d.split([',', ' ', '\t']).next().unwrap_or("");
            if d.contains('.') {
                self.nrd.insert(registrable_domain(d));
            }
        }
        self.nrd.len() - before
    }

    /// Entries on the newly-registered list.
    pub fn nrd_len(&self) -> usize {
        self.nrd.len()
    }

    /// The signals for a message's domains at `now` (Unix seconds), without learning them.
    pub fn assess(&self, domains: &[String], now: u64) -> Vec<Signal> {
        let mut new = Vec::new();
        let mut registered = Vec::new();
        let warm = self.messages >= self.config.warmup;
        for d in unique(domains) {
            if self.nrd.contains(&d) {
                registered.push(format!("on the newly registered list: {d}"));
            }
            if !warm {
                continue;
            }
            match self.domains.get(&d) {
                None => new.push(format!("never seen before: {d}")),
                Some(e) => {
                    let age = now.saturating_sub(e.first);
                    if age < u64::from(self.config.new_days) * DAY {
                        if age < DAY {
                            new.push(format!("first seen today: {d}"));
                        } else {
                            new.push(format!("first seen {} days ago: {d}", age / DAY));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        if !new.is_empty() {
            out.push(Signal::new("newly_seen_domain", evidence(&new)).weighted(NEWLY_SEEN_WEIGHT));
        }
        if !registered.is_empty() {
            out.push(
                Signal::new("newly_registered_domain", evidence(&registered))
                    .weighted(NEWLY_REGISTERED_WEIGHT),
            );
        }
        out
    }

    /// Learns one message's domains at `now`.
    pub fn observe(&mut self, domains: &[String], now: u64) {
        self.messages += 1;
        for d in unique(domains) {
            match self.domains.get_mut(&d) {
                Some(e) => {
                    self.by_last.remove(&(e.last, d.clone()));
                    e.last = e.last.max(now);
                    e.messages += 1;
                    self.by_last.insert((e.last, d));
                }
                None => {
                    while self.domains.len() >= self.config.cap {
                        let Some((_, old)) = self.by_last.pop_first() else {
                            break;
                        };
                        self.domains.remove(&old);
                    }
                    self.domains.insert(
                        d.clone(),
                        Entry {
                            first: now,
                            last: now,
                            messages: 1,
                        },
                    );
                    self.by_last.insert((now, d));
                }
            }
        }
    }

    /// Assesses, then learns: the signals for this message.
    pub fn check_and_learn(&mut self, domains: &[String], now: u64) -> Vec<Signal> {
        let s = self.assess(domains, now);
        self.observe(domains, now);
        s
    }

    /// The memory (not the newly-registered list, which stays the user's file) as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut domains: Vec<(String, u64, u64, u64)> = self
            .domains
            .iter()
            .map(|(d, e)| (d.clone(), e.first, e.last, e.messages))
            .collect();
        domains.sort();
        serde_json::to_vec(&Doc {
            format: FORMAT,
            messages: self.messages,
            domains,
        })
        .expect("serialising plain data")
    }

    /// Reads what [`to_json`](Self::to_json) wrote, under `config` (a smaller cap keeps the
    /// most recently seen).
    pub fn from_json(bytes: &[u8], config: SeenConfig) -> Result<SeenDomains, GuardError> {
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| GuardError::Input(format!("seen-domains file: {e}")))?;
        if doc.format != FORMAT {
            return Err(GuardError::Input(format!(
                "seen-domains file: format {} (this build reads {FORMAT})",
                doc.format
            )));
        }
        let mut s = SeenDomains::new(config);
        s.messages = doc.messages;
        let mut rows = doc.domains;
        rows.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        for (d, first, last, messages) in rows.into_iter().take(s.config.cap) {
            let d = registrable_domain(&d);
            if d.is_empty() || s.domains.contains_key(&d) {
                continue;
            }
            s.by_last.insert((last, d.clone()));
            s.domains.insert(
                d,
                Entry {
                    first: first.min(last),
                    last,
                    messages,
                },
            );
        }
        Ok(s)
    }
}

fn unique(domains: &[String]) -> Vec<String> {
    let mut v: Vec<String> = domains
        .iter()
        .map(|d| registrable_domain(d))
        .filter(|d| d.contains('.'))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn evidence(items: &[String]) -> String {
    let mut e = items.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > 3 {
        e.push_str(&format!("; and {} more", items.len() - 3));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn d(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn names(s: &[Signal]) -> Vec<&'static str> {
        s.iter().map(|s| s.name).collect()
    }

    fn warm(cfg: SeenConfig) -> SeenDomains {
        let mut s = SeenDomains::new(cfg);
        for i in 0..cfg.warmup {
            s.observe(
                &d(&["gmail.com", &format!("list{}.example.org", i % 3)]),
                T0 - 10 * DAY,
            );
        }
        s
    }

    #[test]
    fn first_seen_fires_then_ages_out() {
        let cfg = SeenConfig {
            warmup: 5,
            new_days: 3,
            ..SeenConfig::default()
        };
        let mut s = warm(cfg);
        let a = s.assess(&d(&["mail.gmail.com"]), T0);
        assert!(a.is_empty(), "{a:?}");
        let sig = s.check_and_learn(&d(&["examp1e-login.com", "gmail.com"]), T0 + 10);
        assert_eq!(names(&sig), ["newly_seen_domain"]);
        assert_eq!(sig[0].evidence, "never seen before: examp1e-login.com");
        assert_eq!(sig[0].weight, NEWLY_SEEN_WEIGHT);
        assert_eq!(s.first_seen("www.examp1e-login.com"), Some(T0 + 10));
        let sig = s.assess(&d(&["https-host.examp1e-login.com"]), T0 + 3600);
        assert_eq!(sig[0].evidence, "first seen today: examp1e-login.com");
        let sig = s.assess(&d(&["examp1e-login.com"]), T0 + 10 + 2 * DAY);
        assert_eq!(sig[0].evidence, "first seen 2 days ago: examp1e-login.com");
        assert!(
            s.assess(&d(&["examp1e-login.com"]), T0 + 10 + 3 * DAY)
                .is_empty()
        );
        // new_days = 0: only the never-seen count.
        let mut s0 = warm(SeenConfig { new_days: 0, ..cfg });
        assert_eq!(s0.check_and_learn(&d(&["a.example"]), T0).len(), 1);
        assert!(s0.assess(&d(&["a.example"]), T0).is_empty());
    }

    #[test]
    fn nothing_fires_during_warm_up_but_it_learns() {
        let cfg = SeenConfig {
            warmup: 3,
            ..SeenConfig::default()
        };
        let mut s = SeenDomains::new(cfg);
        for k in 0..3 {
            assert!(
                s.check_and_learn(&d(&[&format!("d{k}.example")]), T0)
                    .is_empty()
            );
        }
        assert_eq!(s.messages(), 3);
        assert_eq!(s.len(), 3);
        assert_eq!(s.check_and_learn(&d(&["d9.example"]), T0).len(), 1);
        // What warm-up learnt still counts as new within new_days.
        assert_eq!(s.assess(&d(&["d0.example"]), T0 + 5 * DAY).len(), 0);
        assert_eq!(s.assess(&d(&["d0.example"]), T0 + DAY).len(), 1);
    }

    #[test]
    fn the_cap_forgets_the_least_recently_seen() {
        let cfg = SeenConfig {
            cap: 3,
            warmup: 0,
            new_days: 0,
        };
        let mut s = SeenDomains::new(cfg);
        s.observe(&d(&["old-but-busy.example"]), T0);
        s.observe(&d(&["b.example"]), T0 + 1);
        s.observe(&d(&["c.example"]), T0 + 2);
        s.observe(&d(&["old-but-busy.example"]), T0 + 3);
        s.observe(&d(&["e.example"]), T0 + 4);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.first_seen("b.example"),
            None,
            "least recently seen is gone"
        );
        assert_eq!(s.first_seen("old-but-busy.example"), Some(T0));
        assert!(s.first_seen("c.example").is_some() && s.first_seen("e.example").is_some());
        for k in 0..1000 {
            s.observe(&d(&[&format!("x{k}.example")]), T0 + 10 + k);
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.by_last.len(), 3);
    }

    #[test]
    fn the_memory_round_trips_through_json() {
        let cfg = SeenConfig {
            cap: 10,
            warmup: 2,
            new_days: 1,
        };
        let mut s = SeenDomains::new(cfg);
        s.observe(&d(&["a.example", "b.example"]), T0);
        s.observe(&d(&["b.example", "www.c.co.uk"]), T0 + 50);
        let bytes = s.to_json();
        let r = SeenDomains::from_json(&bytes, cfg).unwrap();
        assert_eq!(r.messages(), 2);
        assert_eq!(r.len(), 3);
        assert_eq!(r.first_seen("b.example"), Some(T0));
        assert_eq!(r.first_seen("c.co.uk"), Some(T0 + 50));
        assert_eq!(r.to_json(), bytes);
        assert_eq!(
            names(&r.assess(&d(&["a.example", "z.example"]), T0 + 2 * DAY)),
            ["newly_seen_domain"]
        );
        // A smaller cap keeps the most recently seen.
        let small = SeenDomains::from_json(&bytes, SeenConfig { cap: 2, ..cfg }).unwrap();
        assert_eq!(small.len(), 2);
        assert_eq!(small.first_seen("a.example"), None);
        // Broken or newer files are errors, not panics.
        assert!(SeenDomains::from_json(b"{", cfg).is_err());
        assert!(SeenDomains::from_json(br#"{"format":9,"messages":0,"domains":[]}"#, cfg).is_err());
    }

    #[test]
    fn the_newly_registered_list_fires_from_the_first_message() {
        let mut s = SeenDomains::new(SeenConfig::default());
        let n = s.add_nrd_list(
            "# NRD feed\nfresh-login.com\n\nWWW.Second.example,2026-11-27\nnot-a-domain\n",
        );
        assert_eq!(n, 2);
        let sig = s.check_and_learn(&d(&["auth.fresh-login.com", "gmail.com"]), T0);
        assert_eq!(names(&sig), ["newly_registered_domain"]);
        assert_eq!(
            sig[0].evidence,
            "on the newly registered list: fresh-login.com"
        );
        assert_eq!(sig[0].weight, NEWLY_REGISTERED_WEIGHT);
        assert_eq!(
            names(&s.assess(&d(&["second.example"]), T0)),
            ["newly_registered_domain"]
        );
    }

    #[test]
    fn evidence_names_three_and_counts_the_rest() {
        let s = warm(SeenConfig {
            warmup: 1,
            ..SeenConfig::default()
        });
        let sig = s.assess(&d(&["a.ex", "b.ex", "c.ex", "d.ex", "e.ex"]), T0);
        assert_eq!(sig.len(), 1);
        assert!(
            sig[0].evidence.ends_with("; and 2 more"),
            "{}",
            sig[0].evidence
        );
    }
}
