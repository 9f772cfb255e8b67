use chrono::TimeZone;
use palisade_event::Origin;

use super::*;

fn ind(kind: IndicatorKind, value: &str, source: &str, confidence: u8) -> Indicator {
    Indicator::new(kind, value.to_owned(), source, confidence)
}

fn event(fields: &[(&str, &str)]) -> Event {
    let mut e = Event::new(Origin::new(Arc::from("t.log"), 3), "json");
    for (k, v) in fields {
        e.insert_named(k, (*v).into()).unwrap();
    }
    e
}

fn hits(set: &IntelSet, e: &Event) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    set.match_event(e, &mut IntelScratch::default(), &mut out);
    out.into_iter()
        .map(|h| {
            (
                set.indicators()[h.indicator as usize].value.clone(),
                h.field,
            )
        })
        .collect()
}

fn set() -> IntelSet {
    IntelSet::with_now(
        vec![
            ind(IndicatorKind::Ipv4, "198.51.100.7", "feed", 90),
            ind(IndicatorKind::Ipv4, "10.0.0.0/8", "wide", 20),
            ind(IndicatorKind::Ipv6, "2001:db8::/32", "feed", 60),
            ind(IndicatorKind::Domain, "evil.com", "feed", 70),
            ind(IndicatorKind::Url, "bad.org/gate.php", "feed", 80),
            ind(IndicatorKind::Sha256, &"ab".repeat(32), "feed", 95),
            ind(IndicatorKind::Md5, &"cd".repeat(16), "feed", 95),
            ind(IndicatorKind::Domain, "not a domain", "feed", 95),
        ],
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    )
}

#[test]
fn addresses_and_networks() {
    let s = set();
    assert_eq!(s.invalid(), 1);
    assert_eq!(
        hits(&s, &event(&[("source.ip", "198.51.100.7")])),
        [("198.51.100.7".into(), "source.ip")]
    );
    assert_eq!(
        hits(&s, &event(&[("destination.ip", "10.9.8.7")])),
        [("10.0.0.0/8".into(), "destination.ip")]
    );
    assert_eq!(hits(&s, &event(&[("id.resp_h", "2001:DB8:1::5")])).len(), 1);
    assert_eq!(
        hits(&s, &event(&[("IpAddress", "::ffff:198.51.100.7")])).len(),
        1
    );
    assert!(hits(&s, &event(&[("source.ip", "198.51.100.8")])).is_empty());
    assert!(hits(&s, &event(&[("source.ip", "-")])).is_empty());
}

#[test]
fn domains_match_subdomains_only_at_label_boundaries() {
    let s = set();
    for name in ["evil.com", "a.b.EVIL.com.", "x.evil.com:443"] {
        assert_eq!(
            hits(&s, &event(&[("dns.question.name", name)])).len(),
            1,
            "{name}"
        );
    }
    for name in ["notevil.com", "evil.com.au", "com", "evil"] {
        assert!(hits(&s, &event(&[("query", name)])).is_empty(), "{name}");
    }
    // Sysmon DestinationHostname may hold an address.
    assert_eq!(
        hits(&s, &event(&[("DestinationHostname", "10.1.1.1")])).len(),
        1
    );
}

#[test]
fn urls_full_and_zeek_host_plus_uri() {
    let s = set();
    for url in [
        "http://BAD.org/gate.php",
        "https://bad.org:443/gate.php?id=1",
        "bad.org/gate.php#frag",
    ] {
        assert_eq!(
            hits(&s, &event(&[("url.full", url)])),
            [("bad.org/gate.php".into(), "url.full")],
            "{url}"
        );
    }
    assert!(hits(&s, &event(&[("url.full", "http://bad.org/gate.php2")])).is_empty());
    // Zeek http: host + uri.
    assert_eq!(
        hits(&s, &event(&[("host", "bad.org"), ("uri", "/gate.php?x")])),
        [("bad.org/gate.php".into(), "uri")]
    );
    // A URL's host is checked against domain indicators too.
    assert_eq!(
        hits(&s, &event(&[("url.full", "http://cdn.evil.com/x")])),
        [("evil.com".into(), "url.full")]
    );
}

