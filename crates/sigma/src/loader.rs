//! Loading rule files: directories are walked for `.yml`/`.yaml`, every YAML document becomes a
//! detection, correlation or filter rule, filters are applied, correlations resolved, and
//! everything compiles into a [`RuleSet`] and a [`CorrelationEngine`].
//!
//! Nothing is dropped silently: a document that cannot be used is a [`LoadFailure`] with its
//! file, document number and reason; a rule that loads but cannot match any supported log, or
//! uses an unconfigured placeholder, is a [`LoadWarning`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Duration as ChronoDuration;
use palisade_event::FieldId;
use palisade_event::alert::RuleInfo;
use rayon::prelude::*;

use crate::compile::compile_detection;
use crate::correlation::{CompiledCorrelation, CorrelationEngine, GroupField, RuleRef};
use crate::engine::{EngineOptions, RuleSet, SigmaRule};
use crate::logsource::{Route, route_for};
use crate::modifier::ModifierContext;
use crate::rule::{
    CorrelationRule, DetectionRule, FilterRule, LogSource, RuleDoc, RuleMeta, parse_doc,
};

/// Largest rule file read.
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

/// How to load rules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub modifiers: ModifierContext,
    pub engine: EngineOptions,
}

/// A rule document that could not be loaded.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub path: PathBuf,
    /// 1-based document number within the file.
    pub document: usize,
    pub title: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.document > 1 {
            write!(f, " (document {})", self.document)?;
        }
        if let Some(t) = &self.title {
            write!(f, " [{t}]")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A rule that loaded with a caveat.
#[derive(Debug, Clone)]
pub struct LoadWarning {
    pub path: PathBuf,
    pub title: String,
    pub message: String,
}

/// What loading found.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub files: usize,
    pub detection_rules: usize,
    pub correlation_rules: usize,
    pub filter_rules: usize,
    pub failures: Vec<LoadFailure>,
    pub warnings: Vec<LoadWarning>,
}

/// Loaded, compiled rules.
pub struct LoadedRules {
    pub rules: RuleSet,
    pub correlations: Vec<CompiledCorrelation>,
    pub report: LoadReport,
}

impl LoadedRules {
    /// A fresh correlation engine for one run.
    pub fn correlation_engine(&self) -> CorrelationEngine {
        CorrelationEngine::new(self.correlations.clone())
    }
}

/// Finds rule files under `paths` (files are taken as given; directories are walked for
/// `.yml`/`.yaml`, sorted). Unreadable paths become failures.
pub fn discover(paths: &[PathBuf], failures: &mut Vec<LoadFailure>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
            continue;
        }
        if !p.is_dir() {
            failures.push(LoadFailure {
                path: p.clone(),
                document: 0,
                title: None,
                reason: "no such file or directory".into(),
            });
            continue;
        }
        for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_yaml(e.path()) => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => failures.push(LoadFailure {
                    path: e.path().unwrap_or(p).to_owned(),
                    document: 0,
                    title: None,
                    reason: e.to_string(),
                }),
            }
        }
    }
    files
}

fn is_yaml(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

struct Doc {
    path: Arc<Path>,
    index: usize,
    doc: RuleDoc,
}

/// Reads and parses every document of one file.
fn read_file(path: &Path) -> (Vec<Doc>, Vec<LoadFailure>) {
    let fail = |document, title, reason: String| LoadFailure {
        path: path.to_owned(),
        document,
        title,
        reason,
    };
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_RULE_FILE_BYTES => {
            return (
                Vec::new(),
                vec![fail(
                    0,
                    None,
                    format!("file larger than {MAX_RULE_FILE_BYTES} bytes"),
                )],
            );
        }
        Ok(_) => std::fs::read(path),
        Err(e) => Err(e),
    };
    let text = match text {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => return (Vec::new(), vec![fail(0, None, "not UTF-8 text".into())]),
        },
        Err(e) => return (Vec::new(), vec![fail(0, None, e.to_string())]),
    };
    let nodes = match crate::yaml::load(&text) {
        Ok(n) => n,
        Err(e) => return (Vec::new(), vec![fail(0, None, e.to_string())]),
    };
    let shared: Arc<Path> = Arc::from(path);
    let mut docs = Vec::new();
    let mut failures = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match parse_doc(node) {
            Ok(doc) => docs.push(Doc {
                path: shared.clone(),
                index: i + 1,
                doc,
            }),
            Err(reason) => {
                let title = node
                    .get("title")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned);
                failures.push(fail(i + 1, title, reason));
            }
        }
    }
    (docs, failures)
}

