//! `palisade rules lint`: checks rule files beyond "does it load" — what a reviewer of a rule
//! repository would flag: missing or malformed metadata, duplicate ids, searches the condition
//! never uses, `|all` on a single value, rules that can never match a supported log source.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::condition::{self, Cond, Quantified};
use crate::loader::{LoadOptions, discover, load_rules};
use crate::rule::{RuleDoc, Search, parse_doc};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LintLevel {
    Warning,
    Error,
}

/// One problem in one rule file.
#[derive(Debug, Clone)]
pub struct LintFinding {
    pub path: PathBuf,
    pub rule: Option<String>,
    pub level: LintLevel,
    pub message: String,
}

const STATUSES: [&str; 5] = [
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];

/// Lints every rule under `paths`.
pub fn lint(paths: &[PathBuf], opts: &LoadOptions) -> Vec<LintFinding> {
    let loaded = load_rules(paths, opts);
    let mut out: Vec<LintFinding> = loaded
        .report
        .failures
        .iter()
        .map(|f| LintFinding {
            path: f.path.clone(),
            rule: f.title.clone(),
            level: LintLevel::Error,
            message: f.reason.clone(),
        })
        .collect();
    out.extend(loaded.report.warnings.iter().map(|w| LintFinding {
        path: w.path.clone(),
        rule: Some(w.title.clone()),
        level: LintLevel::Warning,
        message: w.message.clone(),
    }));
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    for file in discover(paths, &mut Vec::new()) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(docs) = crate::yaml::load(&text) else {
            continue;
        };
        for node in docs {
            if let Ok(doc) = parse_doc(&node) {
                check_doc(&file, &doc, &mut ids, &mut out);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path).then(b.level.cmp(&a.level)));
    out
}

fn check_doc(
    path: &Path,
    doc: &RuleDoc,
    ids: &mut HashMap<String, PathBuf>,
    out: &mut Vec<LintFinding>,
) {
    let meta = doc.meta();
    let mut push = |level, message: String| {
        out.push(LintFinding {
            path: path.to_owned(),
            rule: Some(meta.title.clone()),
            level,
            message,
        })
    };
    match &meta.id {
        None => push(
            LintLevel::Warning,
            "no `id`: correlations and suppressions cannot refer to it".into(),
        ),
        Some(id) => {
            if !is_uuid(id) {
                push(LintLevel::Warning, format!("id {id:?} is not a UUID"));
            }
            if let Some(other) = ids.insert(id.clone(), path.to_owned()) {
                push(
                    LintLevel::Error,
                    format!("id {id} is also used by {}", other.display()),
                );
            }
        }
    }
    if meta.title.len() > 256 {
        push(
            LintLevel::Warning,
            "title longer than 256 characters".into(),
        );
    }
    if let Some(s) = &meta.status
        && !STATUSES.contains(&s.as_str())
    {
        push(
            LintLevel::Error,
            format!(
                "unknown status {s:?} (expected one of {})",
                STATUSES.join(", ")
            ),
        );
    }
    for d in [&meta.date, &meta.modified].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            push(LintLevel::Warning, format!("date {d:?} is not YYYY-MM-DD"));
        }
    }
    for t in &meta.tags {
        let ok = t.contains('.')
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !ok {
            push(
                LintLevel::Warning,
                format!("tag {t:?} is not a lower-case namespaced tag"),
            );
        }
    }
    if let RuleDoc::Detection(r) = doc {
        if meta.level.is_none() {
            push(
                LintLevel::Warning,
                "no `level`: it will be reported as medium".into(),
            );
        }
        if meta.description.is_none() {
            push(LintLevel::Warning, "no `description`".into());
        }
        let used = used_searches(
            &r.detection.conditions,
            r.detection.searches.iter().map(|(n, _)| n.as_str()),
        );
        for (name, search) in &r.detection.searches {
            if !used.iter().any(|u| u == name) {
                push(
                    LintLevel::Warning,
                    format!("search `{name}` is not used by the condition"),
                );
            }
            single_value_all(search, &mut |key| {
                push(
                    LintLevel::Warning,
                    format!("`{key}` uses |all with a single value"),
                )
            });
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn used_searches<'a>(
    conditions: &[String],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<String> {
    fn walk<'a>(c: &Cond, names: &(impl Iterator<Item = &'a str> + Clone), out: &mut Vec<String>) {
        match c {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|i| walk(i, names, out)),
            Cond::Not(inner) => walk(inner, names, out),
            Cond::Search(n) => out.push(n.clone()),
            Cond::AnyOf(q) | Cond::AllOf(q) => {
                for n in names.clone() {
                    let hit = match q {
                        Quantified::Them => !n.starts_with('_'),
                        Quantified::Pattern(p) => condition::pattern_matches(p, n),
                    };
                    if hit {
                        out.push(n.to_owned());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for c in conditions {
        if let Ok(parsed) = condition::parse(c) {
            walk(&parsed, &names, &mut out);
        }
    }
    out
}

fn single_value_all(search: &Search, report: &mut dyn FnMut(&str)) {
    match search {
        Search::Map(items) => {
            for i in items {
                if i.key.split('|').any(|m| m == "all") && i.values.len() == 1 {
                    report(&i.key);
                }
            }
        }
        Search::Any(items) => items.iter().for_each(|s| single_value_all(s, report)),
        Search::Keywords(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_common_problems() {
        let dir = std::env::temp_dir().join(format!("palisade-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.yml"),
            "title: A\nid: not-a-uuid\nstatus: wip\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 1}\n  unused: {EventID: 2}\n  one:\n    CommandLine|contains|all: x\n  condition: sel or one\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.yml"),
            "title: B\ndetection: {condition: nope}\n",
        )
        .unwrap();
        let findings = lint(std::slice::from_ref(&dir), &LoadOptions::default());
        let text: Vec<String> = findings.iter().map(|f| f.message.clone()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("is not a UUID"), "{text:?}");
        assert!(has("unknown status"));
        assert!(has("`unused` is not used"));
        assert!(has("|all with a single value"));
        assert!(has("logsource"), "b.yml fails to load: {text:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
