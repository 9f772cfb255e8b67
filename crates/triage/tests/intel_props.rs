//! Property tests of threat-intel import and matching: importers never panic and always name
//! the file in what they report; the compiled matcher finds exactly what a linear scan over
//! the indicators finds.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ipnet::IpNet;
use palisade_event::{Event, Origin};
use palisade_triage::intel::model::{self, Indicator, IndicatorKind};
use palisade_triage::intel::{ImportOptions, IntelFormat, IntelScratch, IntelSet, import};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

const FORMATS: [IntelFormat; 5] = [
    IntelFormat::Auto,
    IntelFormat::Stix,
    IntelFormat::Misp,
    IntelFormat::Csv,
    IntelFormat::Txt,
];

fn check_import(bytes: &[u8]) {
    for format in FORMATS {
        let mut opts = ImportOptions::new("p", now());
        opts.format = format;
        match import(bytes, "fuzz.in", &opts) {
            Ok(got) => {
                for w in &got.warnings {
                    assert_eq!(w.file, "fuzz.in");
                }
                for i in &got.indicators {
                    assert!(i.confidence <= 100);
                    assert_eq!(i.source, "p");
                    // What an importer yields is already normal: normalising again changes nothing.
                    let again = model::normalize(&i.value, model::TypeHint::Kind(i.kind));
                    assert_eq!(again, Ok((i.kind, i.value.clone())), "{i:?}");
                }
                assert!(got.warnings.len() as u64 <= got.skipped_total());
            }
            Err(e) => assert_eq!(e.file, "fuzz.in"),
        }
    }
}

/// JSON-shaped inputs reach deeper into the STIX and MISP readers than random bytes.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        prop_oneof![
            Just("indicator".to_owned()),
            Just("stix".to_owned()),
            Just("[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'a.com']".to_owned()),
            Just("[file:hashes.'SHA-256' IN ('ab', 'cd')] AND [x:y = 'z']".to_owned()),
            Just("ip-dst|port".to_owned()),
            Just("domain|ip".to_owned()),
            Just("evil.com|1.2.3.4".to_owned()),
            Just("2024-01-01T00:00:00Z".to_owned()),
            "[\\PC]{0,20}",
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("type"),
            Just("pattern"),
            Just("pattern_type"),
            Just("objects"),
            Just("Event"),
            Just("Attribute"),
            Just("Object"),
            Just("value"),
            Just("to_ids"),
            Just("valid_until"),
            Just("confidence"),
            Just("revoked"),
            Just("response"),
            Just("threat_level_id"),
            Just("labels"),
            Just("Tag"),
            Just("name"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((key, inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn importers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_import(&bytes);
    }

    #[test]
    fn importers_never_panic_on_text_lines(
        lines in prop::collection::vec(
            prop_oneof!["[ -~]{0,40}", Just("indicator,type,confidence,expires".to_owned()),
                        Just("\"a\",\"b".to_owned()), Just("# id,url,threat".to_owned()),
                        Just("hxxp://evil[.]com/a".to_owned()), Just("0.0.0.0 x.com".to_owned())],
            0..12)
    ) {
        check_import(lines.join("\n").as_bytes());
    }

    #[test]
    fn importers_never_panic_on_json(v in json_value()) {
        check_import(v.to_string().as_bytes());
    }
}

// ---- the matcher against a linear scan ----

/// Addresses over a few /16 buckets of the IPv4 index, so networks and lookups cross them.
fn v4() -> impl Strategy<Value = String> {
    (
        0u8..3,
        0u8..4,
        0u8..8,
        prop::sample::select(vec![8u8, 15, 16, 24, 28, 29, 30, 31, 32]),
        any::<bool>(),
    )
        .prop_map(|(b, c, d, len, net)| {
            if net {
                format!("10.{b}.{c}.{d}/{len}")
            } else {
                format!("10.{b}.{c}.{d}")
            }
        })
}

fn v6() -> impl Strategy<Value = String> {
    (
        0u16..4,
        0u16..8,
        prop::sample::select(vec![32u8, 64, 120, 126, 128]),
    )
        .prop_map(|(c, d, len)| format!("2001:db8::{c}:{d}/{len}"))
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "evil", "com", "net", "x-y"]),
        1..5,
    )
    .prop_map(|l| l.join("."))
}

