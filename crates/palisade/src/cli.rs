//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_event::Severity;
use palisade_ingest::Format;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Security analytics: hunt logs with Sigma rules, and more.",
    long_about = "Palisade reads Windows EVTX, JSON/ECS, syslog, Zeek, flow CSV, CEF and LEEF logs \
and finds what matters in them.\n\nStart with:\n  palisade hunt ./logs --rules ./sigma/rules"
)]
pub struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug). PALISADE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run Sigma rules over log files and report every detection.
    #[command(
        long_about = "Run Sigma rules over log files and report every detection.\n\n\
Inputs are files, directories (searched recursively), .gz files, or - for stdin. The format of \
each input is detected from its content (EVTX, NDJSON/ECS, evtx_dump JSON, Winlogbeat, syslog, \
Zeek, NSL-KDD/UNSW-NB15/CICFlowMeter CSV, CEF, LEEF); --input-format forces one.\n\n\
Rules only see the logs their `logsource` names (see docs/logsource.md); --ignore-logsource \
runs every rule on every event.\n\n\
Exit status: 0 when done, 1 when a detection at or above --fail-on fired, 2 on usage or input errors."
    )]
    Hunt(HuntArgs),
    /// Work with rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Measure performance (release builds only give meaningful numbers).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Check rule files: load errors, metadata, unused searches, unroutable log sources.
    Lint(LintArgs),
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Hunt throughput: rule compilation, parsing vs matching, events/s, peak memory, and the
    /// bare `evtx` crate's parse rate on the same files for comparison.
    Hunt(BenchHuntArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned lines for people, with a summary.
    Table,
    /// One JSON document with all detections and the summary.
    Json,
    /// One JSON object per detection per line.
    Ndjson,
    /// CSV timeline, one row per detection.
    Csv,
}

#[derive(Args)]
pub struct HuntArgs {
    /// Log files or directories to hunt; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories (searched recursively for .yml/.yaml).
    #[arg(short, long = "rules", required = true, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Force the input format instead of detecting it:
    /// evtx, json, syslog, zeek, flow-csv, cef, leef.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<Format>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Report only detections at or above this level.
    #[arg(long, value_name = "LEVEL", default_value = "informational")]
    pub min_level: Severity,
    /// Write detections to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also save the run and its detections to this SQLite database (created if missing).
    #[arg(long, value_name = "FILE.db")]
    pub store: Option<PathBuf>,
    /// Exit with status 1 when a detection at or above this level fired.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<Severity>,
    /// Run every rule on every event, ignoring `logsource` (slower, noisier).
    #[arg(long)]
    pub ignore_logsource: bool,
    /// YAML file of placeholder values for the `expand` modifier (`name: [value, …]`).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Only the detections; no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct LintArgs {
    /// Rule files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Exit 1 on warnings too, not only errors.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Args)]
pub struct BenchHuntArgs {
    /// Log files or directories (the corpus is read into the page cache first).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories.
    #[arg(short, long = "rules", required = true, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Times the whole corpus is processed in the steady-state measurement.
    #[arg(long, default_value_t = 20)]
    pub passes: usize,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write the results as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}
