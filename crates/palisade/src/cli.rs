//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_event::Severity;
use palisade_ingest::Format;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Security analytics: Sigma hunting, threat intel, learned baselines and a ranked incident queue.",
    long_about = "Palisade reads Windows EVTX, JSON/ECS, syslog, Zeek, flow CSV, CEF and LEEF logs \
and finds what matters in them: Sigma rules, threat-intel indicators, learned baselines \
(anomaly, UEBA, beacons), and a ranked incident queue that learns from analyst feedback.\n\n\
Start with:\n  palisade hunt ./logs --rules ./sigma/rules --store palisade.db\n  \
palisade incidents list --store palisade.db"
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
    /// Run the always-on service: ingest, detect, triage, API, web UI, metrics.
    #[command(long_about = "Run the always-on service.\n\n\
Events arrive over HTTP (POST /api/v1/events, NDJSON, gzip accepted), syslog UDP/TCP, tailed files \
and watched directories (see the [sources] of the config). Each record is written to a write-ahead \
log before it is acknowledged, then parsed and run through Sigma, IOC, anomaly/UEBA/beacon and \
triage; results go to the SQLite store under server.data_dir. The API and web UI listen on \
127.0.0.1:8080 unless server.listen says otherwise; every request needs a token from \
`palisade token create`.\n\n\
Configuration: palisade.toml (see examples/palisade.toml); any key can be overridden with \
PALISADE_<SECTION>__<KEY>, e.g. PALISADE_SERVER__LISTEN=0.0.0.0:8080.\n\n\
Examples:\n  palisade serve --config palisade.toml --check-config\n  palisade serve --config palisade.toml")]
    Serve(ServeArgs),
    /// See the whole product in one command: the service, fed by a simulated organisation.
    #[command(long_about = "See the whole product in one command.\n\n\
