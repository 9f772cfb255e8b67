//! `palisade vuln scan|host|db`: inventories and advisories in, ranked findings out.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use comfy_table::{Cell, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use palisade_event::Severity;
use palisade_store::{NewVulnScan, SqliteStore, StoredAdvisory, VulnStore};
use palisade_vuln::db::for_each_document;
use palisade_vuln::exploit::{Epss, Kev};
use palisade_vuln::host::{HostFinding, HostOptions, HostReport, check_host};
use palisade_vuln::inventory::Inventory;
use palisade_vuln::{AdvisoryDb, Finding, LoadReport, osv, report, run};
use rayon::prelude::*;
use serde_json::json;

use crate::cli::{VulnDbStatusArgs, VulnDbUpdateArgs, VulnFormat, VulnHostArgs, VulnScanArgs};
use crate::{EXIT_FINDINGS, EXIT_USAGE};

/// Document errors printed before only counting them.
const MAX_PRINTED_ERRORS: usize = 20;
/// Largest advisory archive downloaded by `db update --from URL`.
const MAX_DOWNLOAD: u64 = 2 << 30;

/// Everything one scan produced.
pub struct ScanOutcome {
    pub inventories: Vec<Inventory>,
    pub findings: Vec<Finding>,
    pub host: Option<HostReport>,
    pub errors: Vec<String>,
    pub advisories: usize,
    pub packages: usize,
}

/// Loads advisories from files and, when given, the store (only those naming a package of
/// the inventories); prints what could not be read.
pub fn load_advisories(
    dbs: &[PathBuf],
    store: Option<&SqliteStore>,
    inventories: &[Inventory],
    quiet: bool,
) -> Result<AdvisoryDb> {
    let mut report = LoadReport::default();
    let db = palisade_server::vuln::load_advisories(dbs, store, inventories, &mut report)?;
    print_load_errors(&report, quiet);
    Ok(db)
}

fn print_load_errors(report: &LoadReport, quiet: bool) {
    for e in report.errors.iter().take(MAX_PRINTED_ERRORS) {
        eprintln!("palisade: warning: advisory skipped: {e}");
    }
    if report.errors.len() > MAX_PRINTED_ERRORS {
        eprintln!(
            "palisade: warning: {} more unreadable advisories only counted",
            report.errors.len() - MAX_PRINTED_ERRORS
        );
    }
    if !quiet {
        eprintln!(
            "palisade: advisories: {} loaded, {} withdrawn, {} of other ecosystems, {} unreadable",
            report.loaded,
            report.withdrawn,
            report.unsupported,
            report.errors.len()
        );
    }
}

/// Reads inventories, matches them, ranks the findings (and checks the host if asked).
pub fn run_scan(
    paths: &[PathBuf],
    db_paths: &[PathBuf],
    store: Option<&SqliteStore>,
    kev: Option<&Kev>,
    epss: Option<&Epss>,
    host_root: Option<&Path>,
    quiet: bool,
) -> Result<ScanOutcome> {
    let (inventories, mut errors) = run::read_inventories(paths);
    let db = load_advisories(db_paths, store, &inventories, quiet)?;
    let scanned = run::scan_inventories(inventories, &db, kev, epss, |invs, scan| {
        invs.par_iter().map(scan).collect()
    });
    errors.extend(scanned.errors);
    let host = host_root.map(|root| check_host(&HostOptions::new(root)));
    Ok(ScanOutcome {
        inventories: scanned.inventories,
        findings: scanned.findings,
        host,
        errors,
        advisories: db.len(),
        packages: scanned.packages,
    })
}

fn open_store(path: &Path) -> Result<SqliteStore> {
    SqliteStore::open(path).with_context(|| format!("opening store {}", path.display()))
}