#[test]
fn hashes_any_case_and_sysmon_lists() {
    let s = set();
    let sha = "AB".repeat(32);
    assert_eq!(hits(&s, &event(&[("file.hash.sha256", &sha)])).len(), 1);
    let list = format!(
        "SHA1={},MD5={},SHA256={},IMPHASH={}",
        "0".repeat(40),
        "CD".repeat(16),
        "1".repeat(64),
        "cd".repeat(16)
    );
    let got = hits(&s, &event(&[("Hashes", &list)]));
    assert_eq!(got, [("cd".repeat(16), "Hashes")]);
    // IMPHASH alone is not a file hash.
    assert!(
        hits(
            &s,
            &event(&[("Hashes", &format!("IMPHASH={}", "cd".repeat(16)))])
        )
        .is_empty()
    );
}

#[test]
fn each_indicator_once_per_event_and_aliases_read_once() {
    let s = set();
    let e = event(&[
        ("source.ip", "10.0.0.1"),
        ("destination.ip", "10.0.0.2"),
        ("id.orig_h", "10.0.0.1"),
    ]);
    assert_eq!(hits(&s, &e), [("10.0.0.0/8".into(), "source.ip")]);
}

fn aliases() -> &'static palisade_event::AliasTable {
    static T: std::sync::OnceLock<palisade_event::AliasTable> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        palisade_event::AliasTable::new(&[
            ("destination.ip", "id.resp_h"),
            ("dns.question.name", "custom_query"),
            ("host.name", "Computer"),
        ])
    })
}

#[test]
fn alias_targets_are_read_under_their_own_names() {
    let s = set();
    let mut e = event(&[
        ("custom_query", "x.evil.com"),
        ("id.resp_h", "198.51.100.7"),
        ("Computer", "10.1.1.1"),
    ]);
    e.set_aliases(aliases());
    // `custom_query` is read because the alias table makes it `dns.question.name`; `Computer`
    // is an alias target too, but of a name the detector does not read.
    assert_eq!(
        hits(&s, &e),
        [
            ("evil.com".into(), "custom_query"),
            ("198.51.100.7".into(), "id.resp_h")
        ]
    );
    let mut plain = event(&[("custom_query", "x.evil.com")]);
    assert!(
        hits(&s, &plain).is_empty(),
        "without the alias table it is an unknown field"
    );
    plain.set_aliases(aliases());
    assert_eq!(hits(&s, &plain).len(), 1);
}

#[test]
fn expiry_against_event_time_else_now() {
    let mut i = ind(IndicatorKind::Domain, "old.com", "feed", 50);
    i.valid_until = Some(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let s = IntelSet::with_now(vec![i], now);
    let mut e = event(&[("query", "old.com")]);
    assert!(
        hits(&s, &e).is_empty(),
        "no event time: compared with now, expired"
    );
    e.timestamp = Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap());
    assert_eq!(hits(&s, &e).len(), 1, "event before expiry");
    e.timestamp = Some(Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap());
    assert!(hits(&s, &e).is_empty(), "event after expiry");
}

#[test]
fn alerts_carry_the_indicator() {
    let s = set();
    let mut e = event(&[("source.ip", "198.51.100.7"), ("host.name", "ws1")]);
    e.timestamp = Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap());
    let mut h = Vec::new();
    s.match_event(&e, &mut IntelScratch::default(), &mut h);
    let a = s.alert(&h[0], Arc::new(e));
    assert_eq!(a.detector, "ioc");
    assert_eq!(a.rule.id, "ioc:feed");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.host.as_deref(), Some("ws1"));
    let ev: std::collections::HashMap<_, _> = a.evidence.iter().cloned().collect();
    assert_eq!(ev["indicator"], "198.51.100.7");
    assert_eq!(ev["indicator.kind"], "ipv4");
    assert_eq!(ev["matched.field"], "source.ip");
    assert_eq!(ev["intel.source"], "feed");
    assert_eq!(ev["intel.confidence"], "90");
    assert_eq!(ev["intel.valid_until"], "never");
    assert_eq!(a.origins[0].position, 3);
    // One rule per source, shared.
    assert_eq!(s.rules().len(), 2);
}