Starts `palisade serve` on an embedded SQLite store in a temporary directory (or --data-dir) with \
the example rules, and feeds it a simulated organisation: twenty people with working hours and usual \
places, workstations and servers, DNS/HTTP/TLS flows, logons and process starts — and a scripted \
attack campaign each day (SSH brute force then success, password spraying, port scan, C2 \
beaconing, impossible travel, suspicious PowerShell, data exfiltration). Eight days of history and \
the first campaign are replayed at full speed, then the simulation runs in real time.\n\n\
It prints the web UI's address and an admin token (`token: pal_…`); API clients send \
`Authorization: Bearer <token>`. Stop with Ctrl-C.")]
    Demo(DemoArgs),
    /// API tokens for `palisade serve`: create, list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Bouncer keys for the CrowdSec-compatible decisions API: add, list, delete.
    #[command(
        long_about = "Bouncer keys for the CrowdSec-compatible decisions API.\n\n\
`palisade serve` answers CrowdSec's bouncer routes (GET /v1/decisions/stream and /v1/decisions) \
on its API listener, so the bouncers people already run — crowdsec-firewall-bouncer, the nginx \
and HAProxy bouncers — enforce Palisade's decisions. Each bouncer authenticates with its own key \
(header X-Api-Key); point its api_url at the listener and set its api_key.\n\n\
`bouncer add` prints the key once, alone on the last line (only its SHA-256 is stored); \
`bouncer list` shows when each last pulled, from where and as what; `bouncer delete` revokes \
a key at once.\n\n\
Examples:\n  palisade bouncer add fw1 --config palisade.toml\n  \
palisade bouncer list --config palisade.toml --format json\n  \
palisade bouncer delete fw1 --config palisade.toml"
    )]
    Bouncer {
        #[command(subcommand)]
        command: BouncerCommand,
    },
    /// Blocking decisions published to bouncers (like `cscli decisions`): list, add, delete.
    #[command(
        long_about = "Blocking decisions published to bouncers, like `cscli decisions`.\n\n\
A decision bans an address (--ip) or a network (--range) for a while; `palisade serve` hands \
it to every bouncer on its next pull and hands out its deletion when it is deleted or runs out \
(expiry is checked every second). Adding a decision for an address that already has an active \
one of the same type extends that one instead. Decisions made here have origin \
\"palisade-cli\" and are written to the audit log with --actor. These commands work on the store \
directly, so the service need not be running (and need not be stopped).\n\n\
Examples:\n  palisade decisions add --ip 198.51.100.7 --duration 4h --reason \"ssh brute force\" --config palisade.toml\n  \
palisade decisions add --range 203.0.113.0/24 --duration 7d --reason scanner --config palisade.toml\n  \
palisade decisions list --config palisade.toml\n  \
palisade decisions delete --ip 198.51.100.7 --config palisade.toml"
    )]
    Decisions {
        #[command(subcommand)]
        command: DecisionsCommand,
    },
    /// Response actions of playbooks: list, approve, deny, revert, the log, playbooks.
    #[command(
        long_about = "Response actions taken or proposed by playbooks, like the web UI's Respond page.\n\n\
`palisade serve` runs playbooks on the incidents it stores: automatic actions run at once, \
approve-mode ones wait as `pending` until an analyst approves or denies them, dry-run ones only \
say what would run. Every step is a line of the append-only response log. These commands work \
on the store directly (the service need not be running) and are written to the audit log with \
--actor (default cli:$USER).\n\n\
Careful: `approve` and `revert` carry the action out on THIS host, with this host's executors \
and the configuration given here — nft for blocks when respond.nftables is on, usermod for \
user locks, kill, quarantine, webhooks, commands. Run them where `palisade serve` runs, as the \
same user, with the same --config. Ban decisions are published through the shared store either \
way.\n\n\
Examples:\n  palisade respond list --state pending --config palisade.toml\n  \
palisade respond approve 12 --config palisade.toml\n  \
palisade respond deny 13 --reason \"our own scanner\" --config palisade.toml\n  \
palisade respond revert 12 --config palisade.toml\n  \
palisade respond log --action 12 --config palisade.toml\n  \
palisade respond playbooks --config palisade.toml ./playbooks/new.yml"
    )]
    Respond {
        #[command(subcommand)]
        command: RespondCommand,
    },
    /// Risk-based authentication: score a login attempt (`auth check`).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Guard people and LLM apps: prompt injection, phishing mail, secrets and personal data.
    Guard {
        #[command(subcommand)]
        command: crate::guard_cmd::GuardCommand,
    },
    /// Train the guard's models (written into the source tree and embedded by the next build).
    #[command(long_about = "Train the guard's models.\n\n\
The models are written to crates/guard/models/ and embedded in the binary by the next build; \
the exact commands that made the committed ones are in crates/guard/models/README.md.\n\n\
Examples:\n  palisade train injection\n  \
palisade train phishing --ham ../shared/data/spamassassin/easy-ham-1 --spam ../shared/data/spamassassin/spam-1 --phish ../shared/data/phishing_pot/email --holdout")]
    Train {
        #[command(subcommand)]
        command: crate::guard_cmd::TrainCommand,
    },
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
    /// The ranked incident queue in the store: list, show, and record analyst decisions.
    #[command(long_about = "The ranked incident queue in the store.\n\n\
