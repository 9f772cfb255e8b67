use super::*;
use chrono::DateTime;
use palisade_event::Origin;
use proptest::prelude::*;
use std::collections::HashSet;

fn event(format: &'static str, product: &str, service: &str, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(Origin::default(), format);
    if !product.is_empty() {
        e.meta.product = Some(product.into());
    }
    if !service.is_empty() {
        e.meta.service = Some(service.into());
    }
    for (k, v) in fields {
        e.insert_named(k, v.clone()).unwrap();
    }
    e
}

fn at(mut e: Event, secs: f64) -> Event {
    e.timestamp = DateTime::from_timestamp(secs.floor() as i64, (secs.fract() * 1e9) as u32);
    e
}

fn conn(src: &str, dst: &str, dport: i64, state: &str, ts: f64, label: &str) -> Event {
    let e = event(
        "zeek",
        "zeek",
        "conn",
        &[
            ("ts", Value::Float(ts)),
            ("id.orig_h", src.into()),
            ("id.orig_p", Value::Int(40000)),
            ("id.resp_h", dst.into()),
            ("id.resp_p", Value::Int(dport)),
            ("proto", "tcp".into()),
            ("duration", Value::Float(0.5)),
            ("orig_bytes", Value::Int(300)),
            (
                "resp_bytes",
                Value::Int(if state == "SF" { 4000 } else { 0 }),
            ),
            ("conn_state", state.into()),
            ("local_orig", Value::Bool(true)),
            ("local_resp", Value::Bool(false)),
            (
                "history",
                if state == "SF" { "ShADadfF" } else { "S" }.into(),
            ),
            ("orig_pkts", Value::Int(5)),
            ("resp_pkts", Value::Int(if state == "SF" { 5 } else { 0 })),
            ("label", label.into()),
            ("detailedlabel", format!("{label}-detail").into()),
        ],
    );
    at(e, ts)
}

#[test]
fn default_configs_are_valid_and_label_free() {
    for kind in SourceKind::ALL {
        let cfg = FeatureConfig::default_for(kind);
        assert_eq!(cfg.kind, kind);
        for f in cfg.fields() {
            assert!(!is_label_field(f), "{kind:?} reads label field {f}");
        }
        let x = Extractor::for_kind(kind);
        let names: HashSet<&String> = x.names().iter().collect();
        assert_eq!(names.len(), x.width(), "{kind:?}: duplicate column names");
        assert_eq!(x.transforms().len(), x.width());
        for n in x.names() {
            assert!(!is_label_field(n), "{kind:?}: column {n}");
        }
        // Configurations round-trip through serde.
        let json = serde_json::to_string(&cfg).unwrap();
        let back: FeatureConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }
    let nsl = Extractor::for_kind(SourceKind::NslKdd);
    assert_eq!(
        FeatureConfig::default_for(SourceKind::NslKdd).numeric.len(),
        38
    );
    assert_eq!(nsl.width(), 38 + 4 + 73 + 12);
    assert_eq!(
        FeatureConfig::default_for(SourceKind::UnswNb15)
            .numeric
            .len(),
        39
    );
    let zeek = Extractor::for_kind(SourceKind::ZeekConn);
    assert_eq!(
        zeek.width(),
        10 + 7 + 4 + 17 + 14 + FlowContext::width_for(1)
    );
}

#[test]
fn label_columns_are_refused() {
    for bad in [
        "label",
        "Label",
        "detailedlabel",
        "attack_cat",
        "difficulty",
    ] {
        let mut cfg = FeatureConfig::default_for(SourceKind::UnswNb15);
        cfg.numeric.push(NumericSpec {
            name: "x".into(),
            fields: vec![bad.into()],
            transform: Transform::None,
        });
        assert_eq!(
            Extractor::new(cfg).unwrap_err(),
            FeatureError::LabelField(bad.into())
        );
        let mut cfg = FeatureConfig::default_for(SourceKind::ZeekConn);
        cfg.categorical.push(CategorySpec {
            name: "y".into(),
            fields: vec![bad.into()],
            encoding: Encoding::Hash { m: 4 },
            seed: vec![],
            basename: false,
        });
        assert!(matches!(
            Extractor::new(cfg),
            Err(FeatureError::LabelField(_))
        ));
    }
}

