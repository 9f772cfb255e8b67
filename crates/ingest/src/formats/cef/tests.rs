use super::*;
use proptest::prelude::*;

fn parse_with(p: &mut CefFormat, line: &str) -> Event {
    p.parse_line(line, Origin::default())
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .unwrap()
}

fn parse(line: &str) -> Event {
    parse_with(&mut CefFormat::cef().with_year(2024), line)
}

fn text(e: &Event, name: &str) -> Option<String> {
    e.get_by_name(name).map(Value::to_string)
}

#[test]
fn cef_header_extension_and_ecs() {
    let e = parse(
        r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=443 proto=TCP suser=alice act=blocked msg=Worm found\=yes in C:\\temp rt=1456133436000",
    );
    assert_eq!(e.meta.format, "cef");
    assert_eq!(e.get_by_name("cef.version"), Some(&Value::Int(0)));
    assert_eq!(text(&e, "cef.device_vendor").as_deref(), Some("Security"));
    assert_eq!(
        text(&e, "cef.device_product").as_deref(),
        Some("threatmanager")
    );
    assert_eq!(text(&e, "cef.signature_id").as_deref(), Some("100"));
    assert_eq!(
        text(&e, "cef.name").as_deref(),
        Some("worm successfully stopped")
    );
    assert_eq!(text(&e, "cef.severity").as_deref(), Some("10"));
    assert_eq!(e.get_by_name("event.severity"), Some(&Value::Int(10)));
    assert_eq!(text(&e, "src").as_deref(), Some("10.0.0.1"));
    assert_eq!(text(&e, "source.ip").as_deref(), Some("10.0.0.1"));
    assert_eq!(e.get_by_name("source.port"), Some(&Value::Int(1232)));
    assert_eq!(e.get_by_name("destination.port"), Some(&Value::Int(443)));
    assert_eq!(text(&e, "destination.ip").as_deref(), Some("2.1.2.2"));
    assert_eq!(text(&e, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(text(&e, "user.name").as_deref(), Some("alice"));
    assert_eq!(text(&e, "event.action").as_deref(), Some("blocked"));
    assert_eq!(
        text(&e, "message").as_deref(),
        Some("Worm found=yes in C:\\temp")
    );
    assert_eq!(text(&e, "event.code").as_deref(), Some("100"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2016-02-22T09:30:36+00:00"
    );
    assert_eq!(e.meta.product.as_deref(), Some("security"));
    assert_eq!(e.meta.service.as_deref(), Some("threatmanager"));
}

#[test]
fn syslog_prefix_supplies_host_and_time() {
    let e = parse(
        r"<134>Feb 14 19:04:54 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|TRAFFIC|end|Low|src=1.1.1.1 duser=bob",
    );
    assert_eq!(text(&e, "host.name").as_deref(), Some("fw01"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-02-14T19:04:54+00:00"
    );
    assert_eq!(e.get_by_name("event.severity"), Some(&Value::Int(3)));
    assert_eq!(text(&e, "user.name").as_deref(), Some("bob"));
    assert_eq!(e.meta.product.as_deref(), Some("paloalto"));
    assert_eq!(e.meta.service.as_deref(), Some("pan-os"));
    // dvchost wins over the syslog host; rt over the prefix time.
    let e = parse(
        r"2024-05-01T10:00:00Z relay CEF:1|Fortinet|FortiGate|7.0|13|x|5|dvchost=fgt1 rt=May 01 2024 09:00:00 UTC",
    );
    assert_eq!(text(&e, "host.name").as_deref(), Some("fgt1"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-05-01T09:00:00+00:00"
    );
    assert_eq!(e.meta.product.as_deref(), Some("fortigate"));
}

#[test]
fn header_escapes_and_pipes_in_the_extension() {
    let e = parse(r"CEF:0|Ven\|dor|Pro\\duct|1|sig|Name with \| pipe|7|request=http://x/a|b cs1=v");
    assert_eq!(text(&e, "cef.device_vendor").as_deref(), Some("Ven|dor"));
    assert_eq!(text(&e, "cef.device_product").as_deref(), Some("Pro\\duct"));
    assert_eq!(text(&e, "cef.name").as_deref(), Some("Name with | pipe"));
    assert_eq!(text(&e, "url.original").as_deref(), Some("http://x/a|b"));
    let e = parse("CEF:0|V|P|1|S|N|3|");
    assert_eq!(e.get_by_name("event.severity"), Some(&Value::Int(3)));
}

#[test]
fn malformed_cef_is_an_error() {
    let mut p = CefFormat::cef();
    for (line, want) in [
        ("CEF:0|V|P|1", "CEF header ends after 3 of its 7"),
        ("CEF:x|V|P|1|S|N|3|", "no CEF:<version>|"),
        ("CEF:0a|V|P|1|S|N|3|", "CEF version \"0a\" is not a number"),
        (
            "CEF:0|V|P|1|S|N|3|no pairs here",
            "CEF extension holds no key=value",
        ),
        ("just text", "no CEF:<version>|"),
    ] {
        let err = p.parse_line(line, Origin::default()).unwrap_err();
        assert!(err.0.contains(want), "{line}: {err}");
    }
    assert!(p.parse_line("   ", Origin::default()).unwrap().is_none());
}

#[test]
fn leef_1_and_2() {
    let mut p = CefFormat::leef().with_year(2024);
    let e = parse_with(
        &mut p,
        "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black\tproto=6\tdevTime=Jan 18 2024 14:00:00",
    );
    assert_eq!(e.meta.format, "leef");
    assert_eq!(text(&e, "leef.event_id").as_deref(), Some("15345"));
    assert_eq!(text(&e, "source.ip").as_deref(), Some("192.0.2.0"));
    assert_eq!(e.get_by_name("destination.port"), Some(&Value::Int(21)));
    assert_eq!(text(&e, "user.name").as_deref(), Some("joe.black"));
    assert_eq!(e.get_by_name("event.severity"), Some(&Value::Int(5)));
    assert_eq!(text(&e, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-01-18T14:00:00+00:00"
    );
    assert_eq!(e.meta.product.as_deref(), Some("microsoft"));

    let e = parse_with(
        &mut p,
        "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^devTime=2024-01-18 14:00:00.123 +0100^devTimeFormat=yyyy-MM-dd HH:mm:ss.SSS Z",
    );
    assert_eq!(text(&e, "destination.ip").as_deref(), Some("10.0.0.5"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-01-18T13:00:00.123+00:00"
    );

    let e = parse_with(&mut p, "LEEF:2.0|V|P|1|E|x5E|src=1.2.3.4^usrName=amy");
    assert_eq!(text(&e, "user.name").as_deref(), Some("amy"));
    let e = parse_with(&mut p, "LEEF:2.0|V|P|1|E|src=1.2.3.4\tusrName=amy|x");
    assert_eq!(text(&e, "user.name").as_deref(), Some("amy|x"));
    // rsyslog's escaped TAB.
    let e = parse_with(
        &mut p,
        "<13>Jan 18 14:00:00 qradar LEEF:1.0|IBM|QRadar|7|E1|src=1.2.3.4#011usrName=kim",
    );
    assert_eq!(text(&e, "user.name").as_deref(), Some("kim"));
    assert_eq!(text(&e, "host.name").as_deref(), Some("qradar"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2024-01-18T14:00:00+00:00"
    );
    assert!(p.parse_line("LEEF:1.0|V|P", Origin::default()).is_err());
    // A CEF parser takes LEEF lines of a mixed feed, and the other way round.
    assert_eq!(parse("LEEF:1.0|V|P|1|E|src=1.1.1.1").meta.format, "leef");
    assert_eq!(
        parse_with(&mut p, "CEF:0|V|P|1|S|N|3|src=1.1.1.1")
            .meta
            .format,
        "cef"
    );
}

#[test]
fn sniffing() {
    assert!(sniff_cef("CEF:0|V|P|1|S|N|3|a=b"));
    assert!(sniff_cef("<134>Feb 14 19:04:54 fw01 CEF:0|V|P|1|S|N|3|a=b"));
    assert!(!sniff_cef("CEF:0|V|P"));
    assert!(!sniff_cef("the word CEF: appears|||||||"));
    assert!(sniff_leef("LEEF:1.0|V|P|1|E|src=1"));
    assert!(!sniff_leef("LEEF:1.0|V"));
    assert!(!sniff_leef("CEF:0|V|P|1|S|N|3|a=b"));
}

#[test]
fn severity_and_vendor_names() {
    assert_eq!(cef_severity("Very-High"), Some(10));
    assert_eq!(cef_severity(" 7 "), Some(7));
    assert_eq!(cef_severity("Unknown"), None);
    assert_eq!(sigma_product("Cisco Systems", "ASA"), "cisco");
    assert_eq!(sigma_product("Juniper Networks, Inc.", "SRX"), "juniper");
    assert_eq!(sigma_product("", "Thing"), "thing");
}

/// Extension keys the generator may use (CEF keys are alphanumeric; numeric-typed keys are
/// avoided so values compare as text).
fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,12}".prop_filter("typed or ECS-copied keys", |k| {
        !is_numeric_key(k) && !matches!(k.as_str(), "rt" | "end" | "start")
    })
}

proptest! {
    #[test]
    fn never_panics_on_text(line in "\\PC*") {
        let _ = CefFormat::cef().parse_line(&line, Origin::default());
        let _ = CefFormat::leef().parse_line(&line, Origin::default());
        let _ = (sniff_cef(&line), sniff_leef(&line));
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = CefFormat::cef().parse_line(&line, Origin::default());
        let prefixed = format!("CEF:0|{line}");
        let _ = CefFormat::cef().parse_line(&prefixed, Origin::default());
        let prefixed = format!("LEEF:2.0|{line}");
        let _ = CefFormat::leef().parse_line(&prefixed, Origin::default());
    }

    #[test]
    fn never_panics_on_mutated_lines(
        base in prop::sample::select(vec![
            r"<134>Feb 14 19:04:54 fw01 CEF:0|V\|x|P|1|S|N|High|src=1.1.1.1 msg=a\=b c rt=Feb 14 2024 19:04:54 UTC",
            "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^devTime=2024-01-18 14:00:00^devTimeFormat=yyyy-MM-dd HH:mm:ss",
            "LEEF:1.0|V|P|1|E|src=1.2.3.4\tusrName=amy\tdevTime=1456133436000",
        ]),
        cut in 0usize..200,
        insert in "[|\\\\= ^\\ta-zA-Z0-9:'%]{0,5}",
    ) {
        let mut s = base.to_string();
        let at = (0..=cut.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.insert_str(at, &insert);
        let _ = CefFormat::cef().parse_line(&s, Origin::default());
        let _ = CefFormat::leef().parse_line(&s[..at], Origin::default());
    }

    #[test]
    fn cef_extensions_round_trip(
        map in proptest::collection::btree_map(key(), "[^\\s]([ -~\\n\\r\\t]{0,20}[^\\s])?", 0..8),
        vendor in "[ -~]{0,12}",
        name in "[ -~]{0,20}",
    ) {
        let ext: Vec<String> = map.iter().map(|(k, v)| format!("{k}={}", ext::escape_value(v))).collect();
        let line = format!(
            "CEF:0|{}|Product|1.0|42|{}|5|{}",
            ext::escape_header(&vendor),
            ext::escape_header(&name),
            ext.join(" ")
        );
        let e = parse(&line);
        prop_assert_eq!(text(&e, "cef.device_vendor"), Some(vendor));
        prop_assert_eq!(text(&e, "cef.name"), Some(name));
        for (k, v) in &map {
            prop_assert_eq!(e.get_by_name(k), Some(&Value::from(v.as_str())), "key {}", k);
        }
    }

    #[test]
    fn leef_attributes_round_trip(
        map in proptest::collection::btree_map(key(), "[^\\t^=|]{0,20}", 0..8),
        caret in any::<bool>(),
    ) {
        let delim = if caret { "^" } else { "\t" };
        let attrs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let line = if caret {
            format!("LEEF:2.0|V|P|1|E|^|{}", attrs.join(delim))
        } else {
            format!("LEEF:1.0|V|P|1|E|{}", attrs.join(delim))
        };
        let e = parse_with(&mut CefFormat::leef(), &line);
        for (k, v) in &map {
            prop_assert_eq!(e.get_by_name(k), Some(&Value::from(v.as_str())), "key {}", k);
        }
    }
}