pub fn scan(args: VulnScanArgs) -> Result<u8> {
    if args.db.is_empty() && args.store.is_none() {
        bail!(
            "no advisories: give --db DIR|ZIP, or --store FILE.db after `palisade vuln db update`"
        );
    }
    let started = Utc::now();
    let kev = args
        .kev
        .as_deref()
        .map(Kev::load)
        .transpose()
        .context("reading --kev")?;
    let epss = args
        .epss
        .as_deref()
        .map(Epss::load)
        .transpose()
        .context("reading --epss")?;
    let mut store = args.store.as_deref().map(open_store).transpose()?;
    let quiet = args.format != VulnFormat::Table && args.output.is_none();
    let mut outcome = run_scan(
        &args.paths,
        &args.db,
        store.as_ref(),
        kev.as_ref(),
        epss.as_ref(),
        args.host.then_some(args.root.as_path()),
        quiet,
    )?;
    for e in &outcome.errors {
        eprintln!("palisade: error: {e}");
    }
    outcome.findings.retain(|f| f.severity >= args.min_level);
    if let Some(h) = &mut outcome.host {
        h.findings.retain(|f| f.severity >= args.min_level);
    }
    if let Some(store) = &mut store {
        let scan = scan_record(&outcome, &args.paths, started.timestamp_millis());
        store
            .save_vuln_scan(&scan, palisade_server::vuln::KEEP_SCANS)
            .context("recording the scan")?;
    }
    let text = render(&outcome, args.format)?;
    write_out(args.output.as_deref(), &text)?;
    if args.format == VulnFormat::Table || args.output.is_some() {
        eprintln!("{}", summary_line(&outcome));
    }
    Ok(exit_code(&outcome, args.fail_on))
}

fn exit_code(outcome: &ScanOutcome, fail_on: Option<Severity>) -> u8 {
    if let Some(level) = fail_on {
        let host_hit = outcome
            .host
            .as_ref()
            .is_some_and(|h| h.findings.iter().any(|f| f.severity >= level));
        if host_hit || outcome.findings.iter().any(|f| f.severity >= level) {
            return EXIT_FINDINGS;
        }
    }
    if !outcome.errors.is_empty() {
        return EXIT_USAGE;
    }
    0
}

/// The store's record of a scan.
fn scan_record(outcome: &ScanOutcome, targets: &[PathBuf], started_ms: i64) -> NewVulnScan {
    palisade_server::vuln::scan_record(
        &outcome.findings,
        outcome.host.as_ref().map(|h| h.findings.as_slice()),
        targets,
        outcome.packages,
        started_ms,
    )
}