`palisade hunt --store DB` groups its alerts into incidents (shared users, hosts, IPs, processes \
within a time window), scores each with a breakdown of why, and saves them. Here analysts work \
the queue: ack (take it), resolve, fp (false positive: lowers the rules' fidelity and creates \
scoped suppressions expiring after 30 days — for network alerts rule + originator + port, otherwise rule + \
entity; --scope entity for the narrower rule + entity), tp (true positive: raises fidelity). \
Every change is written to the audit log with --actor.\n\n\
Examples:\n  palisade incidents list --store palisade.db\n  palisade incidents show 3 --store palisade.db\n  \
palisade incidents fp 3 --note \"nightly backup\" --store palisade.db")]
    Incidents {
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// Suppressions and allowlist entries: list, add, revoke.
    #[command(long_about = "Suppressions and allowlist entries.\n\n\
A suppression silences alerts of one rule on one entity (optionally only with given field values) \
until it expires; an allowlist entry (no --rule) silences every rule for an entity or CIDR. \
Suppressed alerts are still stored and counted, with the suppression named; they are never hidden \
silently. Every entry has an author and a reason and can be revoked.")]
    Suppressions {
        #[command(subcommand)]
        command: SuppressionsCommand,
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
    /// Find weaknesses: vulnerable packages (offline OSV advisories) and risky host settings,
    /// ranked by real-world exploitation.
    Vuln {
        #[command(subcommand)]
        command: VulnCommand,
    },
}

#[derive(Subcommand)]
pub enum VulnCommand {
    /// Scan lockfiles, SBOMs and installed packages for known vulnerabilities.
    #[command(
        long_about = "Scan lockfiles, SBOMs and installed packages for known vulnerabilities.\n\n\
PATHs are files or directories (searched recursively, skipping .git, node_modules, target and \
.venv): Debian/Ubuntu /var/lib/dpkg/status, Cargo.lock, package-lock.json / npm-shrinkwrap.json \
(v1–v3), yarn.lock (v1 and Berry), requirements*.txt (exact pins), poetry.lock, Pipfile.lock, \
go.sum, CycloneDX JSON (*.cdx.json, bom.json) and SPDX JSON (*.spdx.json).\n\n\
Advisories are OSV documents, read offline from --db (directories of .json/.yaml files, or OSV's \
per-ecosystem all.zip) and/or from the store (`palisade vuln db update`). Aliases are merged: one \
finding per vulnerability. Withdrawn advisories are ignored.\n\n\
Each finding has a priority (0–100) that is the sum of listed reasons: 4 × CVSS base score \
(v3.x computed from the vector, v4.0 from FIRST's MacroVector table); +25 in CISA KEV (+5 if \
used by ransomware); +15 × EPSS probability; +10 if the package's program listens on a socket \
on this host (+5 if it only runs); +5 if a fixed version exists.\n\n\
Exit status: 0 when done, 1 when a finding at or above --fail-on was found, 2 on usage or input \
errors (an inventory or --kev/--epss file that cannot be read).\n\n\
Examples:\n  palisade vuln scan . --db ../advisories/rustsec/osv --kev known_exploited_vulnerabilities.csv\n  \
palisade vuln scan /var/lib/dpkg/status --store palisade.db --host --format json\n  \
palisade vuln scan Cargo.lock --db osv-crates-io.zip --format sarif -o vuln.sarif --fail-on high"
    )]
    Scan(VulnScanArgs),
    /// Check this host's configuration for weaknesses (read-only).
    #[command(
        long_about = "Check this host's configuration for weaknesses, read-only, like a \
Lynis or CIS audit: sshd_config (root login, password authentication, empty passwords, weak \
ciphers/MACs/key exchange, X11 forwarding), world-writable or relative PATH entries, unexpected \
SUID/SGID programs, permissions of /etc/shadow, /etc/passwd, /etc/sudoers and SSH keys, \
accounts with empty passwords or UID 0, services listening on network addresses \
(/proc/net/tcp, tcp6, udp, udp6) and a missing host firewall. Each finding names the file or \
socket, its severity and the fix.\n\n\
Exit status: 0 when done, 1 when a finding at or above --fail-on was found."
    )]
    Host(VulnHostArgs),
    /// The advisory database in the store: update from files or a URL, show its state.
    Db {
        #[command(subcommand)]
        command: VulnDbCommand,
    },
}

#[derive(Subcommand)]
pub enum VulnDbCommand {
    /// Import OSV advisories into the store from a directory, a zip, a file or a URL (a zip).
    #[command(long_about = "Import OSV advisories into the store.\n\n\
--from is a directory of .json/.yaml OSV documents, an OSV zip (such as the per-ecosystem \
all.zip OSV publishes), a single document, or an http(s) URL of a zip. Advisories are replaced \
by id; ones the source now marks withdrawn are deleted. Documents that cannot be read are \
reported with file and position; the others are imported.\n\n\
Examples:\n  palisade vuln db update --from ../shared/data/rustsec-advisory-db/osv --store palisade.db\n  \
palisade vuln db update --from https://example.org/PyPI/all.zip --store palisade.db")]
    Update(VulnDbUpdateArgs),
    /// Advisory counts per ecosystem and when each source was refreshed.
    Status(VulnDbStatusArgs),
}

