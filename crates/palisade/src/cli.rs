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
    /// Measure detection quality on labelled data.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Measure performance (release builds only give meaningful numbers).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Threat intelligence: import indicator feeds into the store, list and remove them.
    Intel {
        #[command(subcommand)]
        command: IntelCommand,
    },
}

#[derive(Subcommand)]
pub enum IntelCommand {
    /// Import indicators (IPs, networks, domains, URLs, file hashes) from STIX 2.1 bundles,
    /// MISP event JSON, CSV or TXT lists into the store.
    #[command(
        long_about = "Import indicators from STIX 2.1 bundles, MISP event JSON, CSV or TXT \
lists into the store, where `palisade hunt --detectors ioc --store DB` finds them.\n\n\
Each file's format is detected from its content (--format forces one). Records that cannot be \
used (revoked, expired, unsupported pattern or type, invalid value) are skipped with a warning \
naming the file and position, and counted by reason. Re-importing an indicator of the same \
source, kind and value updates it.\n\n\
Exit status: 0 when imported, 2 when a file cannot be read as intel (nothing is saved then).\n\n\
Examples:\n  palisade intel import feed.json --source circl --store palisade.db\n  \
palisade intel import blocklist.txt --source team --confidence 80 --expires 30 --store palisade.db"
    )]
    Import(IntelImportArgs),
    /// List stored indicators.
    List(IntelListArgs),
    /// Remove stored indicators of one source, or one indicator by id.
    Remove(IntelRemoveArgs),
}

/// Intel feed formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IntelFileFormat {
    /// Detect from the content.
    Auto,
    /// STIX 2.1 bundle.
    Stix,
    /// MISP event JSON.
    Misp,
    /// CSV with a header row.
    Csv,
    /// One indicator per line.
    Txt,
}

#[derive(Args)]
pub struct IntelImportArgs {
    /// Intel files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Source (feed) name stored with the indicators; alerts name it (rule id `ioc:<source>`).
    #[arg(long, value_name = "NAME")]
    pub source: String,
    /// Confidence 0-100 for records that carry none (default: MISP threat level, else 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub confidence: Option<u8>,
    /// Expiry for records that carry none: an RFC 3339 time or a number of days from now.
    #[arg(long, value_name = "RFC3339|DAYS")]
    pub expires: Option<String>,
    /// Force the file format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: IntelFileFormat,
    /// SQLite database (created if missing).
    #[arg(long, value_name = "FILE.db", required = true)]
    pub store: PathBuf,
}

#[derive(Args)]
pub struct IntelListArgs {
    /// Only this source's indicators.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// SQLite database.
    #[arg(long, value_name = "FILE.db", required = true)]
    pub store: PathBuf,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["source", "id"])))]
pub struct IntelRemoveArgs {
    /// Remove every indicator of this source.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Remove the indicator with this id (as `intel list` shows).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// SQLite database.
    #[arg(long, value_name = "FILE.db", required = true)]
    pub store: PathBuf,
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Check rule files: load errors, metadata, unused searches, unroutable log sources.
    Lint(LintArgs),
}

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Anomaly models on labelled network flows: ROC-AUC, PR-AUC, recall at 1 % false alarms.
    #[command(long_about = "Anomaly models on labelled network flows.\n\n\
Models are fitted on the benign rows of the --train files only; the alert threshold is the \
score that 1 % of those training rows exceed; scaling is fitted on them too. Test rows never \
touch fitting or thresholds. A file given both as --train and --test (or a lone --train) is \
split 50/50, stratified by label, with --seed: its first half trains, its second half tests.\n\n\
Labels come from the `label` column (NSL-KDD `normal`, UNSW-NB15 0/1, Stratosphere Zeek \
Benign/Background vs Malicious) and are never features.\n\n\
Reported per model: frozen (fitted, then scoring only), score+learn (learning online over the \
test stream) and score+learn guarded (learning only rows scored under --guard-quantile of the training scores).\n\n\
Examples:\n  palisade eval anomaly --dataset nsl-kdd --train KDDTrain+_20Percent.txt --test KDDTest+.txt\n  \
palisade eval anomaly --dataset unsw-nb15 --train UNSW_NB15_subset.csv\n  \
palisade eval anomaly --dataset zeek --train a/conn.log b/conn.log --test a/conn.log b/conn.log --format json")]
    Anomaly(EvalAnomalyArgs),
}

/// Labelled data sets `palisade eval anomaly` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dataset {
    /// Tell from the first record.
    Auto,
    /// NSL-KDD / KDD Cup 99 CSV.
    NslKdd,
    /// UNSW-NB15 training/testing CSV.
    UnswNb15,
    /// Labelled Zeek conn logs (Stratosphere: `label`, `detailedlabel` columns).
    Zeek,
    /// CICFlowMeter CSV with a `Label` column.
    Cicflowmeter,
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Auto => "auto",
            Dataset::NslKdd => "nsl-kdd",
            Dataset::UnswNb15 => "unsw-nb15",
            Dataset::Zeek => "zeek",
            Dataset::Cicflowmeter => "cicflowmeter",
        }
    }
}

/// Anomaly models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EvalModel {
    /// Streaming Half-Space Trees (fast).
    Hst,
    /// Isolation Forest fitted on a window of normal rows (stronger, slower).
    Iforest,
    /// HST and Isolation Forest, each calibrated on its training scores, averaged.
    Ensemble,
}

