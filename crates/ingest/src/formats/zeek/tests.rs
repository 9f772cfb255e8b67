use super::*;
use proptest::prelude::*;

const HEADER: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2017-03-08-13-47-04
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tlocal_orig\ttunnel_parents\tlabel
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tbool\tset[string]\tstring";

fn with_header(header: &str) -> ZeekFormat {
    let mut p = ZeekFormat::default();
    for line in header.lines() {
        assert!(
            p.parse_line(line, Origin::default()).unwrap().is_none(),
            "{line}"
        );
    }
    p
}

fn record(p: &mut ZeekFormat, line: &str) -> Event {
    p.parse_line(line, Origin::default())
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .unwrap()
}

fn get<'a>(e: &'a Event, name: &str) -> Option<&'a Value> {
    e.get_by_name(name)
}

#[test]
fn tsv_values_are_typed() {
    let mut p = with_header(HEADER);
    let e = record(
        &mut p,
        "1596790164.509987\tCr01B21ezPdgDs60pb\t10.8.0.61\t35740\t8.8.8.8\t53\tudp\tdns\t0.017912\t48\tT\ta,b\tMalicious",
    );
    assert_eq!(e.timestamp.unwrap().timestamp(), 1_596_790_164);
    assert_eq!(get(&e, "ts"), Some(&Value::Float(1596790164.509987)));
    assert_eq!(get(&e, "id.orig_p"), Some(&Value::Int(35740)));
    assert_eq!(get(&e, "duration"), Some(&Value::Float(0.017912)));
    assert_eq!(get(&e, "local_orig"), Some(&Value::Bool(true)));
    assert_eq!(
        get(&e, "tunnel_parents"),
        Some(&Value::Array(vec!["a".into(), "b".into()]))
    );
    assert_eq!(get(&e, "label"), Some(&"Malicious".into()));
    // ECS through aliases.
    assert_eq!(get(&e, "source.ip"), Some(&"10.8.0.61".into()));
    assert_eq!(get(&e, "destination.port"), Some(&Value::Int(53)));
    assert_eq!(get(&e, "network.transport"), Some(&"udp".into()));
    assert_eq!(get(&e, "source.bytes"), Some(&Value::Int(48)));
    assert_eq!(get(&e, "event.duration"), Some(&Value::Float(0.017912)));
    assert_eq!(e.meta.product.as_deref(), Some("zeek"));
    assert_eq!(e.meta.service.as_deref(), Some("conn"));
    assert_eq!(e.meta.format, "zeek");
}

#[test]
fn unset_and_empty_markers() {
    let mut p = with_header(HEADER);
    let e = record(
        &mut p,
        "19.98\tC1\tfd2d::1\t1\tfd2d::2\t53\tudp\t-\t-\t-\t-\t(empty)\t(empty)",
    );
    assert!(get(&e, "service").is_none());
    assert!(get(&e, "duration").is_none());
    assert_eq!(get(&e, "tunnel_parents"), Some(&Value::Array(vec![])));
    assert_eq!(get(&e, "label"), Some(&"".into()));
}

#[test]
fn malformed_records_name_the_problem() {
    let mut p = with_header(HEADER);
    let err = p
        .parse_line("1.0\tC1\t1.2.3.4", Origin::default())
        .unwrap_err();
    assert_eq!(err.0, "expected 13 fields (per #fields), found 3");
    let line = "1.0\tC1\t1.2.3.4\tBAD\t1.2.3.5\t53\tudp\t-\t-\t-\t-\t-\t-";
    let err = p.parse_line(line, Origin::default()).unwrap_err();
    assert!(
        err.0.contains("field id.orig_p: expected an integer"),
        "{err}"
    );
    let good = line.replace("BAD", "1");
    let err = p
        .parse_line(&format!("{good}\textra"), Origin::default())
        .unwrap_err();
    assert!(err.0.contains("found 14"), "{err}");
    let err = ZeekFormat::default()
        .parse_line("1.0\tC1", Origin::default())
        .unwrap_err();
    assert!(err.0.contains("before any #fields"), "{err}");
}

#[test]
fn close_and_new_header_blocks() {
    let mut p = with_header(HEADER);
    assert!(
        p.parse_line("#close\t2021-04-28-16-25-22", Origin::default())
            .unwrap()
            .is_none()
    );
    let dns = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#fields\tts\tquery\tanswers\tTTLs\n#types\ttime\tstring\tvector[string]\tvector[interval]";
    for l in dns.lines() {
        assert!(p.parse_line(l, Origin::default()).unwrap().is_none());
    }
    let e = record(
        &mut p,
        "1.5\texample.com\ta.example,1.2.3.4\t3178.000000,203.000000",
    );
    // No #path: the log type is inferred? `query` alone is not a signature; service stays unknown.
    assert_eq!(e.meta.service, None);
    assert_eq!(
        get(&e, "TTLs"),
        Some(&Value::Array(vec![
            Value::Float(3178.0),
            Value::Float(203.0)
        ]))
    );
}

#[test]
fn headers_without_types_default_to_text() {
    let mut p = with_header("#fields\tts\tid.orig_h\tconn_state");
    let e = record(&mut p, "1600000000.25\t1.2.3.4\tSF");
    assert_eq!(get(&e, "ts"), Some(&Value::Float(1600000000.25)));
    assert_eq!(e.meta.service.as_deref(), Some("conn"));
    assert_eq!(get(&e, "source.ip"), Some(&"1.2.3.4".into()));
}