#[test]
fn rows_do_not_depend_on_labels() {
    let mut a = Extractor::for_kind(SourceKind::ZeekConn);
    let mut b = Extractor::for_kind(SourceKind::ZeekConn);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let state = if i % 3 == 0 { "S0" } else { "SF" };
        let t = 1000.0 + i as f64;
        assert!(a.extract(
            &conn("10.0.0.1", "10.0.0.2", 80, state, t, "Benign"),
            &mut ra
        ));
        assert!(b.extract(
            &conn("10.0.0.1", "10.0.0.2", 80, state, t, "Malicious"),
            &mut rb
        ));
        assert_eq!(ra, rb);
    }
    // The same holds for flow CSV label columns.
    let row = |label: &str, cat: &str| {
        event(
            "flowcsv",
            "network",
            "unsw-nb15",
            &[
                ("dur", Value::Float(0.1)),
                ("proto", "tcp".into()),
                ("sbytes", Value::Int(100)),
                ("attack_cat", cat.into()),
                ("label", label.into()),
            ],
        )
    };
    let mut u = Extractor::for_kind(SourceKind::UnswNb15);
    u.extract(&row("0", "Normal"), &mut ra);
    let mut u2 = Extractor::for_kind(SourceKind::UnswNb15);
    u2.extract(&row("1", "Exploits"), &mut rb);
    assert_eq!(ra, rb);
}

#[test]
fn other_kinds_are_rejected() {
    let mut x = Extractor::for_kind(SourceKind::ZeekConn);
    let dns = event(
        "zeek",
        "zeek",
        "dns",
        &[
            ("query", "example.com".into()),
            ("id.orig_h", "1.2.3.4".into()),
        ],
    );
    let mut raw = vec![7.0];
    assert!(!x.extract(&dns, &mut raw));
    assert_eq!(raw, [7.0]);
    assert_eq!(x.rows(), 0);
    assert_eq!(SourceKind::detect(&dns), None);
    let c = conn("a", "b", 1, "SF", 1.0, "x");
    assert_eq!(SourceKind::detect(&c), Some(SourceKind::ZeekConn));
    let auth = event(
        "syslog",
        "linux",
        "sshd",
        &[("event.category", "authentication".into())],
    );
    assert_eq!(SourceKind::detect(&auth), Some(SourceKind::Auth));
    let proc_ = event(
        "evtx",
        "windows",
        "",
        &[("CommandLine", "cmd.exe /c dir".into())],
    );
    assert_eq!(SourceKind::detect(&proc_), Some(SourceKind::Process));
    let nsl = event("flowcsv", "network", "nsl-kdd", &[]);
    assert_eq!(SourceKind::detect(&nsl), Some(SourceKind::NslKdd));
}

#[test]
fn zeek_columns_are_read() {
    let mut x = Extractor::for_kind(SourceKind::ZeekConn);
    let mut raw = Vec::new();
    assert!(x.extract(&conn("10.0.0.1", "10.0.0.2", 443, "SF", 5.0, "-"), &mut raw));
    let col = |n: &str| raw[x.names().iter().position(|c| c == n).unwrap()];
    assert_eq!(col("orig_bytes"), 300.0);
    assert_eq!(col("resp_bytes"), 4000.0);
    assert_eq!(col("local_orig"), 1.0);
    assert_eq!(col("local_resp"), 0.0);
    assert_eq!(col("history_len"), 8.0);
    assert_eq!(col("history_synack"), 1.0);
    assert_eq!(col("history_rst"), 0.0);
    assert_eq!(col("proto=tcp"), 1.0);
    assert_eq!(col("conn_state=SF"), 1.0);
    assert_eq!(col("conn_state=S0"), 0.0);
    assert_eq!(col("src_conns_l0.01"), 1.0);
    assert_eq!(col("src_fail_share_l0.01"), 0.0);
}

