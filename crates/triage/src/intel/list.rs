//! Plain indicator lists: TXT (one per line) and CSV with a header.
//!
//! TXT: one value per line, its kind detected; `#`, `;` and `//` start comment lines; hosts-file
//! lines (`0.0.0.0 evil.com`) give the name; words after the value become its description.
//!
//! CSV: the header names the columns, liberally (`indicator`/`value`/`ioc`, `type`/`kind`,
//! `confidence`/`score`, `expiry`/`valid_until`/`expires`, `description`/`comment`/`threat`,
//! `tags`/`labels`, `first_seen`/`valid_from`); without a generic value column, each typed
//! column (`dst_ip`, `domain`, `url`, `md5_hash`, `sha256_hash`, …) gives one indicator per row.
//! The delimiter (`,` `;` tab `|`) is taken from the header. A header written as a comment line
//! (abuse.ch feeds: `# id,dateadded,url,…`) is recognised.

use super::model::{self, IndicatorKind, TypeHint};
use super::{Collector, ImportError, ImportOptions, Imported, IntelFormat};

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// The indicator value, kind from the type column or detected.
    Value,
    /// A value of this kind (the column's name says it).
    Typed(TypeHint),
    Type,
    Confidence,
    ValidUntil,
    ValidFrom,
    Description,
    Labels,
    Reference,
    Ignored,
}

fn column(name: &str) -> Column {
    let n: String = name
        .trim()
        .trim_matches(['"', '\''])
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .collect();
    match n.as_str() {
        "indicator" | "value" | "ioc" | "indicatorvalue" | "iocvalue" | "observable"
        | "observablevalue" | "entity" => Column::Value,
        "ip" | "ipaddress" | "ipaddr" | "dstip" | "srcip" | "destinationip" | "sourceip"
        | "cidr" | "network" | "subnet" => Column::Typed(TypeHint::Ip),
        "ipv4" => Column::Typed(TypeHint::Kind(IndicatorKind::Ipv4)),
        "ipv6" => Column::Typed(TypeHint::Kind(IndicatorKind::Ipv6)),
        "domain" | "domainname" | "hostname" | "fqdn" | "host" => {
            Column::Typed(TypeHint::Kind(IndicatorKind::Domain))
        }
        "url" | "uri" => Column::Typed(TypeHint::Kind(IndicatorKind::Url)),
        "md5" | "md5hash" => Column::Typed(TypeHint::Kind(IndicatorKind::Md5)),
        "sha1" | "sha1hash" => Column::Typed(TypeHint::Kind(IndicatorKind::Sha1)),
        "sha256" | "sha256hash" => Column::Typed(TypeHint::Kind(IndicatorKind::Sha256)),
        "hash" | "filehash" => Column::Typed(TypeHint::Hash),
        "type" | "kind" | "indicatortype" | "ioctype" | "typeofioc" | "observabletype"
        | "datatype" => Column::Type,
        "confidence" | "score" | "confidencelevel" | "confidencescore" => Column::Confidence,
        "expiry" | "expires" | "expiration" | "expirationdate" | "validuntil" | "validto"
        | "expireson" | "expiry date" | "ttl" => Column::ValidUntil,
        "validfrom" | "firstseen" | "firstseenutc" | "dateadded" | "created" | "createdat" => {
            Column::ValidFrom
        }
        "description" | "comment" | "comments" | "desc" | "info" | "threat" | "malware"
        | "malwarefamily" | "reason" | "title" | "name" | "signature" => Column::Description,
        "tags" | "labels" | "tag" | "label" => Column::Labels,
        "id" | "uuid" | "ref" | "reference" => Column::Reference,
        _ => Column::Ignored,
    }
}

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

fn delimiter_of(line: &str) -> Option<u8> {
    DELIMITERS
        .into_iter()
        .max_by_key(|d| line.bytes().filter(|b| b == d).count())
        .filter(|d| line.as_bytes().contains(d))
}

/// Whether `line` reads as a CSV header naming an indicator column.
pub fn looks_like_header(line: &str) -> bool {
    let Some(d) = delimiter_of(line) else {
        return false;
    };
    line.split(d as char)
        .any(|cell| matches!(column(cell), Column::Value | Column::Typed(_)))
}

/// Lines of `bytes` with their 1-based numbers and byte offsets.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, usize, &[u8])> {
    let mut offset = 0usize;
    bytes
        .split_inclusive(|&b| b == b'\n')
        .enumerate()
        .map(move |(i, l)| {
            let start = offset;
            offset += l.len();
            (i as u64 + 1, start, l)
        })
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

fn is_comment(line: &str) -> bool {
    line.starts_with('#') || line.starts_with(';') || line.starts_with("//")
}