/// Output formats of `palisade vuln`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VulnFormat {
    /// A table for people, highest priority first.
    Table,
    /// One JSON document: findings, host findings, inventories, summary.
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
    /// A CycloneDX 1.5 VEX document.
    CyclonedxVex,
    /// ECS events, one JSON object per line (what `serve` hands to the pipeline; `palisade hunt
    /// --rules examples/rules/vuln` turns them into alerts).
    Ecs,
}

#[derive(Args)]
pub struct VulnScanArgs {
    /// Files or directories to scan.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// OSV advisories: directories, zip files or single documents (repeatable).
    #[arg(long, value_name = "DIR|ZIP", num_args = 1..)]
    pub db: Vec<PathBuf>,
    /// Also read the advisories stored by `palisade vuln db update`, and record the scan there.
    #[arg(long, value_name = "FILE.db")]
    pub store: Option<PathBuf>,
    /// CISA Known Exploited Vulnerabilities catalogue (CSV or JSON).
    #[arg(long, value_name = "FILE")]
    pub kev: Option<PathBuf>,
    /// FIRST EPSS scores (CSV, optionally gzipped: cve,epss,percentile).
    #[arg(long, value_name = "FILE")]
    pub epss: Option<PathBuf>,
    /// Also check the host's configuration (see `palisade vuln host`).
    #[arg(long)]
    pub host: bool,
    /// Root of the host for --host and for exposure of dpkg packages.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: VulnFormat,
    /// Write the report to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report only findings at or above this level.
    #[arg(long, value_name = "LEVEL", default_value = "informational")]
    pub min_level: Severity,
    /// Exit with status 1 when a finding at or above this level was found.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<Severity>,
}

#[derive(Args)]
pub struct VulnHostArgs {
    /// Root of the host to check.
    #[arg(default_value = "/")]
    pub root: PathBuf,
    /// Skip the SUID/SGID walk (the slowest check).
    #[arg(long)]
    pub no_suid: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: VulnFormat,
    /// Write the report to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report only findings at or above this level.
    #[arg(long, value_name = "LEVEL", default_value = "low")]
    pub min_level: Severity,
    /// Exit with status 1 when a finding at or above this level was found.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<Severity>,
}

#[derive(Args)]
pub struct VulnDbUpdateArgs {
    /// A directory, zip, OSV document or http(s) URL of a zip.
    #[arg(long, value_name = "DIR|ZIP|URL")]
    pub from: String,
    #[arg(long, value_name = "FILE.db")]
    pub store: PathBuf,
}

#[derive(Args)]
pub struct VulnDbStatusArgs {
    #[arg(long, value_name = "FILE.db")]
    pub store: PathBuf,
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
    /// Triage on labelled data: alerts → incidents, precision@10, malicious entities covered,
    /// false-positive incidents before and after a round of feedback.
    #[command(long_about = TRIAGE_EVAL_HELP)]
    Triage(EvalTriageArgs),
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
    /// Risk-based authentication on a seeded login simulation (or an sshd log with --openssh).
    Auth(crate::eval_auth::EvalAuthArgs),
    /// The guard on public data it was not trained on: prompt injection (deepset test, a
    /// benign instruction-like set) and phishing (cross-validation, held-back phishing_pot,
    /// a commercial-mail set).
    #[command(long_about = crate::eval_guard::HELP)]
    Guard(crate::eval_guard::EvalGuardArgs),
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
    /// Sustained HTTP NDJSON ingest through a `palisade serve` child process: the highest rate
    /// whose p99 acknowledgement latency stays within bound while the pipeline keeps up, its
    /// memory, and (--udp) syslog UDP loss at that rate.
    Serve(crate::bench_serve::BenchServeArgs),
    /// Detect → block latency, fail2ban-style: sshd failures appended to a log a `palisade
    /// serve` child tails (in a network namespace of its own) until the address is in
    /// Palisade's nftables set, p50/p99 over many attackers, and the peak block rate.
    Block(crate::bench_block::BenchBlockArgs),
    /// Risk-based authentication speed: assess latency in process and over HTTP (a `palisade
    /// serve` child at a steady request rate) with a million learned users, and memory per
    /// user.
    Auth(crate::bench_auth::BenchAuthArgs),
    /// Guard speed: prompt check latency (p50/p99 for 1 KB prompts), secret/PII scanning
    /// MB/s per core, mail messages/s.
    Guard(crate::bench_guard::BenchGuardArgs),
    /// Vulnerability scanning speed: advisory loading, this machine's dpkg status plus N
    /// generated lockfiles (default 1,000) matched against every loaded advisory.
    Vuln(crate::bench_vuln::BenchVulnArgs),
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
    /// Command-and-control beaconing: regular connections to one destination and port.
    Beacon,
    /// Threat-intel indicators (from --store and --intel files) against IPs, domains, URLs
    /// and hashes in the events.
    Ioc,
}