/// Loads all rules under `paths`.
pub fn load_rules(paths: &[PathBuf], opts: &LoadOptions) -> LoadedRules {
    let mut report = LoadReport::default();
    let files = discover(paths, &mut report.failures);
    report.files = files.len();
    let parsed: Vec<(Vec<Doc>, Vec<LoadFailure>)> =
        files.par_iter().map(|f| read_file(f)).collect();
    let mut detections = Vec::new();
    let mut correlations = Vec::new();
    let mut filters = Vec::new();
    for (docs, fails) in parsed {
        report.failures.extend(fails);
        for d in docs {
            match d.doc {
                RuleDoc::Detection(r) => detections.push((d.path, d.index, r)),
                RuleDoc::Correlation(c) => correlations.push((d.path, d.index, c)),
                RuleDoc::Filter(f) => filters.push((d.path, d.index, f)),
            }
        }
    }
    report.filter_rules = filters.len();
    let filter_map = index_filters(&detections, &filters, &mut report);
    let compiled: Vec<_> = detections
        .par_iter()
        .enumerate()
        .map(|(i, (path, index, rule))| {
            let applied = filter_map.get(&i).map(Vec::as_slice).unwrap_or(&[]);
            compile_rule(path, *index, rule, applied, &opts.modifiers)
        })
        .collect();
    let mut rules = Vec::with_capacity(compiled.len());
    let mut rule_of_doc = vec![None; detections.len()];
    for (i, result) in compiled.into_iter().enumerate() {
        match result {
            Ok((rule, warnings)) => {
                report.warnings.extend(warnings);
                rule_of_doc[i] = Some(rules.len() as u32);
                rules.push(rule);
            }
            Err(f) => report.failures.push(f),
        }
    }
    report.detection_rules = rules.len();
    let compiled_corr = resolve_correlations(&correlations, &mut rules, &mut report);
    report.correlation_rules = compiled_corr.len();
    // With routing ignored every rule already runs on every event, 4688 included; a variant
    // would report each of its primary's matches a second time.
    if !opts.engine.ignore_logsource {
        add_security_4688_variants(&mut rules);
    }
    report
        .failures
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.document.cmp(&b.document)));
    LoadedRules {
        rules: RuleSet::new(rules, opts.engine),
        correlations: compiled_corr,
        report,
    }
}

fn rule_info(meta: &RuleMeta, path: &Path) -> Arc<RuleInfo> {
    Arc::new(RuleInfo {
        id: meta.id.clone().unwrap_or_default(),
        title: meta.title.clone(),
        level: meta.level,
        tags: meta.tags.clone(),
        description: meta.description.clone(),
        author: meta.author.clone(),
        path: Some(path.display().to_string()),
    })
}

/// Which filters apply to which detection rule (by position in `detections`).
fn index_filters<'a>(
    detections: &[(Arc<Path>, usize, DetectionRule)],
    filters: &'a [(Arc<Path>, usize, FilterRule)],
    report: &mut LoadReport,
) -> HashMap<usize, Vec<&'a FilterRule>> {
    let mut by_ref: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (_, _, r)) in detections.iter().enumerate() {
        for key in [r.meta.id.as_deref(), r.meta.name.as_deref()]
            .into_iter()
            .flatten()
        {
            by_ref.entry(key).or_default().push(i);
        }
    }
    let mut out: HashMap<usize, Vec<&FilterRule>> = HashMap::new();
    for (path, _, f) in filters {
        for target in &f.rules {
            let Some(idx) = by_ref.get(target.as_str()) else {
                report.warnings.push(LoadWarning {
                    path: path.to_path_buf(),
                    title: f.meta.title.clone(),
                    message: format!("filter names rule {target:?}, which is not loaded"),
                });
                continue;
            };
            for &i in idx {
                if logsource_compatible(&f.logsource, &detections[i].2.logsource) {
                    out.entry(i).or_default().push(f);
                } else {
                    report.warnings.push(LoadWarning {
                        path: path.to_path_buf(),
                        title: f.meta.title.clone(),
                        message: format!("not applied to {target:?}: its logsource differs"),
                    });
                }
            }
        }
    }
    out
}