fn write_out(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn summary_line(o: &ScanOutcome) -> String {
    let mut by = [0usize; 5];
    for f in &o.findings {
        by[f.severity as usize] += 1;
    }
    let host = o
        .host
        .as_ref()
        .map(|h| format!(", {} host weaknesses", h.findings.len()))
        .unwrap_or_default();
    format!(
        "palisade: {} inventories, {} packages, {} advisories: {} findings (critical {}, high {}, medium {}, low {}, informational {}){host}",
        o.inventories.len(),
        o.packages,
        o.advisories,
        o.findings.len(),
        by[4],
        by[3],
        by[2],
        by[1],
        by[0]
    )
}

fn render(o: &ScanOutcome, format: VulnFormat) -> Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    Ok(match format {
        VulnFormat::Json => {
            let inventories: Vec<_> = o
                .inventories
                .iter()
                .map(|i| json!({"file": i.file, "kind": i.kind, "packages": i.packages.len(), "skipped": i.skipped}))
                .collect();
            let doc = json!({
                "findings": o.findings,
                "host_findings": o.host.as_ref().map(|h| &h.findings),
                "listeners": o.host.as_ref().map(|h| &h.listeners),
                "inventories": inventories,
                "errors": o.errors,
                "summary": {
                    "inventories": o.inventories.len(),
                    "packages": o.packages,
                    "advisories": o.advisories,
                    "findings": o.findings.len(),
                    "host_findings": o.host.as_ref().map(|h| h.findings.len()),
                },
            });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        VulnFormat::Sarif => {
            let mut doc = report::sarif(&o.findings, version);
            if let Some(h) = &o.host {
                append_host_sarif(&mut doc, &h.findings);
            }
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        VulnFormat::CyclonedxVex => {
            let ts = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            serde_json::to_string_pretty(&report::cyclonedx_vex(&o.findings, version, &ts))? + "\n"
        }
        VulnFormat::Ecs => {
            let now = Utc::now();
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            let mut out = String::new();
            for f in &o.findings {
                out.push_str(&palisade_vuln::ecs::finding_event(f, &host, now).to_string());
                out.push('\n');
            }
            for f in o.host.iter().flat_map(|h| &h.findings) {
                out.push_str(&palisade_vuln::ecs::host_event(f, &host, now).to_string());
                out.push('\n');
            }
            out
        }
        VulnFormat::Table => {
            let mut out = String::new();
            if !o.findings.is_empty() {
                out.push_str(&findings_table(&o.findings).to_string());
                out.push('\n');
            }
            if let Some(h) = &o.host
                && !h.findings.is_empty()
            {
                out.push_str(&host_table(&h.findings).to_string());
                out.push('\n');
            }
            out
        }
    })
}

fn append_host_sarif(doc: &mut serde_json::Value, findings: &[HostFinding]) {
    let Some(run) = doc["runs"].get_mut(0) else {
        return;
    };
    let mut results = Vec::new();
    for f in findings {
        if let Some(rules) = run["tool"]["driver"]["rules"].as_array_mut()
            && !rules.iter().any(|r| r["id"] == f.check)
        {
            rules.push(
                json!({"id": f.check, "name": f.check, "shortDescription": {"text": f.title},
                "help": {"text": f.fix}, "properties": {"tags": ["security", "configuration"]}}),
            );
        }
        let level = match f.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            _ => "note",
        };
        let (uri, line) = match f.target.rsplit_once(':') {
            Some((file, l)) if l.parse::<u64>().is_ok() && file.starts_with('/') => {
                (file.to_owned(), l.parse::<u64>().ok())
            }
            _ => (f.target.clone(), None),
        };
        let mut loc = json!({"physicalLocation": {"artifactLocation": {"uri": uri}}});
        if let Some(l) = line {
            loc["physicalLocation"]["region"] = json!({"startLine": l});
        }
        results.push(json!({"ruleId": f.check, "level": level,
            "message": {"text": format!("{}: {}. Fix: {}", f.title, f.evidence, f.fix)},
            "locations": [loc]}));
    }
    if let Some(r) = run["results"].as_array_mut() {
        r.extend(results);
    }
}

fn severity_cell(s: Severity) -> Cell {
    Cell::new(s.as_str()).fg(match s {
        Severity::Critical | Severity::High => comfy_table::Color::Red,
        Severity::Medium => comfy_table::Color::Yellow,
        Severity::Low => comfy_table::Color::Green,
        Severity::Informational => comfy_table::Color::DarkGrey,
    })
}

fn findings_table(findings: &[Finding]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "Priority",
            "Severity",
            "Advisory",
            "Package",
            "Installed",
            "Fix",
            "Why",
        ]);
    for f in findings {
        let cve = f.aliases.iter().find(|a| a.starts_with("CVE-"));
        let id = match cve {
            Some(c) => format!("{}\n{c}", f.id),
            None => f.id.clone(),
        };
        let why: Vec<&str> = f.reasons.iter().map(|r| r.reason.as_str()).collect();
        t.add_row(vec![
            Cell::new(format!("{:.1}", f.priority)),
            severity_cell(f.severity),
            Cell::new(id),
            Cell::new(format!("{} ({})", f.package, f.ecosystem)),
            Cell::new(&f.installed),
            Cell::new(f.fixed.as_deref().unwrap_or("none")),
            Cell::new(why.join("; ")),
        ]);
    }
    t
}

fn host_table(findings: &[HostFinding]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["Severity", "Weakness", "Where", "Seen", "Fix"]);
    for f in findings {
        t.add_row(vec![
            severity_cell(f.severity),
            Cell::new(&f.title),
            Cell::new(&f.target),
            Cell::new(&f.evidence),
            Cell::new(&f.fix),
        ]);
    }
    t
}

pub fn host(args: VulnHostArgs) -> Result<u8> {
    let mut opts = HostOptions::new(&args.root);
    opts.suid = !args.no_suid;
    let mut report = check_host(&opts);
    for e in &report.errors {
        eprintln!(
            "palisade: warning: {} could not check {}: {}",
            e.check, e.file, e.message
        );
    }
    report.findings.retain(|f| f.severity >= args.min_level);
    let outcome = ScanOutcome {
        inventories: Vec::new(),
        findings: Vec::new(),
        host: Some(report),
        errors: Vec::new(),
        advisories: 0,
        packages: 0,
    };
    let text = render(&outcome, args.format)?;
    write_out(args.output.as_deref(), &text)?;
    if args.format == VulnFormat::Table {
        let n = outcome.host.as_ref().map_or(0, |h| h.findings.len());
        eprintln!(
            "palisade: {n} host weaknesses at or above {}",
            args.min_level
        );
    }
    Ok(exit_code(&outcome, args.fail_on))
}