const TRIAGE_EVAL_HELP: &str = "Triage on labelled data.\n\n\
Each labelled Zeek conn log (Stratosphere `label` column: Malicious vs Benign/Background) is \
sorted by time and cut into three equal spans: a baseline span, window 1 and window 2. The \
anomaly and UEBA detectors (and beacon with --beacon) learn from the baseline span's benign records only (as in `palisade \
eval anomaly`); then window 1 is replayed through every detector (learning online, guarded) and \
triage, and its incidents are ranked. A malicious entity is an originator of a Malicious record; \
an incident is a true positive when one of its alerts came from a Malicious record.\n\n\
Feedback round: the top --feedback false-positive incidents of window 1 (by rank) are marked \
false positive (suppressions + lower fidelity) and its true-positive incidents true positive. \
Window 2 is then replayed twice from the same state, without and with that feedback, giving \
fp_incidents_before / fp_incidents_after and tp_incidents_lost (true-positive incidents of the \
first replay with no unsuppressed true-positive counterpart on the same entity in the second).\n\n\
Example:\n  palisade eval triage ../shared/data/stratosphere-zeek/001-zeek-scenario-malicious/labeled-conn.log \
../shared/data/stratosphere-zeek/008-zeek-mixed/data/conn.log.labeled --format json";

#[derive(Args)]
pub struct EvalTriageArgs {
    /// Labelled Zeek conn logs (each is its own network; results are pooled).
    #[arg(required = true, value_name = "FILE")]
    pub paths: Vec<PathBuf>,
    /// Sigma rules to run as well (optional).
    #[arg(short, long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// False-positive incidents of window 1 marked in the feedback round.
    #[arg(long, default_value_t = 10)]
    pub feedback: usize,
    /// Reach of the suppressions a false-positive verdict creates: entity (rule + entity) or
    /// service (rule + originator + destination port + transport for network alerts).
    #[arg(long, default_value = "service")]
    pub scope: palisade_triage::Scope,
    /// Run the beacon detector as well (periodic connections; off by default as in hunt).
    #[arg(long)]
    pub beacon: bool,
    /// Triage settings (TOML or JSON).
    #[arg(long, value_name = "FILE")]
    pub triage_config: Option<PathBuf>,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// The queue, highest priority first (open incidents unless --status or --all).
    List(IncidentListArgs),
    /// One incident: its score breakdown, entities, timeline and notes.
    Show(IncidentShowArgs),
    /// Acknowledge: someone is on it.
    Ack(IncidentActionArgs),
    /// Resolve.
    Resolve(IncidentActionArgs),
    /// False positive: lowers its rules' fidelity and suppresses (rule, entity) for 30 days.
    Fp(IncidentActionArgs),
    /// True positive: raises its rules' fidelity.
    Tp(IncidentActionArgs),
    /// Add a note (and optionally set the owner) without changing the status.
    Note(IncidentActionArgs),
}

#[derive(Args)]
pub struct StoreArg {
    /// The SQLite database `palisade hunt --store` wrote.
    #[arg(long, value_name = "FILE.db", default_value = "palisade.db")]
    pub store: PathBuf,
}

