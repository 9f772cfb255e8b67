//! Every Stratosphere Zeek capture (TSV and JSON, labelled or not) parses completely.

mod common;

use std::collections::BTreeMap;

use common::{data_dir, read, record_lines, text};
use palisade_ingest::{Format, discover_inputs};

#[test]
fn stratosphere_zeek_logs_parse_completely() {
    let Some(data) = data_dir("stratosphere zeek test") else {
        return;
    };
    let (inputs, errors) = discover_inputs(&[data.join("stratosphere-zeek")]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut files = 0;
    let mut total = 0;
    for input in inputs {
        let palisade_ingest::Input::Path(path) = input else {
            continue;
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains(".log") {
            continue;
        }
        let (out, stats) = read(&path, None);
        let lines = record_lines(&path);
        let mut labels: BTreeMap<String, usize> = BTreeMap::new();
        for e in &out.events {
            if let Some(l) = text(e, "label") {
                *labels.entry(l).or_default() += 1;
            }
        }
        let service = out.events.first().and_then(|e| e.meta.service.clone());
        println!(
            "{}: {lines} records, {} events, {} warnings, service {service:?}, labels {labels:?}",
            path.strip_prefix(&data).unwrap_or(&path).display(),
            stats.events,
            out.warnings.len()
        );
        for w in out.warnings.iter().take(3) {
            println!("  warning: {w}");
        }
        assert!(out.warnings.is_empty(), "{}: warnings", path.display());
        assert_eq!(stats.events as usize, lines, "{}", path.display());
        for e in &out.events {
            assert_eq!(e.meta.format, "zeek");
            assert_eq!(e.meta.product.as_deref(), Some("zeek"));
            assert!(e.meta.service.is_some(), "{}: no service", path.display());
            assert!(e.timestamp.is_some(), "{}: no timestamp", path.display());
        }
        files += 1;
        total += lines;
    }
    println!("{files} Zeek files, {total} records");
    assert!(
        files >= 30,
        "expected the Stratosphere files, found {files}"
    );
}

#[test]
fn labelled_conn_log_keeps_labels_and_ecs() {
    let Some(data) = data_dir("stratosphere labelled conn test") else {
        return;
    };
    let path = data.join("stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled");
    let (out, _) = read(&path, Some(Format::Zeek));
    let malicious = out
        .events
        .iter()
        .filter(|e| text(e, "label").as_deref() == Some("Malicious"))
        .count();
    assert!(malicious > 0);
    let e = &out.events[0];
    assert_eq!(text(e, "source.ip").as_deref(), Some("147.32.81.167"));
    assert_eq!(text(e, "destination.port").as_deref(), Some("443"));
    assert_eq!(text(e, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(text(e, "detailedlabel").as_deref(), Some("Microsoft"));
    assert_eq!(e.meta.service.as_deref(), Some("conn"));
}