fn logsource_compatible(filter: &LogSource, rule: &LogSource) -> bool {
    let ok = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
    ok(&filter.product, &rule.product)
        && ok(&filter.category, &rule.category)
        && ok(&filter.service, &rule.service)
}

type Compiled = Result<(SigmaRule, Vec<LoadWarning>), LoadFailure>;

fn compile_rule(
    path: &Path,
    index: usize,
    rule: &DetectionRule,
    filters: &[&FilterRule],
    ctx: &ModifierContext,
) -> Compiled {
    let mut notes = Vec::new();
    let filter_dets: Vec<_> = filters.iter().map(|f| &f.detection).collect();
    let detection =
        compile_detection(&rule.detection, &filter_dets, ctx, &mut notes).map_err(|reason| {
            LoadFailure {
                path: path.to_owned(),
                document: index,
                title: Some(rule.meta.title.clone()),
                reason,
            }
        })?;
    let ls = &rule.logsource;
    let route = route_for(
        ls.product.as_deref(),
        ls.category.as_deref(),
        ls.service.as_deref(),
    );
    if let Route::Nowhere(why) = &route {
        notes.push(format!("never matches: {why}"));
    }
    let mut fields: Vec<FieldId> = detection.fields().collect();
    fields.sort();
    fields.dedup();
    let warnings = notes
        .into_iter()
        .map(|message| LoadWarning {
            path: path.to_owned(),
            title: rule.meta.title.clone(),
            message,
        })
        .collect();
    Ok((
        SigmaRule {
            info: rule_info(&rule.meta, path),
            name: rule.meta.name.clone(),
            logsource: rule.logsource.clone(),
            route,
            alerting: true,
            fields,
            detection,
            primary: None,
        },
        warnings,
    ))
}

/// Sysmon process-creation field names and their Security 4688 equivalents. Fields 4688 does
/// not record (hashes, `OriginalFileName`, `ParentCommandLine`, …) are simply absent there.
const SECURITY_4688_FIELDS: &[(&str, &str)] = &[
    ("Image", "NewProcessName"),
    ("ParentImage", "ParentProcessName"),
    ("ProcessId", "NewProcessId"),
    ("ParentProcessId", "ProcessId"),
    ("LogonId", "SubjectLogonId"),
];

/// `process_creation` rules are written for Sysmon event 1; many networks only have Security
/// event 4688. Each such rule gets a second instance routed to 4688 with its field names
/// mapped, reporting as the same rule.
fn add_security_4688_variants(rules: &mut Vec<SigmaRule>) {
    let map: Vec<(FieldId, FieldId)> = SECURITY_4688_FIELDS
        .iter()
        .map(|(a, b)| (FieldId::known(a), FieldId::known(b)))
        .collect();
    let remap = |f: FieldId| map.iter().find(|(a, _)| *a == f).map_or(f, |(_, b)| *b);
    let mut variants = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let ls = &r.logsource;
        if ls.product.as_deref() != Some("windows")
            || ls.category.as_deref() != Some("process_creation")
            || ls.service.is_some()
        {
            continue;
        }
        let mut detection = r.detection.clone();
        detection.remap_fields(&remap);
        let mut fields: Vec<FieldId> = detection.fields().collect();
        fields.sort();
        fields.dedup();
        variants.push(SigmaRule {
            info: Arc::clone(&r.info),
            name: r.name.clone(),
            logsource: r.logsource.clone(),
            route: Route::Windows {
                channels: Some(vec!["security".into()]),
                event_ids: Some(vec![4688]),
                guard: None,
            },
            alerting: r.alerting,
            fields,
            detection,
            primary: Some(i as u32),
        });
    }
    rules.extend(variants);
}