#[test]
fn auth_context_sees_spraying() {
    let mut x = Extractor::for_kind(SourceKind::Auth);
    let mut raw = Vec::new();
    let login = |user: &str, src: &str, outcome: &str, t: f64| {
        at(
            event(
                "syslog",
                "linux",
                "sshd",
                &[
                    ("event.category", "authentication".into()),
                    ("event.action", "ssh_login".into()),
                    ("event.outcome", outcome.into()),
                    ("user.name", user.into()),
                    ("source.ip", src.into()),
                    ("authentication.method", "password".into()),
                ],
            ),
            t,
        )
    };
    for i in 0..20 {
        x.extract(
            &login("alice", "10.0.0.5", "success", i as f64 * 3600.0),
            &mut raw,
        );
    }
    let names = x.names().to_vec();
    let col = |raw: &[f64], n: &str| raw[names.iter().position(|c| c == n).unwrap()];
    assert_eq!(col(&raw, "srcip_fail_share_l0.001"), 0.0);
    assert_eq!(col(&raw, "outcome=success"), 1.0);
    let mut spray = Vec::new();
    for i in 0..50 {
        let user = format!("user{i}");
        x.extract(
            &login(&user, "203.0.113.9", "failure", 100_000.0 + i as f64),
            &mut spray,
        );
    }
    assert!(col(&spray, "srcip_fail_share_l0.001") > 0.99);
    assert!(col(&spray, "srcip_new_users_l0.001") > 45.0);
    assert!(col(&spray, "user_attempts_l0.001") <= 1.0);
    let h = (col(&spray, "hour_sin"), col(&spray, "hour_cos"));
    assert!((h.0 * h.0 + h.1 * h.1 - 1.0).abs() < 1e-9);
}