#[derive(Args)]
pub struct IncidentListArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Only these statuses (comma-separated: new, acknowledged, resolved, false-positive,
    /// true-positive).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub status: Vec<String>,
    /// Every status, closed ones too.
    #[arg(long)]
    pub all: bool,
    /// At most this many.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub limit: usize,
    /// Only the incidents of one run: its id, or `latest`. Each hunt run files the incidents
    /// of its own alerts; re-hunting the same logs files them again.
    #[arg(long, value_name = "ID|latest")]
    pub run: Option<String>,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Args)]
pub struct IncidentShowArgs {
    #[command(flatten)]
    pub store: StoreArg,
    pub id: i64,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Args)]
pub struct IncidentActionArgs {
    #[command(flatten)]
    pub store: StoreArg,
    pub id: i64,
    /// A note to attach.
    #[arg(long)]
    pub note: Option<String>,
    /// Set the owner (`--owner ''` clears it).
    #[arg(long)]
    pub owner: Option<String>,
    /// Who is acting (recorded in the audit log; default $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// With fp: reach of the suppressions created — entity (rule + entity) or service (rule +
    /// originator + destination port + transport for network alerts; rule + entity otherwise).
    #[arg(long, default_value = "service")]
    pub scope: palisade_triage::Scope,
}

#[derive(Subcommand)]
pub enum SuppressionsCommand {
    /// Every suppression and allowlist entry, active or not.
    List(SuppressionListArgs),
    /// Add a suppression (with --rule) or an allowlist entry (without).
    Add(SuppressionAddArgs),
    /// Revoke one by id.
    Revoke(SuppressionRevokeArgs),
}

