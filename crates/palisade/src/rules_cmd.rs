//! `palisade rules lint`.

use std::io::Write;

use anyhow::Result;
use palisade_sigma::LoadOptions;
use palisade_sigma::lint::{LintLevel, lint as run_lint};
use serde_json::json;

use crate::cli::{LintArgs, OutputFormat};

pub fn lint(args: LintArgs) -> Result<u8> {
    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    let findings = run_lint(&args.paths, &LoadOptions::default());
    let errors = findings
        .iter()
        .filter(|f| f.level == LintLevel::Error)
        .count();
    let warnings = findings.len() - errors;
    match args.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let list: Vec<_> = findings
                .iter()
                .map(|f| {
                    json!({
                        "path": f.path.display().to_string(),
                        "rule": f.rule,
                        "level": if f.level == LintLevel::Error { "error" } else { "warning" },
                        "message": f.message,
                    })
                })
                .collect();
            let doc = json!({"findings": list, "errors": errors, "warnings": warnings});
            // A closed pipe (`| head`) ends the listing, not the process.
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&doc)?
            );
        }
        OutputFormat::Table | OutputFormat::Csv => {
            let mut out = std::io::stdout().lock();
            for f in &findings {
                let level = if f.level == LintLevel::Error {
                    "error"
                } else {
                    "warning"
                };
                let line = writeln!(
                    out,
                    "{level}: {}{}: {}",
                    f.path.display(),
                    f.rule
                        .as_deref()
                        .map(|r| format!(" [{r}]"))
                        .unwrap_or_default(),
                    f.message
                );
                if line.is_err() {
                    break;
                }
            }
            eprintln!("{errors} errors, {warnings} warnings");
        }
    }
    Ok(if errors > 0 || (args.strict && warnings > 0) {
        crate::EXIT_FINDINGS
    } else {
        0
    })
}