#[test]
fn severity_scale() {
    assert_eq!(severity_for(0), Severity::Informational);
    assert_eq!(severity_for(20), Severity::Low);
    assert_eq!(severity_for(79), Severity::Medium);
    assert_eq!(severity_for(100), Severity::High);
}

#[test]
fn fast_ipv4_parser_accepts_what_std_accepts() {
    let cases = [
        "1.2.3.4",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "1.2.3.4 ",
        "a.b.c.d",
        "1.2.3.-4",
        "10.0.0.10",
        "100.200.250.199",
        "0.0.0.00",
        "1.2.3.4:80",
        "",
    ];
    for c in cases {
        let std = c.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
        assert_eq!(parse_ipv4(c.as_bytes()), std, "{c:?}");
    }
    for n in (0..=u32::MAX).step_by(7_777_777) {
        let s = std::net::Ipv4Addr::from(n).to_string();
        assert_eq!(parse_ipv4(s.as_bytes()), Some(n));
    }
}

#[test]
fn one_scratch_across_layouts_and_sets() {
    let s = set();
    let mut scratch = IntelScratch::default();
    let mut run = |set: &IntelSet, e: &Event| {
        let mut out = Vec::new();
        set.match_event(e, &mut scratch, &mut out);
        out.len()
    };
    // Same position, different fields: the remembered layout must not be trusted blindly.
    let a = event(&[("source.ip", "198.51.100.7"), ("query", "evil.com")]);
    let b = event(&[("note", "198.51.100.7"), ("comment", "evil.com")]);
    let c = event(&[
        ("query", "evil.com"),
        ("source.ip", "198.51.100.7"),
        ("x", "1"),
        ("md5", &"cd".repeat(16)),
    ]);
    for _ in 0..2 {
        assert_eq!(run(&s, &a), 2);
        assert_eq!(run(&s, &b), 0);
        assert_eq!(run(&s, &c), 3);
    }
    // Another set through the same scratch.
    let only_hashes = IntelSet::new(vec![ind(IndicatorKind::Md5, &"cd".repeat(16), "h", 50)]);
    assert_eq!(run(&only_hashes, &a), 0);
    assert_eq!(run(&only_hashes, &c), 1);
    assert_eq!(run(&s, &c), 3);
}

#[test]
fn repeated_values_still_hit_after_a_dedupe_or_an_expiry() {
    let mut old = ind(IndicatorKind::Domain, "old.com", "feed", 50);
    old.valid_until = Some(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
    let s = IntelSet::with_now(
        vec![old, ind(IndicatorKind::Ipv4, "198.51.100.7", "feed", 50)],
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
    );
    let mut scratch = IntelScratch::default();
    let mut count = |e: &Event| {
        let mut out = Vec::new();
        s.match_event(e, &mut scratch, &mut out);
        out.len()
    };
    let at = |m| Some(Utc.with_ymd_and_hms(2024, m, 1, 0, 0, 0).unwrap());
    // After expiry, then before: the same value at the same position must hit the second time.
    let mut late = event(&[("query", "old.com")]);
    late.timestamp = at(7);
    let mut early = late.clone();
    early.timestamp = at(5);
    assert_eq!(count(&late), 0);
    assert_eq!(count(&early), 1);
    // Deduplicated within one event (second field), then alone at that position.
    let twice = event(&[
        ("source.ip", "198.51.100.7"),
        ("destination.ip", "198.51.100.7"),
    ]);
    let second_only = event(&[
        ("source.ip", "10.0.0.1"),
        ("destination.ip", "198.51.100.7"),
    ]);
    assert_eq!(count(&twice), 1);
    assert_eq!(count(&second_only), 1);
    // A value that matched nothing, repeated, still matches nothing; then a hit at the position.
    let miss = event(&[("source.ip", "10.0.0.1")]);
    assert_eq!(count(&miss), 0);
    assert_eq!(count(&miss), 0);
    assert_eq!(count(&event(&[("source.ip", "198.51.100.7")])), 1);
}