/// Reads a TXT list.
pub fn import_txt(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let mut c = Collector::new(opts, file, IntelFormat::Txt);
    for (no, _, raw) in lines(strip_bom(bytes)) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() || is_comment(line) {
            continue;
        }
        let position = || format!("line {no}");
        if line.len() > model::MAX_VALUE_LEN + 1024 {
            c.skip(position, "line too long", &format!("{} bytes", line.len()));
            continue;
        }
        let mut words = line.split_whitespace();
        let mut value = words.next().unwrap_or("");
        // Hosts-file blocklists: `0.0.0.0 evil.com`.
        if matches!(value, "0.0.0.0" | "127.0.0.1" | "::" | "::1")
            && let Some(name) = words.clone().next()
        {
            value = name;
            words.next();
        }
        let rest: Vec<&str> = words.collect();
        let rest = rest.join(" ");
        let description = rest.trim_start_matches(['#', ' ']).trim();
        match model::normalize(value, TypeHint::Detect) {
            Ok((kind, v)) => c.push(
                position,
                kind,
                v,
                None,
                None,
                None,
                None,
                (!description.is_empty()).then_some(description),
                &[],
                None,
            ),
            Err(e) => c.skip(position, "unrecognised value", &format!("{value:?}: {e}")),
        }
    }
    Ok(c.out)
}

/// Where the header is: its text and line number, and where the data starts.
fn find_header(bytes: &[u8]) -> Option<(String, u64, usize)> {
    let mut comment_header: Option<(String, u64)> = None;
    for (no, start, raw) in lines(bytes) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if is_comment(line) {
            let inner = line.trim_start_matches(['#', ';', '/']).trim();
            if looks_like_header(inner) {
                comment_header = Some((inner.to_owned(), no));
            }
            continue;
        }
        if looks_like_header(line) {
            return Some((line.to_owned(), no, start + raw.len()));
        }
        return comment_header.map(|(h, n)| (h, n, start));
    }
    None
}