#[test]
fn json_lines() {
    let mut p = ZeekFormat::default();
    let e = record(
        &mut p,
        r#"{"ts":1664462456.755299,"uid":"C5xh","id.orig_h":"172.16.1.11","id.orig_p":40042,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","service":"dns","conn_state":"SHR","local_orig":true}"#,
    );
    assert_eq!(e.timestamp.unwrap().timestamp(), 1_664_462_456);
    assert_eq!(e.meta.service.as_deref(), Some("conn"));
    assert_eq!(get(&e, "destination.ip"), Some(&"8.8.8.8".into()));
    assert_eq!(get(&e, "network.protocol"), Some(&"dns".into()));
    let e = record(
        &mut p,
        r#"{"_path":"dns","ts":"2020-09-10T16:30:38.238535Z","uid":"C1","query":"example.com"}"#,
    );
    assert_eq!(e.meta.service.as_deref(), Some("dns"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2020-09-10T16:30:38.238535+00:00"
    );
    assert_eq!(get(&e, "dns.question.name"), Some(&"example.com".into()));
    assert!(get(&e, "_path").is_none());
    let e = record(
        &mut p,
        r#"{"ts":1.0,"host":"1.2.3.4","software_type":"HTTP::BROWSER"}"#,
    );
    assert_eq!(e.meta.service.as_deref(), Some("software"));
    assert!(p.parse_line(r#"{"ts":1.0"#, Origin::default()).is_err());
}

#[test]
fn sniffing_json() {
    assert!(sniff_json(r#"{"ts":1.0,"uid":"C1","id.orig_h":"1.2.3.4"}"#));
    assert!(sniff_json(r#"{"_path":"files","ts":1.0}"#));
    assert!(!sniff_json(
        r#"{"@timestamp":"x","source":{"ip":"1.2.3.4"}}"#
    ));
    assert!(!sniff_json("#fields\tts"));
}

/// One generated conn record and its expected typed values.
#[derive(Debug, Clone)]
struct Row {
    ts: f64,
    orig_h: String,
    orig_p: u16,
    duration: Option<f64>,
    bytes: Option<u64>,
    local: bool,
    parents: Vec<String>,
    label: String,
}

fn row() -> impl Strategy<Value = Row> {
    (
        (0u32..2_000_000_000, 0u32..1_000_000),
        "[0-9]{1,3}(\\.[0-9]{1,3}){3}",
        any::<u16>(),
        proptest::option::of(0u32..100_000),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::collection::vec("[A-Za-z0-9_]{1,8}", 0..4),
        "[A-Za-z][A-Za-z0-9 -]{0,15}",
    )
        .prop_map(|(ts, h, p, d, b, local, parents, label)| Row {
            ts: f64::from(ts.0) + f64::from(ts.1) / 1e6,
            orig_h: h,
            orig_p: p,
            duration: d.map(|d| f64::from(d) / 1000.0),
            bytes: b.map(u64::from),
            local,
            parents,
            label,
        })
}

fn render(r: &Row) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let parents = if r.parents.is_empty() {
        "(empty)".to_string()
    } else {
        r.parents.join(",")
    };
    format!(
        "{:.6}\tC1\t{}\t{}\t10.0.0.1\t80\ttcp\thttp\t{}\t{}\t{}\t{}\t{}",
        r.ts,
        r.orig_h,
        r.orig_p,
        opt(r.duration.map(|d| format!("{d:.6}"))),
        opt(r.bytes.map(|b| b.to_string())),
        if r.local { "T" } else { "F" },
        parents,
        r.label,
    )
}

proptest! {
    #[test]
    fn never_panics_on_text(lines in proptest::collection::vec("\\PC*", 1..4)) {
        let mut fresh = ZeekFormat::default();
        let mut ready = with_header(HEADER);
        for l in &lines {
            let _ = fresh.parse_line(l, Origin::default());
            let _ = ready.parse_line(l, Origin::default());
        }
        let _ = sniff_json(&lines[0]);
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = with_header(HEADER).parse_line(&line, Origin::default());
        let _ = ZeekFormat::default().parse_line(&line, Origin::default());
    }

    #[test]
    fn never_panics_on_mutated_headers(
        which in 0usize..9, cut in 0usize..80, insert in "[\\t,#a-z\\\\x0-9\\[\\]()-]{0,6}",
    ) {
        let mut lines: Vec<String> = HEADER.lines().map(String::from).collect();
        lines.push("1.0\tC1\t1.2.3.4\t1\t1.2.3.5\t53\tudp\t-\t-\t-\t-\ta,b\tx".into());
        let line = &mut lines[which.min(8)];
        let at = (0..=cut.min(line.len())).rev().find(|i| line.is_char_boundary(*i)).unwrap_or(0);
        line.insert_str(at, &insert);
        let mut p = ZeekFormat::default();
        for l in &lines {
            let _ = p.parse_line(l, Origin::default());
        }
    }

    #[test]
    fn tsv_round_trips(r in row()) {
        let mut p = with_header(HEADER);
        let e = record(&mut p, &render(&r));
        let ts = get(&e, "ts").and_then(Value::as_f64).unwrap();
        prop_assert!((ts - r.ts).abs() < 1e-5);
        prop_assert_eq!(get(&e, "id.orig_h"), Some(&Value::from(r.orig_h.as_str())));
        prop_assert_eq!(get(&e, "source.port"), Some(&Value::Int(i64::from(r.orig_p))));
        prop_assert_eq!(get(&e, "duration").and_then(Value::as_f64), r.duration);
        prop_assert_eq!(get(&e, "orig_bytes").and_then(Value::as_i64), r.bytes.map(|b| b as i64));
        prop_assert_eq!(get(&e, "local_orig"), Some(&Value::Bool(r.local)));
        let parents: Vec<Value> = r.parents.iter().map(|s| Value::from(s.as_str())).collect();
        prop_assert_eq!(get(&e, "tunnel_parents"), Some(&Value::Array(parents)));
        prop_assert_eq!(get(&e, "label"), Some(&Value::from(r.label.as_str())));
    }
}