/// Downloads `url` into `dir`; returns the file.
fn download(url: &str, dir: &Path) -> Result<PathBuf> {
    let mut resp = ureq::get(url)
        .call()
        .with_context(|| format!("downloading {url}"))?;
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD)
        .read_to_vec()
        .with_context(|| format!("reading {url}"))?;
    let name = if bytes.starts_with(b"PK") {
        "download.zip"
    } else {
        "download.json"
    };
    let path = dir.join(name);
    std::fs::write(&path, &bytes)?;
    Ok(path)
}

pub fn db_update(args: VulnDbUpdateArgs) -> Result<u8> {
    let tmp = tempfile::tempdir()?;
    let from = args.from.trim();
    let path = if from.starts_with("http://") || from.starts_with("https://") {
        download(from, tmp.path())?
    } else {
        PathBuf::from(from)
    };
    let mut report = LoadReport::default();
    let mut unsupported = 0u64;
    let mut bad = Vec::new();
    let mut advisories = Vec::new();
    let mut withdrawn = Vec::new();
    let mut docs = 0u64;
    for_each_document(
        &path,
        &mut |doc| {
            docs += 1;
            match osv::parse_document(&doc.file, &doc.text) {
                Ok(p) => match p.advisory {
                    Ok(a) => {
                        let mut packages: Vec<(String, String)> = a
                            .affected
                            .iter()
                            .map(|x| (x.ecosystem.osv_name().to_owned(), x.name.clone()))
                            .collect();
                        packages.sort();
                        packages.dedup();
                        advisories.push(StoredAdvisory {
                            id: p.id,
                            source: String::new(),
                            file: doc
                                .file
                                .rsplit(['/', '!'])
                                .next()
                                .unwrap_or(&doc.file)
                                .to_owned(),
                            modified: p.modified,
                            body: doc.text,
                            packages,
                        });
                    }
                    Err(osv::Skip::Withdrawn) => withdrawn.push(p.id),
                    Err(osv::Skip::Unsupported) => unsupported += 1,
                },
                Err(message) => bad.push(palisade_vuln::db::DocumentError {
                    file: doc.file,
                    message,
                }),
            }
        },
        &mut report,
    )
    .with_context(|| format!("reading advisories from {from}"))?;
    report.documents = docs;
    report.unsupported = unsupported;
    report.errors.extend(bad);
    report.loaded = advisories.len() as u64;
    report.withdrawn = withdrawn.len() as u64;
    print_load_errors(&report, true);
    if advisories.is_empty() && withdrawn.is_empty() {
        bail!("{from}: no OSV advisories of a supported ecosystem found ({docs} documents read)");
    }
    let mut store = open_store(&args.store)?;
    let save = store
        .save_advisories(from, &advisories, &withdrawn, Utc::now().timestamp_millis())
        .context("saving advisories")?;
    eprintln!(
        "palisade: {from}: {docs} documents: {} new, {} updated, {} withdrawn removed, {} of other ecosystems, {} unreadable",
        save.inserted,
        save.updated,
        save.removed,
        report.unsupported,
        report.errors.len()
    );
    Ok(if report.errors.is_empty() {
        0
    } else {
        EXIT_USAGE
    })
}

pub fn db_status(args: VulnDbStatusArgs) -> Result<u8> {
    let store = open_store(&args.store)?;
    let status = store.advisory_status()?;
    let (counts, sources) = (status.ecosystems, status.sources);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_header(vec!["Ecosystem", "Advisories"]);
    for (eco, n) in counts {
        t.add_row(vec![eco, n.to_string()]);
    }
    println!("{t}");
    let mut s = Table::new();
    s.load_style(UTF8_FULL_CONDENSED)
        .set_header(vec!["Source", "Advisories", "Updated"]);
    for src in sources {
        let when = chrono::DateTime::from_timestamp_millis(src.updated_at)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        s.add_row(vec![src.source, src.advisories.to_string(), when]);
    }
    println!("{s}");
    Ok(0)
}