impl EvalModel {
    pub fn name(self) -> &'static str {
        match self {
            EvalModel::Hst => "hst",
            EvalModel::Iforest => "iforest",
            EvalModel::Ensemble => "ensemble",
        }
    }
}

#[derive(Args)]
pub struct EvalAnomalyArgs {
    /// Data set (decides the features).
    #[arg(long, value_enum, default_value = "auto")]
    pub dataset: Dataset,
    /// Labelled files to fit on (their benign rows only).
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pub train: Vec<PathBuf>,
    /// Labelled files to test on (default: the --train files, split 50/50).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub test: Vec<PathBuf>,
    /// Models to run (default: all).
    #[arg(long = "model", value_enum, value_name = "MODEL")]
    pub models: Vec<EvalModel>,
    /// Model whose figures are the top-level JSON keys (default: hst, chosen on validation
    /// splits; never picked by test results).
    #[arg(long, value_enum, value_name = "MODEL")]
    pub report: Option<EvalModel>,
    /// Seed for splits, shuffling and models.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed for the models only (default: --seed), to measure the spread over model seeds
    /// on a fixed split.
    #[arg(long, value_name = "SEED")]
    pub model_seed: Option<u64>,
    /// Guarded score+learn learns a test row only if it scores under this quantile of the
    /// training rows' scores.
    #[arg(long, default_value_t = 0.5, value_name = "Q")]
    pub guard_quantile: f64,
    /// Skip the score+learn (online) runs.
    #[arg(long)]
    pub no_online: bool,
    /// Feature configuration (JSON, as printed by --print-features) instead of the data set's
    /// built-in one.
    #[arg(long, value_name = "FILE.json")]
    pub features: Option<PathBuf>,
    /// Validation mode for choosing settings without touching the test set: the test rows are
    /// set aside and the training rows (benign and attack) are split 50/50 again (seed + 1);
    /// models fit on the benign rows of the first part and are scored on the second.
    #[arg(long)]
    pub validation: bool,
    /// Print the feature configuration in use as JSON, then stop.
    #[arg(long)]
    pub print_features: bool,
    /// Write the scaled feature matrices (train.csv, test.csv) here, for peer comparisons.
    #[arg(long, value_name = "DIR")]
    pub dump_features: Option<PathBuf>,
    /// Output format: table, or json (one object).
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Hunt throughput: rule compilation, parsing vs matching, events/s, peak memory, and the
    /// bare `evtx` crate's parse rate on the same files for comparison.
    Hunt(BenchHuntArgs),
    /// Learned detectors on a Zeek conn log repeated in memory: parse, features + Half-Space
    /// Trees + UEBA, the two-thread pipeline, and Half-Space Trees alone.
    Anomaly(BenchAnomalyArgs),
    /// Cost of the IOC detector: hunt throughput over a corpus with and without matching
    /// synthetic indicators (default 50,000), measured alternately in one run.
    Intel(BenchIntelArgs),
}

#[derive(Args)]
pub struct BenchIntelArgs {
    /// Log files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories (without: parsing only, with and without IOC matching).
    #[arg(short, long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Synthetic indicators generated (mixed IPs, networks, domains, URLs, hashes).
    #[arg(long, default_value_t = 50_000)]
    pub iocs: usize,
    /// Seed of the synthetic indicators.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Times the corpus is processed per measurement.
    #[arg(long, default_value_t = 5)]
    pub passes: usize,
    /// Measurements of each variant, alternating (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write the results as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchAnomalyArgs {
    /// A Zeek conn log (TSV); its rows are repeated with timestamps shifted forward.
    #[arg(long, value_name = "FILE")]
    pub zeek: PathBuf,
    /// Copies of the log in the corpus.
    #[arg(long, default_value_t = 60)]
    pub repeat: usize,
    /// Repetitions of each measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Write the results as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
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

/// Detectors `hunt` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DetectorKind {
    /// Sigma rules (--rules).
    Sigma,
    /// Streaming anomaly models over flows, logins and processes.
    Anomaly,
    /// Per-entity behaviour baselines (users, hosts, source IPs, services).
    Ueba,
    /// Threat-intel indicators (from --store and --intel files) against IPs, domains, URLs
    /// and hashes in the events.
    Ioc,
}

#[derive(Args)]
pub struct HuntArgs {
    /// Log files or directories to hunt; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories (searched recursively for .yml/.yaml); required when
    /// the sigma detector runs.
    #[arg(short, long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Detectors to run, comma-separated: sigma (rules), anomaly (streaming Half-Space Trees
    /// per source kind, learning online), ueba (per-user/host/ip baselines), ioc (threat-intel
    /// indicators from --store and --intel). With --store, what anomaly and ueba learned is
    /// saved and resumed by the next run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sigma",
        value_name = "LIST"
    )]
    pub detectors: Vec<DetectorKind>,
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
    /// The ioc detector also reads the indicators imported into it.
    #[arg(long, value_name = "FILE.db")]
    pub store: Option<PathBuf>,
    /// Intel files (STIX, MISP, CSV, TXT) for the ioc detector, read for this run only; each
    /// file's name is its source.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub intel: Vec<PathBuf>,
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