#[derive(Args)]
pub struct SuppressionListArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Args)]
pub struct SuppressionAddArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Rule id it applies to; without it, an allowlist entry for every rule.
    #[arg(long)]
    pub rule: Option<String>,
    /// Entity as kind:value (user:alice, host:ws01, ip:10.0.0.0/8, process:…, file:…).
    #[arg(long)]
    pub entity: Option<String>,
    /// Field values the alert must carry, as name=value (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// Expiry: days from now, or an RFC 3339 time; default never.
    #[arg(long)]
    pub expires: Option<String>,
    /// Why (required: every suppression says why it exists).
    #[arg(long, required = true)]
    pub reason: String,
    /// Who adds it (default $USER).
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(Args)]
pub struct SuppressionRevokeArgs {
    #[command(flatten)]
    pub store: StoreArg,
    pub id: u64,
    /// Who revokes it (default $USER).
    #[arg(long)]
    pub actor: Option<String>,
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
    /// per source kind, learning online), ueba (per-user/host/ip baselines), beacon (periodic
    /// connections to one destination, as C2 implants make), ioc (threat-intel indicators from
    /// --store and --intel). With --store, what anomaly, ueba and beacon learned is saved and
    /// resumed by the next run.
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
    /// Incidents shown in the ranked queue at the end (all are stored with --store).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Triage settings: grouping window, risk threshold, asset criticality (TOML or JSON;
    /// see docs/triage.md).
    #[arg(long, value_name = "FILE")]
    pub triage_config: Option<PathBuf>,
    /// Skip triage (no incidents; detections only).
    #[arg(long)]
    pub no_triage: bool,
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

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); built-in defaults when absent.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Validate the configuration (and that rules and intel load), print the result and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Override server.listen (e.g. 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Override server.data_dir.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints the secret once (only its hash is stored).
    Create(TokenCreateArgs),
    /// List tokens (never their secrets).
    List(TokenStoreArgs),
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[command(flatten)]
        store: TokenStoreArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct TokenStoreArgs {
    /// The service's configuration (its store is used).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override server.data_dir (the store is palisade.db in it), as `serve --data-dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The store directly (instead of --config/--data-dir).
    #[arg(long)]
    pub store: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum BouncerCommand {
    /// Register a bouncer; prints its key once, alone on the last line.
    Add {
        /// A name for the bouncer (where it runs, what it is).
        name: String,
        #[command(flatten)]
        store: TokenStoreArgs,
    },
    /// Bouncers with their last pull, address and user agent (never their keys).
    List {
        #[command(flatten)]
        store: TokenStoreArgs,
        /// Output: table or json.
        #[arg(short, long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Remove a bouncer; its key stops working at once.
    Delete {
        name: String,
        #[command(flatten)]
        store: TokenStoreArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum DecisionsCommand {
    /// Active decisions (with --all, deleted and expired ones too).
    List(DecisionListArgs),
    /// Ban an address or a network for a while.
    Add(DecisionAddArgs),
    /// Delete a decision by id, or every active decision on an address or network.
    Delete(DecisionDeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct DecisionListArgs {
    #[command(flatten)]
    pub store: TokenStoreArgs,
    /// Deleted and expired decisions too.
    #[arg(long)]
    pub all: bool,
    /// At most this many (newest first).
    #[arg(short = 'n', long, default_value_t = 200)]
    pub limit: usize,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["ip", "range"])))]
pub struct DecisionAddArgs {
    /// An IPv4 or IPv6 address.
    #[arg(long)]
    pub ip: Option<String>,
    /// A network in CIDR form (192.0.2.0/24, 2001:db8::/32).
    #[arg(long)]
    pub range: Option<String>,
    /// How long: a number with a unit, s m h d, combinable (90s, 4h, 1h30m, 7d).
    #[arg(long, short, default_value = "4h")]
    pub duration: String,
    /// Why (shown to operators and in the audit log).
    #[arg(long, required = true)]
    pub reason: String,
    /// Decision type; bouncers act on `ban`, some also on `captcha`.
    #[arg(long = "type", default_value = "ban")]
    pub kind: String,
    /// Who decides (audit log; default $USER).
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub store: TokenStoreArgs,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "ip", "range"])))]
pub struct DecisionDeleteArgs {
    /// The decision's id (as `decisions list` shows).
    pub id: Option<i64>,
    /// Every active decision on this address.
    #[arg(long)]
    pub ip: Option<String>,
    /// Every active decision on this network (exactly this CIDR).
    #[arg(long)]
    pub range: Option<String>,
    /// Who deletes (audit log; default $USER).
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub store: TokenStoreArgs,
}

#[derive(Debug, clap::Args)]
pub struct TokenCreateArgs {
    /// viewer (read), analyst (also triage incidents, rules, suppressions, ingest) or admin
    /// (also tokens and the audit log).
    #[arg(long)]
    pub role: String,
    /// A name for the token (who or what uses it).
    #[arg(long, default_value = "cli")]
    pub name: String,
    #[command(flatten)]
    pub store: TokenStoreArgs,
    /// Print JSON ({"id", "name", "role", "token"}).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Keep the demo's data here (default: a temporary directory, removed at exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the simulation (victims, attacker addresses, timing).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, clap::Subcommand)]
pub enum RespondCommand {
    /// Response actions, newest first (filter by state, playbook, incident).
    List(RespondListArgs),
    /// Approve a pending action: it runs now, ON THIS HOST (nft, usermod, kill, …).
    #[command(
        long_about = "Approve a pending action: it runs now, on this host, with the executors of \
the configuration given (nft for blocks when respond.nftables is on, usermod for user locks, …), \
and its ban decision is published. Prints the action as it is afterwards."
    )]
    Approve(RespondStepArgs),
    /// Deny a pending action (nothing runs).
    Deny {
        #[command(flatten)]
        step: RespondStepArgs,
        /// Why (kept in the response log and the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Revert an active action (unblock, unlock, restore) ON THIS HOST; withdraws its decisions.
    #[command(
        long_about = "Revert an active action: undo it on this host (unblock in nftables, unlock \
the user, restore the quarantined file) and withdraw its ban decisions. Only active actions \
can be reverted."
    )]
    Revert(RespondStepArgs),
    /// The append-only response log, newest first.
    Log(RespondLogArgs),
    /// Playbooks the configuration runs; validates extra playbook files or folders.
    #[command(
        long_about = "List the playbooks `palisade serve` would run with this configuration (the \
built-in ones unless respond.builtin_playbooks is off, then respond.playbooks), and validate \
playbook files or folders given as arguments. Every error is printed as \
file:line:col: key: message; the exit status is 2 when any is invalid."
    )]
    Playbooks(RespondPlaybooksArgs),
}

