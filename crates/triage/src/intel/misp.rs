//! MISP event JSON: `{"Event": {…, "Attribute": […], "Object": [{"Attribute": […]}]}}`, a
//! list of such, `{"response": […]}`, or a bare event object.
//!
//! Attribute types read: `ip-src`, `ip-dst`, `ip-src|port`, `ip-dst|port`, `domain`,
//! `hostname`, `domain|ip` (both halves), `url`, `uri` (when it carries a host, otherwise it
//! cannot be matched and is skipped), `link`, `md5`, `sha1`, `sha256`, `filename|md5`,
//! `filename|sha1`, `filename|sha256`. Attributes with `to_ids` false are not meant for
//! detection and are skipped; so are `deleted` ones. Confidence: the importer's option, else the
//! event's threat level (1 high → 85, 2 medium → 60, 3 low → 30, 4 undefined → 50).
//! Description: the attribute's comment, else the event's `info`; labels: the event's and the
//! attribute's tags and the attribute's category.

use serde_json::Value as Json;

use super::model::{self, IndicatorKind, TypeHint};
use super::{Collector, ImportError, ImportOptions, Imported, IntelFormat, parse_json};

/// Reads one MISP export.
pub fn import(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let doc = parse_json(bytes, file)?;
    let mut events: Vec<(String, &Json)> = Vec::new();
    collect_events(&doc, String::new(), &mut events, 0);
    if events.is_empty() {
        return Err(ImportError {
            file: file.to_owned(),
            position: "top level".into(),
            message: "not a MISP export (no \"Event\" with \"Attribute\" or \"Object\" lists)"
                .into(),
        });
    }
    let mut c = Collector::new(opts, file, IntelFormat::Misp);
    for (path, event) in events {
        read_event(&mut c, &path, event);
    }
    Ok(c.out)
}

/// Finds the event objects in the usual wrappers.
fn collect_events<'a>(
    doc: &'a Json,
    path: String,
    out: &mut Vec<(String, &'a Json)>,
    depth: usize,
) {
    if depth > 4 {
        return;
    }
    match doc {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_events(item, format!("{path}[{i}]"), out, depth + 1);
            }
        }
        Json::Object(o) => {
            if let Some(e) = o.get("Event") {
                let p = if path.is_empty() {
                    "Event".to_owned()
                } else {
                    format!("{path}.Event")
                };
                match e {
                    Json::Object(_) => out.push((p, e)),
                    Json::Array(_) => collect_events(e, p, out, depth + 1),
                    _ => {}
                }
            } else if let Some(r) = o.get("response") {
                let p = if path.is_empty() {
                    "response".to_owned()
                } else {
                    format!("{path}.response")
                };
                collect_events(r, p, out, depth + 1);
            } else if o.contains_key("Attribute") || o.contains_key("Object") {
                out.push((
                    if path.is_empty() {
                        "event".into()
                    } else {
                        path
                    },
                    doc,
                ));
            }
        }
        _ => {}
    }
}

fn tag_names(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(tags)) => tags
            .iter()
            .filter_map(|t| t.get("name").and_then(Json::as_str))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A field that MISP writes as a string or a number.
fn text(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Json>, default: bool) -> bool {
    match v {
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_i64() != Some(0),
        Some(Json::String(s)) => !matches!(s.trim(), "0" | "false" | "False" | ""),
        _ => default,
    }
}

fn threat_confidence(level: Option<&Json>) -> Option<u8> {
    match text(level)?.trim() {
        "1" => Some(85),
        "2" => Some(60),
        "3" => Some(30),
        "4" => Some(50),
        _ => None,
    }
}

struct EventContext {
    derived_confidence: Option<u8>,
    info: Option<String>,
    tags: Vec<String>,
    valid_from: Option<chrono::DateTime<chrono::Utc>>,
}

fn read_event(c: &mut Collector<'_>, path: &str, event: &Json) {
    let ctx = EventContext {
        derived_confidence: threat_confidence(event.get("threat_level_id")),
        info: event.get("info").and_then(Json::as_str).map(str::to_owned),
        tags: tag_names(event.get("Tag")),
        valid_from: text(event.get("date")).and_then(|d| model::parse_time(&d)),
    };
    if let Some(Json::Array(attrs)) = event.get("Attribute") {
        for (i, a) in attrs.iter().enumerate() {
            attribute(c, &ctx, a, &|| format!("{path}.Attribute[{i}]"));
        }
    }
    if let Some(Json::Array(objects)) = event.get("Object") {
        for (j, o) in objects.iter().enumerate() {
            if truthy(o.get("deleted"), false) {
                continue;
            }
            if let Some(Json::Array(attrs)) = o.get("Attribute") {
                for (i, a) in attrs.iter().enumerate() {
                    attribute(c, &ctx, a, &|| format!("{path}.Object[{j}].Attribute[{i}]"));
                }
            }
        }
    }
}

