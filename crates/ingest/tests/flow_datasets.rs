//! Flow CSV parsing over the real NSL-KDD and UNSW-NB15 files and hand-written CICFlowMeter
//! fixtures.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{data_dir, read, record_lines, text};
use palisade_ingest::Format;

/// Reads a flow file, asserts every data row became an event, prints counts and labels.
fn check(path: &Path, header_rows: usize, service: &str, label_fields: &[&str]) -> usize {
    let (out, stats) = read(path, None);
    let rows = record_lines(path) - header_rows;
    println!(
        "{}: {rows} rows, {} events, {} warnings",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        stats.events,
        out.warnings.len()
    );
    for w in out.warnings.iter().take(3) {
        println!("  warning: {w}");
    }
    for field in label_fields {
        let mut dist: BTreeMap<String, usize> = BTreeMap::new();
        for e in &out.events {
            *dist.entry(text(e, field).unwrap_or_default()).or_default() += 1;
        }
        let mut top: Vec<_> = dist.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = top
            .iter()
            .take(12)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("  {field} ({} values): {}", top.len(), shown.join(", "));
    }
    assert!(
        out.warnings.is_empty(),
        "{}: {:?}",
        path.display(),
        out.warnings.first()
    );
    assert_eq!(stats.events as usize, rows, "{}", path.display());
    for e in &out.events {
        assert_eq!(e.meta.format, "flowcsv");
        assert_eq!(e.meta.service.as_deref(), Some(service));
        assert!(
            text(e, "label").is_some(),
            "{}: unlabelled row",
            path.display()
        );
    }
    rows
}

#[test]
fn nsl_kdd_files_parse_completely() {
    let Some(data) = data_dir("NSL-KDD test") else {
        return;
    };
    for name in ["KDDTrain+_20Percent.txt", "KDDTest+.txt"] {
        let path = data.join("nsl-kdd").join(name);
        check(&path, 0, "nsl-kdd", &["label", "difficulty"]);
        let (out, _) = read(&path, Some(Format::FlowCsv));
        let e = &out.events[0];
        assert!(text(e, "network.transport").is_some());
        assert!(e.get_by_name("source.bytes").is_some());
        assert!(e.get_by_name("dst_host_srv_rerror_rate").is_some());
    }
}

#[test]
fn unsw_nb15_subset_parses_completely() {
    let Some(data) = data_dir("UNSW-NB15 test") else {
        return;
    };
    let path = data.join("unsw-nb15/UNSW_NB15_testing-set_subset4528.csv");
    check(&path, 1, "unsw-nb15", &["attack_cat", "label"]);
    let (out, _) = read(&path, None);
    let attacks = out
        .events
        .iter()
        .filter(|e| e.get_by_name("label").and_then(|v| v.as_i64()) == Some(1))
        .count();
    assert!(attacks > 0);
    assert!(
        out.events
            .iter()
            .all(|e| e.get_by_name("event.duration").is_some())
    );
}

#[test]
fn cicflowmeter_fixtures_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    check(&dir.join("cicids2017.csv"), 1, "cicflowmeter", &["Label"]);
    check(
        &dir.join("cicflowmeter_v3.csv"),
        1,
        "cicflowmeter",
        &["Label"],
    );

    let (out, _) = read(&dir.join("cicids2017.csv"), None);
    let e = &out.events[2];
    assert_eq!(text(e, "source.ip").as_deref(), Some("172.16.0.1"));
    assert_eq!(text(e, "destination.port").as_deref(), Some("80"));
    assert_eq!(text(e, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(text(e, "source.bytes").as_deref(), Some("1250"));
    assert_eq!(text(e, "destination.bytes").as_deref(), Some("6211"));
    assert_eq!(
        e.get_by_name("event.duration").and_then(|v| v.as_f64()),
        Some(0.005215)
    );
    assert_eq!(
        text(e, "label").as_deref(),
        Some("Web Attack - Brute Force, XSS")
    );
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2017-07-06T09:15:00+00:00"
    );
    assert!(e.get_by_name("Fwd Header Length.1").is_some());
    assert!(
        text(&out.events[1], "network.transport").is_none(),
        "protocol 0 has no name"
    );

    let (out, _) = read(&dir.join("cicflowmeter_v3.csv"), Some(Format::FlowCsv));
    let e = &out.events[1];
    assert_eq!(text(e, "network.transport").as_deref(), Some("udp"));
    assert_eq!(
        e.timestamp.unwrap().to_rfc3339(),
        "2018-02-16T10:27:26+00:00"
    );
}