#[derive(Debug, clap::Args)]
pub struct RespondListArgs {
    #[command(flatten)]
    pub store: TokenStoreArgs,
    /// Only these states, comma-separated: pending, active, done, failed, refused, denied,
    /// reverted, expired, dry-run.
    #[arg(long)]
    pub state: Option<String>,
    /// Only this playbook's actions.
    #[arg(long)]
    pub playbook: Option<String>,
    /// Only actions for this incident.
    #[arg(long)]
    pub incident: Option<i64>,
    /// At most this many (newest first).
    #[arg(short = 'n', long, default_value_t = 200)]
    pub limit: usize,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RespondStepArgs {
    /// The action's id (as `respond list` shows).
    pub id: i64,
    /// Who decides (response and audit log; default cli:$USER).
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub store: TokenStoreArgs,
}

#[derive(Debug, clap::Args)]
pub struct RespondLogArgs {
    #[command(flatten)]
    pub store: TokenStoreArgs,
    /// Only the lines of this action.
    #[arg(long)]
    pub action: Option<i64>,
    /// At most this many (newest first).
    #[arg(short = 'n', long, default_value_t = 200)]
    pub limit: usize,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RespondPlaybooksArgs {
    #[command(flatten)]
    pub store: TokenStoreArgs,
    /// Playbook files or folders to validate (and list), besides the configured ones.
    pub paths: Vec<PathBuf>,
    /// Output: table or json.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Score one login attempt: allow, challenge or deny, with the risk and its reasons.
    #[command(
        long_about = "Score one login attempt: allow, challenge or deny, with the risk and its reasons.\n\n\
With --server, asks a running `palisade serve` (POST /api/v1/auth/assess, an analyst token from \
--token, --token-file or PALISADE_TOKEN), which knows every user's learned profile. Without it, \
assesses in this process with the policy and GeoIP databases of the [auth] section of --config \
(or the defaults): a fresh engine with no history, so every user is new and only list, \
user-agent and geolocation signals can speak; useful to test a policy file.\n\n\
Exit status: 0 allow, 10 challenge, 11 deny, 2 on usage or connection errors.\n\n\
Examples:\n  palisade auth check --user alice --ip 203.0.113.9 --server http://127.0.0.1:8080 --token-file /etc/palisade/pam.token\n  \
palisade auth check --user alice --ip 203.0.113.9 --user-agent 'HeadlessChrome/120' --config palisade.toml --format json"
    )]
    Check(AuthCheckArgs),
}

#[derive(Args, Debug)]
pub struct AuthCheckArgs {
    /// The user name.
    #[arg(long)]
    pub user: String,
    /// The client address.
    #[arg(long)]
    pub ip: String,
    /// The client's User-Agent.
    #[arg(long, default_value = "")]
    pub user_agent: String,
    /// A device fingerprint or cookie id.
    #[arg(long)]
    pub device: Option<String>,
    /// The application (per-app thresholds).
    #[arg(long)]
    pub app: Option<String>,
    /// A running `palisade serve`, e.g. http://127.0.0.1:8080 (plain HTTP; for HTTPS put a
    /// local proxy in front or run the check on the server host).
    #[arg(long, conflicts_with = "config")]
    pub server: Option<String>,
    /// API token (analyst) for --server; PALISADE_TOKEN when absent.
    #[arg(long, requires = "server", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the token (first line), for --server.
    #[arg(long, requires = "server")]
    pub token_file: Option<PathBuf>,
    /// palisade.toml whose [auth] section (policy, geoip) the in-process check uses.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds to wait for --server.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// The decision, risk and one line per reason.
    Text,
    /// The API's JSON answer.
    Json,
}