fn url() -> impl Strategy<Value = String> {
    (
        name(),
        prop::sample::select(vec!["", "/", "/a", "/a?x=1", "/b", "/a?y"]),
    )
        .prop_map(|(h, p)| format!("http://{h}{p}"))
}

const HASHES: [&str; 4] = [
    "00112233445566778899aabbccddeeff",
    "00112233445566778899aabbccddee00",
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "0011223344556677889900112233445566778899",
];

fn random_case(s: &str, flips: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if flips >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn indicator() -> impl Strategy<Value = Indicator> {
    let value = prop_oneof![
        v4().prop_map(|v| (model::TypeHint::Ip, v)),
        v6().prop_map(|v| (model::TypeHint::Ip, v)),
        name().prop_map(|v| (model::TypeHint::Kind(IndicatorKind::Domain), v)),
        url().prop_map(|v| (model::TypeHint::Kind(IndicatorKind::Url), v)),
        prop::sample::select(HASHES.to_vec()).prop_map(|v| (model::TypeHint::Hash, v.to_owned())),
    ];
    (
        value,
        prop::option::of(-30i64..30),
        0u8..=100,
        prop::sample::select(vec!["s1", "s2"]),
    )
        .prop_filter_map("value must normalise", |((hint, v), until, conf, src)| {
            let (kind, value) = model::normalize(&v, hint).ok()?;
            let mut i = Indicator::new(kind, value, src, conf);
            i.valid_until = until.map(|d| now() + Duration::days(d));
            Some(i)
        })
}

#[derive(Debug, Clone)]
struct Query {
    ip: Option<String>,
    host: Option<String>,
    url: Option<String>,
    /// A Zeek http record: `host` (maybe with a port) and a path-only `uri`.
    http: Option<(String, String)>,
    hash: Option<String>,
    time: Option<i64>,
}

fn query() -> impl Strategy<Value = Query> {
    let ip = prop_oneof![
        (0u8..4, 0u8..4, 0u8..8).prop_map(|(b, c, d)| format!("10.{b}.{c}.{d}")),
        (0u8..4, 0u8..8).prop_map(|(c, d)| format!("::ffff:10.0.{c}.{d}")),
        (0u16..4, 0u16..8).prop_map(|(c, d)| format!("2001:db8::{c}:{d}")),
        Just("-".to_owned()),
    ];
    let host = (name(), any::<u64>(), any::<bool>()).prop_map(|(n, flips, dot)| {
        format!("{}{}", random_case(&n, flips), if dot { "." } else { "" })
    });
    let hash =
        (prop::sample::select(HASHES.to_vec()), any::<u64>()).prop_map(|(h, f)| random_case(h, f));
    let http = (
        name(),
        any::<u64>(),
        prop::sample::select(vec!["", ":80", ":443", ":8080"]),
        prop::sample::select(vec!["/", "/a", "/a?x=1", "/b", "/a?y"]),
    )
        .prop_map(|(h, flips, port, path)| {
            (format!("{}{port}", random_case(&h, flips)), path.to_owned())
        });
    (
        prop::option::of(ip),
        prop::option::of(host),
        prop::option::of(url()),
        prop::option::of(hash),
        prop::option::of(-40i64..40),
        prop::option::of(http),
    )
        .prop_map(|(ip, host, url, hash, time, http)| Query {
            ip,
            host,
            url,
            http,
            hash,
            time,
        })
}

/// What a linear scan over the indicators finds for one query, with none of the matcher's
/// structures: `IpNet::contains`, string suffix tests, plain equality.
fn linear(inds: &[Indicator], q: &Query) -> BTreeSet<usize> {
    let at = q.time.map_or(now(), |d| now() + Duration::days(d));
    let ip_hits = |text: &str, out: &mut BTreeSet<usize>| {
        let Ok(ip) = text.parse::<IpAddr>() else {
            return;
        };
        let ip = ip.to_canonical();
        for (i, ind) in inds.iter().enumerate() {
            if matches!(ind.kind, IndicatorKind::Ipv4 | IndicatorKind::Ipv6)
                && ind
                    .value
                    .parse::<IpNet>()
                    .ok()
                    .or_else(|| ind.value.parse::<IpAddr>().ok().map(IpNet::from))
                    .is_some_and(|n| n.contains(&ip))
            {
                out.insert(i);
            }
        }
    };
    let domain_hits = |host: &str, out: &mut BTreeSet<usize>| {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        for (i, ind) in inds.iter().enumerate() {
            if ind.kind == IndicatorKind::Domain
                && (h == ind.value || h.ends_with(&format!(".{}", ind.value)))
            {
                out.insert(i);
            }
        }
    };
    let mut out = BTreeSet::new();
    if let Some(ip) = &q.ip {
        ip_hits(ip, &mut out);
    }
    if let Some(h) = &q.host {
        domain_hits(h, &mut out);
    }
    if let Some(u) = &q.url {
        let key = model::normalize_url(u).unwrap();
        let host = key.split('/').next().unwrap().to_owned();
        domain_hits(&host, &mut out);
        let no_query = key.split('?').next().unwrap().to_owned();
        for (i, ind) in inds.iter().enumerate() {
            if ind.kind == IndicatorKind::Url && (ind.value == key || ind.value == no_query) {
                out.insert(i);
            }
        }
    }
    if let Some((host, path)) = &q.http {
        // The host field is a host; the uri joins it.
        let (h, _) = model::split_host_port(host);
        domain_hits(h, &mut out);
        let key = model::normalize_url(&format!("{host}{path}")).unwrap();
        let no_query = key.split('?').next().unwrap().to_owned();
        for (i, ind) in inds.iter().enumerate() {
            if ind.kind == IndicatorKind::Url && (ind.value == key || ind.value == no_query) {
                out.insert(i);
            }
        }
    }
    if let Some(h) = &q.hash {
        for (i, ind) in inds.iter().enumerate() {
            if ind.kind.is_hash() && ind.value.eq_ignore_ascii_case(h) {
                out.insert(i);
            }
        }
    }
    out.retain(|&i| inds[i].valid_until.is_none_or(|u| u >= at));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees_with_linear_scan(
        inds in prop::collection::vec(indicator(), 0..40),
        queries in prop::collection::vec(query(), 1..8),
    ) {
        let set = IntelSet::with_now(inds.clone(), now());
        prop_assert_eq!(set.invalid(), 0);
        let mut scratch = IntelScratch::default();
        for q in &queries {
            let mut e = Event::new(Origin::new(Arc::from("q"), 1), "json");
            if let Some(v) = &q.ip { e.insert_named("source.ip", v.as_str().into()).unwrap(); }
            if let Some(v) = &q.host { e.insert_named("dns.question.name", v.as_str().into()).unwrap(); }
            if let Some(v) = &q.url { e.insert_named("url.full", v.as_str().into()).unwrap(); }
            if let Some(v) = &q.hash { e.insert_named("file.hash.sha256", v.as_str().into()).unwrap(); }
            if let Some((h, p)) = &q.http {
                e.insert_named("host", h.as_str().into()).unwrap();
                e.insert_named("uri", p.as_str().into()).unwrap();
            }
            e.timestamp = q.time.map(|d| now() + Duration::days(d));
            let mut hits = Vec::new();
            set.match_event(&e, &mut scratch, &mut hits);
            let got: BTreeSet<usize> = hits.iter().map(|h| h.indicator as usize).collect();
            prop_assert_eq!(got.len(), hits.len(), "an indicator reported twice");
            prop_assert_eq!(got, linear(set.indicators(), q), "query {:?}", q);
        }
    }
}