fn attribute(c: &mut Collector<'_>, ctx: &EventContext, a: &Json, position: &dyn Fn() -> String) {
    let (Some(kind), Some(value)) = (a.get("type").and_then(Json::as_str), text(a.get("value")))
    else {
        return c.skip(position, "attribute without type or value", "");
    };
    if truthy(a.get("deleted"), false) {
        return c.skip(position, "deleted attribute", "");
    }
    if !truthy(a.get("to_ids"), true) {
        return c.skip(position, "to_ids is false (not meant for detection)", "");
    }
    // Composite types carry two values separated by `|`.
    let parts: Vec<(TypeHint, &str)> = match kind {
        "ip-src" | "ip-dst" => vec![(TypeHint::Ip, value.as_str())],
        "ip-src|port" | "ip-dst|port" => {
            vec![(
                TypeHint::Ip,
                value.rsplit_once('|').map_or(value.as_str(), |(ip, _)| ip),
            )]
        }
        "domain" | "hostname" => vec![(TypeHint::Kind(IndicatorKind::Domain), value.as_str())],
        "domain|ip" => match value.split_once('|') {
            Some((d, ip)) => vec![
                (TypeHint::Kind(IndicatorKind::Domain), d),
                (TypeHint::Ip, ip),
            ],
            None => vec![(TypeHint::Kind(IndicatorKind::Domain), value.as_str())],
        },
        "url" | "link" => vec![(TypeHint::Kind(IndicatorKind::Url), value.as_str())],
        "uri" => {
            if value.starts_with('/') {
                return c.skip(
                    position,
                    "uri without a host (cannot be matched)",
                    &model::clip(&value, 80),
                );
            }
            vec![(TypeHint::Kind(IndicatorKind::Url), value.as_str())]
        }
        "md5" => vec![(TypeHint::Kind(IndicatorKind::Md5), value.as_str())],
        "sha1" => vec![(TypeHint::Kind(IndicatorKind::Sha1), value.as_str())],
        "sha256" => vec![(TypeHint::Kind(IndicatorKind::Sha256), value.as_str())],
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let hint = match kind {
                "filename|md5" => IndicatorKind::Md5,
                "filename|sha1" => IndicatorKind::Sha1,
                _ => IndicatorKind::Sha256,
            };
            vec![(
                TypeHint::Kind(hint),
                value.rsplit_once('|').map_or(value.as_str(), |(_, h)| h),
            )]
        }
        other => {
            return c.skip(
                position,
                &format!("unsupported MISP type {}", model::clip(other, 40)),
                "",
            );
        }
    };
    let mut labels = ctx.tags.clone();
    labels.extend(tag_names(a.get("Tag")));
    if let Some(cat) = a.get("category").and_then(Json::as_str) {
        labels.push(cat.to_owned());
    }
    let comment = a
        .get("comment")
        .and_then(Json::as_str)
        .filter(|s| !s.trim().is_empty());
    let description = comment.map(str::to_owned).or_else(|| ctx.info.clone());
    let valid_from = text(a.get("first_seen"))
        .and_then(|t| model::parse_time(&t))
        .or(ctx.valid_from);
    let reference = a.get("uuid").and_then(Json::as_str);
    for (hint, v) in parts {
        match model::normalize(v, hint) {
            Ok((k, norm)) => c.push(
                position,
                k,
                norm,
                None,
                ctx.derived_confidence,
                valid_from,
                None,
                description.as_deref(),
                &labels,
                reference,
            ),
            Err(e) => c.skip(
                position,
                "invalid attribute value",
                &format!("{kind} {:?}: {e}", model::clip(v, 80)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn opts() -> ImportOptions {
        ImportOptions::new("misp", Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap())
    }

    #[test]
    fn event() {
        let bytes = include_bytes!("../../tests/fixtures/misp_event.json");
        let got = import(bytes, "e.json", &opts()).unwrap();
        let values: Vec<_> = got
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str(), i.confidence))
            .collect();
        assert_eq!(
            values,
            [
                (IndicatorKind::Ipv4, "198.51.100.23", 85),
                (IndicatorKind::Ipv4, "203.0.113.5", 85),
                (IndicatorKind::Domain, "bad.example", 85),
                (IndicatorKind::Ipv4, "198.51.100.24", 85),
                (IndicatorKind::Url, "bad.example/payload.bin", 85),
                (IndicatorKind::Domain, "cdn.bad.example", 85),
                (
                    IndicatorKind::Sha256,
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    85
                ),
                (IndicatorKind::Md5, "098f6bcd4621d373cade4e832627b4f6", 85),
            ]
        );
        let first = &got.indicators[0];
        assert_eq!(first.description.as_deref(), Some("Dropper campaign"));
        assert!(first.labels.contains(&"tlp:white".to_owned()));
        assert!(first.labels.contains(&"Network activity".to_owned()));
        assert_eq!(first.reference.as_deref(), Some("attr-1"));
        assert_eq!(
            got.indicators[3].description.as_deref(),
            Some("second stage")
        );
        assert_eq!(
            got.skipped.get("to_ids is false (not meant for detection)"),
            Some(&1)
        );
        assert_eq!(got.skipped.get("unsupported MISP type email-src"), Some(&1));
        assert_eq!(
            got.skipped.get("uri without a host (cannot be matched)"),
            Some(&1)
        );
        assert_eq!(got.skipped.get("invalid attribute value"), Some(&1));
        let w = got
            .warnings
            .iter()
            .find(|w| w.message.starts_with("invalid attribute"))
            .unwrap();
        assert_eq!(w.position, "Event.Object[0].Attribute[2]");
    }

    #[test]
    fn wrappers_and_options() {
        let one = r#"{"Event":{"info":"x","threat_level_id":"3","Attribute":[{"type":"domain","value":"a.example","to_ids":"1"}]}}"#;
        let wrapped = format!("{{\"response\":[{one},{one}]}}");
        let listed = format!("[{one}]");
        for doc in [one.to_owned(), wrapped, listed] {
            let got = import(doc.as_bytes(), "w.json", &opts()).unwrap();
            assert!(!got.indicators.is_empty(), "{doc}");
            assert_eq!(got.indicators[0].confidence, 30);
        }
        let mut o = opts();
        o.confidence = Some(70);
        let got = import(one.as_bytes(), "w.json", &o).unwrap();
        assert_eq!(
            got.indicators[0].confidence, 70,
            "the importer's option wins over threat level"
        );
        assert!(import(b"{\"foo\": 1}", "n.json", &opts()).is_err());
    }
}