/// Resolves correlation references (rules by id or name, other correlations), marks referenced
/// rules as non-alerting unless `generate: true`, and compiles group-by fields with aliases.
fn resolve_correlations(
    correlations: &[(Arc<Path>, usize, CorrelationRule)],
    rules: &mut [SigmaRule],
    report: &mut LoadReport,
) -> Vec<CompiledCorrelation> {
    let mut names: HashMap<String, RuleRef> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        if !r.info.id.is_empty() {
            names.insert(r.info.id.clone(), RuleRef::Detection(i as u32));
        }
        if let Some(n) = &r.name {
            names.insert(n.clone(), RuleRef::Detection(i as u32));
        }
    }
    for (i, (_, _, c)) in correlations.iter().enumerate() {
        for key in [c.meta.id.as_ref(), c.meta.name.as_ref()]
            .into_iter()
            .flatten()
        {
            names.insert(key.clone(), RuleRef::Correlation(i as u32));
        }
    }
    let mut out: Vec<Option<CompiledCorrelation>> = Vec::with_capacity(correlations.len());
    for (path, index, c) in correlations {
        let refs: Result<Vec<RuleRef>, String> = c
            .rules
            .iter()
            .map(|r| {
                names
                    .get(r)
                    .copied()
                    .ok_or_else(|| format!("references unknown rule {r:?}"))
            })
            .collect();
        let compiled = refs.and_then(|refs| compile_correlation(c, path, refs, &names));
        match compiled {
            Ok(cc) => out.push(Some(cc)),
            Err(reason) => {
                report.failures.push(LoadFailure {
                    path: path.to_path_buf(),
                    document: *index,
                    title: Some(c.meta.title.clone()),
                    reason,
                });
                out.push(None);
            }
        }
    }
    let mut fail = |i: usize, reason: &str| {
        let (path, index, corr) = &correlations[i];
        report.failures.push(LoadFailure {
            path: path.to_path_buf(),
            document: *index,
            title: Some(corr.meta.title.clone()),
            reason: reason.into(),
        });
    };
    // A correlation that reaches itself through its references would feed its own alerts back
    // to itself without end (the engine recursed until the stack overflowed).
    for (i, cyclic) in cyclic_correlations(&out).into_iter().enumerate() {
        if cyclic {
            out[i] = None;
            fail(
                i,
                "its correlation references form a cycle (it reaches itself, or depends on \
                 correlations that do)",
            );
        }
    }
    // Failures propagate, transitively: a correlation needs every correlation it references.
    loop {
        let mut changed = false;
        for i in 0..out.len() {
            let broken = out[i].as_ref().is_some_and(|c| {
                c.refs.iter().any(
                    |r| matches!(r, RuleRef::Correlation(k) if out.get(*k as usize).is_none_or(Option::is_none)),
                )
            });
            if broken {
                out[i] = None;
                fail(i, "references a correlation that failed to load");
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Correlation indices shift when some failed; remap references to the survivors.
    let mut new_index = vec![None; out.len()];
    let mut n = 0u32;
    for (i, c) in out.iter().enumerate() {
        if c.is_some() {
            new_index[i] = Some(n);
            n += 1;
        }
    }
    let mut survivors = Vec::new();
    for (i, c) in out.into_iter().enumerate() {
        let Some(mut c) = c else { continue };
        for r in &mut c.refs {
            if let RuleRef::Correlation(k) = r
                && let Some(&Some(m)) = new_index.get(*k as usize)
            {
                *k = m;
            }
        }
        if !correlations[i].2.generate {
            for r in &c.refs {
                if let RuleRef::Detection(d) = r {
                    rules[*d as usize].alerting = false;
                }
            }
        }
        survivors.push(c);
    }
    survivors
}

/// Which correlations lie on a cycle of correlation references or depend on one: those a
/// topological sort (Kahn's algorithm) cannot order. Linear in correlations and references.
fn cyclic_correlations(out: &[Option<CompiledCorrelation>]) -> Vec<bool> {
    let n = out.len();
    let mut pending = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, c) in out.iter().enumerate() {
        let Some(c) = c else { continue };
        for r in &c.refs {
            if let RuleRef::Correlation(k) = r {
                let k = *k as usize;
                if out.get(k).is_some_and(Option::is_some) {
                    pending[i] += 1;
                    users[k].push(i);
                }
            }
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut ordered = vec![false; n];
    while let Some(k) = ready.pop() {
        ordered[k] = true;
        for &u in &users[k] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push(u);
            }
        }
    }
    out.iter()
        .zip(ordered)
        .map(|(c, ordered)| c.is_some() && !ordered)
        .collect()
}

fn compile_correlation(
    c: &CorrelationRule,
    path: &Path,
    refs: Vec<RuleRef>,
    names: &HashMap<String, RuleRef>,
) -> Result<CompiledCorrelation, String> {
    let intern = |f: &str| FieldId::intern(f).map_err(|e| e.to_string());
    let mut group_by = Vec::with_capacity(c.group_by.len());
    for g in &c.group_by {
        let mut per_rule = HashMap::new();
        if let Some(alias) = c.aliases.get(g) {
            for (rule_name, field) in alias {
                let r = names
                    .get(rule_name)
                    .ok_or_else(|| format!("alias {g:?} names unknown rule {rule_name:?}"))?;
                per_rule.insert(*r, intern(field)?);
            }
        }
        group_by.push(GroupField {
            name: g.clone(),
            default: intern(g)?,
            per_rule,
        });
    }
    let timespan = ChronoDuration::from_std(c.timespan).map_err(|e| e.to_string())?;
    Ok(CompiledCorrelation {
        info: rule_info(&c.meta, path),
        kind: c.kind,
        refs,
        group_by,
        timespan,
        condition: c.condition.clone(),
        field: c.field.as_deref().map(intern).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(name: &str, text: &str) -> LoadedRules {
        let dir =
            std::env::temp_dir().join(format!("palisade-loader-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules.yml");
        std::fs::write(&path, text).unwrap();
        let loaded = load_rules(&[path], &LoadOptions::default());
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    const BASE: &str = "title: base\nname: base\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image: x\n  condition: sel\n";

    fn corr(name: &str, refs: &str) -> String {
        format!(
            "---\ntitle: {name}\nname: {name}\ncorrelation:\n  type: event_count\n  rules: [{refs}]\n  timespan: 1h\n  condition:\n    gte: 1\n"
        )
    }

    fn failed_titles(loaded: &LoadedRules) -> Vec<String> {
        let mut t: Vec<String> = loaded
            .report
            .failures
            .iter()
            .filter_map(|f| f.title.clone())
            .collect();
        t.sort();
        t
    }

    /// Found while writing the `sigma_rule` fuzz target, which feeds correlations: one naming
    /// itself made `CorrelationEngine::feed` recurse until the stack overflowed.
    #[test]
    fn correlation_cycles_are_refused() {
        let text = format!("{BASE}{}{}", corr("me", "base, me"), corr("ok", "base"));
        let loaded = load_text("self", &text);
        assert_eq!(failed_titles(&loaded), ["me"]);
        assert!(loaded.report.failures[0].reason.contains("cycle"));
        assert_eq!(loaded.correlations.len(), 1);
        let text = format!("{BASE}{}{}", corr("a", "base, b"), corr("b", "a"));
        assert_eq!(failed_titles(&load_text("pair", &text)), ["a", "b"]);
    }

    /// A correlation two steps from a failed one survived with its reference remapped to an
    /// index that, once the failed ones were dropped, named another correlation (here `c`
    /// itself, so it too looped).
    #[test]
    fn correlation_failures_propagate_transitively() {
        let text = format!(
            "{BASE}{}{}{}{}",
            corr("a", "base, missing_rule"),
            corr("b", "a"),
            corr("c", "b"),
            corr("d", "base"),
        );
        let loaded = load_text("chain", &text);
        assert_eq!(failed_titles(&loaded), ["a", "b", "c"]);
        assert_eq!(loaded.correlations.len(), 1);
        assert_eq!(loaded.correlations[0].info.title, "d");
        assert!(
            loaded.correlations[0]
                .refs
                .iter()
                .all(|r| matches!(r, RuleRef::Detection(_)))
        );
    }
}