/// Reads a CSV list with a header row.
pub fn import_csv(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let bytes = strip_bom(bytes);
    let Some((header, header_line, data_start)) = find_header(bytes) else {
        return Err(ImportError {
            file: file.to_owned(),
            position: "line 1".into(),
            message: "no CSV header naming an indicator column (expected a column such as \
                      indicator, value, ioc, ip, domain, url, md5, sha256)"
                .into(),
        });
    };
    let delimiter = delimiter_of(&header).unwrap_or(b',');
    let columns: Vec<Column> = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(header.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(column).collect())
        .unwrap_or_default();
    let value_cols: Vec<(usize, TypeHint)> = match columns.iter().position(|c| *c == Column::Value)
    {
        Some(i) => vec![(i, TypeHint::Detect)],
        None => columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Column::Typed(h) => Some((i, *h)),
                _ => None,
            })
            .collect(),
    };
    let find = |want: Column| columns.iter().position(|c| *c == want);
    let (type_col, conf_col, until_col, from_col, desc_col, labels_col, ref_col) = (
        find(Column::Type),
        find(Column::Confidence),
        find(Column::ValidUntil),
        find(Column::ValidFrom),
        find(Column::Description),
        find(Column::Labels),
        find(Column::Reference),
    );

    let mut c = Collector::new(opts, file, IntelFormat::Csv);
    let data = bytes.get(data_start..).unwrap_or(&[]);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .comment(Some(b'#'))
        .from_reader(data);
    let first_data_line = header_line + 1;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() + first_data_line - 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A malformed record (bad quoting): skip to the next line.
                let line = e
                    .position()
                    .map_or(line, |p| p.line() + first_data_line - 1);
                c.skip(
                    || format!("line {line}"),
                    "malformed CSV record",
                    &e.to_string(),
                );
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record
            .position()
            .map_or(line, |p| p.line() + first_data_line - 1);
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let position = || format!("line {line}");
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let hint = match cell(type_col) {
            Some(t) => match IndicatorKind::parse_loose(&t) {
                TypeHint::Unknown => {
                    c.skip(position, "unsupported indicator type", &t);
                    continue;
                }
                h => Some(h),
            },
            None => None,
        };
        let confidence = match cell(conf_col) {
            Some(t) => match model::parse_confidence(&t) {
                Some(n) => Some(n),
                None => {
                    c.skip(
                        position,
                        "invalid confidence",
                        &format!("{t:?} (expected 0-100)"),
                    );
                    continue;
                }
            },
            None => None,
        };
        let valid_until = match cell(until_col) {
            Some(t) => match model::parse_time(&t) {
                Some(u) => Some(u),
                None => {
                    c.skip(
                        position,
                        "invalid expiry",
                        &format!("{t:?} (expected RFC 3339 or YYYY-MM-DD)"),
                    );
                    continue;
                }
            },
            None => None,
        };
        let valid_from = cell(from_col).and_then(|t| model::parse_time(&t));
        let description = cell(desc_col);
        let labels: Vec<String> = cell(labels_col)
            .map(|t| {
                t.split([',', ';', '|', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let reference = cell(ref_col);
        let mut any = false;
        for &(col, col_hint) in &value_cols {
            let Some(value) = cell(Some(col)) else {
                continue;
            };
            any = true;
            let hint = hint.unwrap_or(col_hint);
            match model::normalize(&value, hint) {
                Ok((kind, v)) => c.push(
                    position,
                    kind,
                    v,
                    confidence,
                    None,
                    valid_from,
                    valid_until,
                    description.as_deref(),
                    &labels,
                    reference.as_deref(),
                ),
                Err(e) => c.skip(
                    position,
                    "unrecognised value",
                    &format!("{:?}: {e}", model::clip(&value, 80)),
                ),
            }
        }
        if !any {
            c.skip(position, "no indicator value", "");
        }
    }
    Ok(c.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn opts() -> ImportOptions {
        ImportOptions::new("test", Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap())
    }

    #[test]
    fn txt_lists() {
        let text = b"# comment\n\n1.2.3.4\n0.0.0.0 ads.evil.com\nevil.com  # c2 domain\nnot a value!\n;x\n10.0.0.0/8\n";
        let got = import_txt(text, "l.txt", &opts()).unwrap();
        let values: Vec<_> = got
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (IndicatorKind::Ipv4, "1.2.3.4"),
                (IndicatorKind::Domain, "ads.evil.com"),
                (IndicatorKind::Domain, "evil.com"),
                (IndicatorKind::Ipv4, "10.0.0.0/8"),
            ]
        );
        assert_eq!(got.indicators[2].description.as_deref(), Some("c2 domain"));
        assert_eq!(got.warnings.len(), 1);
        assert_eq!(got.warnings[0].position, "line 6");
        assert!(
            got.warnings[0]
                .to_string()
                .starts_with("l.txt: line 6: unrecognised value")
        );
        assert!(
            got.indicators
                .iter()
                .all(|i| i.source == "test" && i.confidence == 50)
        );
    }

    #[test]
    fn csv_with_liberal_header() {
        let text = "Indicator;Type;Confidence;Expires;Comment;Tags\n\
                    1.2.3.4;ip-dst;90;2030-01-01;c2;apt x\n\
                    evil.com;domain;0.5;;phish;\n\
                    abc;md5;10;;;\n\
                    old.com;domain;;2020-01-01;;\n\
                    x.com;regkey;;;;\n\
                    \"y.com\";hostname;high;;\"multi\nline\";\n";
        let got = import_csv(text.as_bytes(), "f.csv", &opts()).unwrap();
        let values: Vec<_> = got
            .indicators
            .iter()
            .map(|i| (i.value.as_str(), i.confidence))
            .collect();
        assert_eq!(values, [("1.2.3.4", 90), ("evil.com", 50), ("y.com", 85)]);
        let first = &got.indicators[0];
        assert_eq!(first.labels, ["apt", "x"]);
        assert_eq!(first.description.as_deref(), Some("c2"));
        assert_eq!(
            first.valid_until.map(|t| t.to_rfc3339()).as_deref(),
            Some("2030-01-01T00:00:00+00:00")
        );
        assert_eq!(
            got.indicators[2].description.as_deref(),
            Some("multi\nline")
        );
        let positions: Vec<_> = got.warnings.iter().map(|w| w.position.as_str()).collect();
        assert_eq!(positions, ["line 4", "line 5", "line 6"]);
        assert_eq!(got.skipped.get("already expired"), Some(&1));
        assert_eq!(got.skipped.get("unsupported indicator type"), Some(&1));
    }

    #[test]
    fn abuse_ch_style_commented_header_and_typed_columns() {
        let text = b"################\n# URLhaus\n# id,dateadded,url,url_status,threat,tags\n\
                     \"1\",\"2024-01-01 10:00:00\",\"http://Evil.com/x.exe\",\"online\",\"malware_download\",\"elf,mirai\"\n";
        let got = import_csv(text, "urlhaus.csv", &opts()).unwrap();
        assert_eq!(got.indicators.len(), 1);
        let i = &got.indicators[0];
        assert_eq!(
            (i.kind, i.value.as_str()),
            (IndicatorKind::Url, "evil.com/x.exe")
        );
        assert_eq!(i.reference.as_deref(), Some("1"));
        assert_eq!(i.labels, ["elf", "mirai"]);
        assert!(i.valid_from.is_some());

        let bazaar = format!(
            "sha256_hash,md5_hash,signature\n{},{},Emotet\n",
            "A".repeat(64),
            "b".repeat(32)
        );
        let got = import_csv(bazaar.as_bytes(), "b.csv", &opts()).unwrap();
        let kinds: Vec<_> = got.indicators.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [IndicatorKind::Sha256, IndicatorKind::Md5]);
    }

    #[test]
    fn csv_without_header_is_an_error_naming_the_file() {
        let e = import_csv(b"1.2.3.4\n", "f.csv", &opts()).unwrap_err();
        assert_eq!(e.file, "f.csv");
        assert!(e.message.contains("header"));
    }
}