#[test]
fn process_features() {
    assert_eq!(count_args(r#""C:\Program Files\x.exe" -a "b c" d"#), 3);
    assert_eq!(count_args("ls"), 0);
    assert_eq!(count_args(""), 0);
    assert_eq!(entropy(b"aaaa"), 0.0);
    assert!((entropy(b"abcd") - 2.0).abs() < 1e-12);
    let mut x = Extractor::for_kind(SourceKind::Process);
    let mut raw = Vec::new();
    let e = event(
        "evtx",
        "windows",
        "sysmon",
        &[
            ("CommandLine", "powershell.exe -enc SQBFAFgA".into()),
            (
                "Image",
                r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.exe".into(),
            ),
            ("ParentImage", r"C:\Windows\explorer.exe".into()),
        ],
    );
    assert!(x.extract(&e, &mut raw));
    assert_eq!(raw[0], 28.0);
    assert_eq!(raw[2], 2.0);
    assert_eq!(raw.iter().filter(|v| **v == 1.0).count(), 2);
    // Basenames are case-folded, so the same program hashes alike.
    let e2 = event(
        "json",
        "",
        "",
        &[
            ("process.command_line", "powershell".into()),
            ("process.executable", "/x/powershell.exe".into()),
        ],
    );
    let mut raw2 = Vec::new();
    assert!(x.extract(&e2, &mut raw2));
    assert_eq!(raw[3..35], raw2[3..35]);
}

#[test]
fn describe_shows_learned_slots() {
    let mut x = Extractor::for_kind(SourceKind::NslKdd);
    let e = event(
        "flowcsv",
        "network",
        "nsl-kdd",
        &[
            ("service", "private".into()),
            ("protocol_type", "tcp".into()),
        ],
    );
    let mut raw = Vec::new();
    x.extract(&e, &mut raw);
    let i = raw
        .iter()
        .enumerate()
        .skip(38 + 4)
        .find(|(_, v)| **v == 1.0)
        .unwrap()
        .0;
    assert_eq!(x.names()[i], "service=#0");
    assert_eq!(x.describe(i), "service=private");
    x.freeze();
    let e = event(
        "flowcsv",
        "network",
        "nsl-kdd",
        &[("service", "new_one".into())],
    );
    x.extract(&e, &mut raw);
    assert_eq!(raw[38 + 4 + 72], 1.0, "frozen: unseen value goes to other");
}

fn weird() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_map(Value::Float),
        Just(Value::Float(f64::NAN)),
        Just(Value::Float(f64::INFINITY)),
        Just(Value::Float(f64::NEG_INFINITY)),
        Just(Value::Float(f64::MAX)),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("1e400")),
        Just(Value::from("-inf")),
        Just(Value::from("NaN")),
        Just(Value::Null),
        Just(Value::Array(vec![Value::Float(f64::NAN), Value::Int(3)])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn extract_and_scale_stay_finite(
        values in proptest::collection::vec(weird(), 16),
        ts in prop_oneof![any::<f64>(), Just(f64::NAN), 0.0..2e9f64],
    ) {
        let zeek_fields = [
            "ts", "duration", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts",
            "orig_ip_bytes", "resp_ip_bytes", "missed_bytes", "local_orig", "history",
            "id.orig_h", "id.resp_h", "id.resp_p", "conn_state", "service",
        ];
        let nsl_fields = [
            "duration", "src_bytes", "dst_bytes", "count", "srv_count", "serror_rate",
            "protocol_type", "service", "flag", "hot", "land", "urgent", "num_root",
            "dst_host_count", "same_srv_rate", "logged_in",
        ];
        let cases: [(SourceKind, &'static str, &str, &str, &[&str]); 5] = [
            (SourceKind::ZeekConn, "zeek", "zeek", "conn", &zeek_fields),
            (SourceKind::NslKdd, "flowcsv", "network", "nsl-kdd", &nsl_fields),
            (SourceKind::CicFlow, "flowcsv", "network", "cicflowmeter",
                &["source.ip", "destination.ip", "source.bytes", "destination.bytes",
                  "event.duration", "Flow Bytes/s", "Tot Bwd Pkts", "destination.port"]),
            (SourceKind::Auth, "syslog", "linux", "sshd",
                &["event.category", "user.name", "source.ip", "event.outcome"]),
            (SourceKind::Process, "evtx", "windows", "", &["CommandLine", "Image", "ParentImage"]),
        ];
        for (kind, format, product, service, fields) in cases {
            let mut x = Extractor::for_kind(kind);
            let mut scaler = x.new_scaler();
            let mut scaled = vec![0f32; x.width()];
            let mut raw = Vec::new();
            for round in 0..3 {
                let pairs: Vec<(&str, Value)> = fields
                    .iter()
                    .zip(values.iter().cycle().skip(round))
                    .map(|(f, v)| (*f, v.clone()))
                    .collect();
                let mut e = event(format, product, service, &pairs);
                if kind == SourceKind::Auth {
                    e.set(FieldId::intern("event.category").unwrap(), "authentication".into()).unwrap();
                }
                if kind == SourceKind::Process {
                    e.set(FieldId::intern("CommandLine").unwrap(), "x".into()).unwrap();
                }
                if ts.is_finite() && ts.abs() < 1e11 {
                    e = at(e, ts + round as f64);
                }
                prop_assert!(x.extract(&e, &mut raw), "{kind:?}");
                prop_assert_eq!(raw.len(), x.width());
                prop_assert!(raw.iter().all(|v| v.is_finite()), "{kind:?}: {raw:?}");
                scaler.update_transform(&raw, &mut scaled);
                prop_assert!(scaled.iter().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn scaler_never_panics_or_leaks_non_finite(
        rows in proptest::collection::vec(proptest::collection::vec(any::<f64>(), 4), 1..40),
    ) {
        let mut s = Scaler::new(vec![Transform::None, Transform::Log1p, Transform::None, Transform::Log1p]);
        s.fit(rows.iter().map(|r| &r[..]));
        let mut out = [0f32; 4];
        for r in &rows {
            s.transform(r, &mut out);
            prop_assert!(out.iter().all(|v| v.is_finite() && (-1.0..=2.0).contains(v)));
            s.update(r);
        }
        for i in 0..4 {
            let (lo, hi) = s.expected_range(i);
            prop_assert!(!lo.is_nan() && !hi.is_nan());
        }
    }
}
