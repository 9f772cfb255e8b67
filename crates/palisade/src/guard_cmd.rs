//! `palisade guard prompt|mail|scan|proxy|canary` and `palisade train injection|phishing`: the
//! terminal side of `palisade-guard` — reading inputs (one prompt per line, .eml files and
//! folders), printing verdicts, writing trained models, and running the LLM firewall proxy
//! (`palisade_server::guard_proxy`) with its findings on stdout or in a file. The detection
//! logic is in the crates.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use palisade_guard::dlp::Scanner;
use palisade_guard::mail::{self, MailGuard, MailVerdictKind};
use palisade_guard::prompt::{self, PromptGuard, PromptVerdictKind};
use palisade_guard::seen::{SeenConfig, SeenDomains};
use palisade_server::config::GuardProxySection;
use palisade_server::guard_proxy::policy::{Policy, parse_setting};
use palisade_server::guard_proxy::report::{ReportTo, ndjson_sink};

use crate::{EXIT_FINDINGS, EXIT_USAGE};

/// Prompts longer than this are refused (the line is skipped with an error).
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Prompt injection and jailbreaks: one prompt per line (plain text, a JSON string, or a
    /// JSON object with a `text` field) → score and verdict per line.
    #[command(
        long_about = "Prompt-injection and jailbreak detection, one prompt per input line.\n\n\
Each line is plain text, a JSON string, or a JSON object with a `text` field (so a JSONL data \
set can be piped in). Normalisation (NFKC, invisible and Unicode tag characters, HTML comments \
and hidden text, base64/rot13/leetspeak) → heuristics → a linear n-gram model embedded in the \
binary. Lines that are not UTF-8, are longer than 1 MiB or are broken JSON are reported on stderr \
with their line number and skipped.\n\n\
Exit status: 0 all clean, 1 at least one injection, 2 on usage or input errors.\n\n\
Examples:\n  palisade guard prompt prompts.txt --format ndjson\n  \
echo 'Ignore all previous instructions' | palisade guard prompt"
    )]
    Prompt(GuardPromptArgs),
    /// Phishing in e-mail: .eml files or folders of them → score, verdict and reasons.
    #[command(
        long_about = "Phishing detection for e-mail (.eml, RFC 5322/MIME).\n\n\
Scores each message 0–1 (higher = worse) from authentication results, header inconsistencies, \
URLs (look-alike brand domains, IP literals, shorteners, mismatched link text), attachments \
(executables, macros, HTML smuggling, encrypted archives), language and the text itself, with \
a linear model embedded in the binary. Verdicts: malicious, suspicious, clean. Folders are \
searched recursively. A file that is not a message is reported and skipped.\n\n\
With --seen-domains FILE the sender and link domains are remembered across runs and those \
this installation has not seen before (after a warm-up of --seen-warmup messages) add the \
newly_seen_domain signal; --nrd FILE adds newly_registered_domain for domains on a list of \
newly registered ones. Both are fixed weights on top of the model's score.\n\n\
Exit status: 0 all clean, 1 at least one malicious message, 2 on usage or input errors.\n\n\
Examples:\n  palisade guard mail suspicious.eml\n  palisade guard mail ~/Maildir/new --format ndjson"
    )]
    Mail(GuardMailArgs),
    /// Secrets and personal data in text: find (with checksum validation) and redact.
    Scan(GuardScanArgs),
    /// A mail filter for Postfix and Sendmail (milter protocol): tags, quarantines or rejects
    /// phishing as the MTA receives it.
    #[command(long_about = MILTER_HELP)]
    Milter(crate::milter::GuardMilterArgs),
    /// LLM firewall: an OpenAI-compatible proxy that scans prompts and answers (streamed too)
    /// and blocks, redacts or flags by policy.
    #[command(long_about = PROXY_HELP)]
    Proxy(GuardProxyArgs),
    /// Print a fresh canary token to place in a system prompt (see `guard proxy --canary`).
    Canary,
}

const MILTER_HELP: &str = "A mail filter (milter) for Postfix and Sendmail: judges every \
message the MTA receives with the phishing guard.\n\n\
Every message gets X-Palisade-Verdict (clean, suspicious, malicious, unscanned, error), \
X-Palisade-Score and X-Palisade-Reasons; such headers sent by the sender are removed. \
Malicious and suspicious mail is tagged, quarantined (Postfix: the hold queue) or rejected with \
550 5.7.1 and its reasons, per --on-malicious / --on-suspicious; the default tags everything \
and quarantines malicious mail, so no mail is lost. Messages over --max-bytes are accepted \
unscanned. An internal failure accepts the message with a warning (--on-error tempfail fails \
closed). Malicious and suspicious verdicts are written as NDJSON ECS events (never the message) \
to stdout or --events FILE. --seen-domains FILE remembers sender and link domains (written \
every 100 messages and at exit) and flags newly seen ones; --nrd FILE flags newly registered \
ones. Runs until SIGINT/SIGTERM.\n\n\
Postfix (main.cf):\n  smtpd_milters = inet:127.0.0.1:8895\n  milter_default_action = accept\n\n\
Examples:\n  palisade guard milter --listen inet:127.0.0.1:8895 --events /var/log/palisade/mail.ndjson\n  \
palisade guard milter --listen unix:/var/spool/postfix/palisade/milter.sock --on-malicious reject";

const PROXY_HELP: &str = "LLM firewall: an OpenAI-compatible proxy in front of a model provider.\n\n\
Point an application's base URL at the proxy (e.g. OPENAI_BASE_URL=http://127.0.0.1:8089/v1) and \
give the provider's origin as --upstream. POST /v1/chat/completions and /v1/completions are \
scanned: user, tool and function messages (and the completions `prompt`) for prompt injection \
and jailbreaks; every non-assistant message for secrets (cloud keys, tokens, private keys, \
passwords) and personal data (e-mail, phone, cards, IBAN, national ids). Answers are scanned \
too: choices[].message.content or choices[].text, and streamed answers (stream: true, \
text/event-stream) chunk by chunk, holding back --hold-bytes of text so a secret or canary split \
across two chunks is still found. Everything else (other paths such as /v1/models, other JSON \
fields and events, headers, the client's Authorization) is forwarded unchanged. The judged paths \
are matched however they are spelled (percent-encoding, case, slashes, a prefix such as Azure's \
/openai/deployments/NAME/chat/completions); bodies the guard cannot read are refused there \
(invalid JSON: 400, compressed: 415).\n\n\
Policy (--policy KEY=ACTION, repeatable), ACTION one of block, redact, flag, allow:\n  \
injection=block        prompt injection in a request (block, flag or allow)\n  \
request_secret=redact  secrets in a request: [REDACTED:<kind>] before the provider sees them\n  \
request_pii=flag       personal data in a request: forwarded, recorded\n  \
response_secret=redact secrets in an answer\n  \
response_pii=flag      personal data in an answer\n  \
canary=block           a --canary token in an answer: the system prompt is leaking\n\
A blocked request gets HTTP 400 {\"error\":{\"message\":…,\"type\":\"palisade_guard\",\"code\":…}} and \
never reaches the provider; a blocked non-streamed answer is replaced by the same error; a \
blocked stream ends with a chunk whose finish_reason is content_filter (and a palisade_guard \
object saying why) followed by data: [DONE]. The upstream unreachable: 502; too slow: 504; a \
request body over --max-body-bytes: 413.\n\n\
Findings are ECS events (event.module: palisade-guard, event.action: llm-firewall) with the kind, \
rule, a masked preview, the verdict, the score, the model and the client's address; never the \
prompt, the answer or the secret. They are written as NDJSON to stdout or --events FILE, and with \
--report-to URL --token-file F posted to a running Palisade (POST /api/v1/events, an analyst \
token), whose rules (examples/rules/guard) make them alerts. Inside `palisade serve` the same \
proxy runs from the [guard_proxy] section of palisade.toml.\n\n\
Examples:\n  palisade guard proxy --upstream https://api.openai.com\n  \
palisade guard proxy --upstream http://127.0.0.1:11434 --canary $(palisade guard canary) \\\n      \
--policy request_pii=redact --events guard.ndjson\n  \
palisade guard proxy --upstream https://api.openai.com --report-to http://127.0.0.1:8080 --token-file token.txt";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GuardFormat {
    /// One line per item for people.
    Text,
    /// One JSON object per item per line.
    Ndjson,
}

#[derive(Args)]
pub struct GuardPromptArgs {
    /// File of prompts, one per line (default or `-`: stdin).
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = GuardFormat::Text)]
    pub format: GuardFormat,
}

#[derive(Args)]
pub struct GuardMailArgs {
    /// Message files or folders.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = GuardFormat::Text)]
    pub format: GuardFormat,
    #[command(flatten)]
    pub seen: SeenArgs,
}

/// Newly seen and newly registered domains (`palisade_guard::seen`), for `guard mail` and
/// `guard milter`.
#[derive(Args, Clone, Debug)]
pub struct SeenArgs {
    /// Remember the sender and link domains of the mail judged in FILE (read at start, written
    /// back) and flag those this installation never saw before, or first saw less than
    /// --new-days ago (`newly_seen_domain`, +0.8 log-odds). Created when missing.
    #[arg(long, value_name = "FILE")]
    pub seen_domains: Option<PathBuf>,
    /// A list of newly registered domains, one per line (repeatable): sender or link domains
    /// on it add `newly_registered_domain` (+1.2 log-odds), from the first message.
    #[arg(long = "nrd", value_name = "FILE")]
    pub nrd: Vec<PathBuf>,
    /// Messages the seen-domain memory must have seen before it flags anything, so a fresh
    /// install does not flag every domain.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub seen_warmup: u64,
    /// A domain first seen less than this many days ago still counts as new (0: only never
    /// seen domains).
    #[arg(long, default_value_t = 3, value_name = "DAYS")]
    pub new_days: u32,
    /// Domains remembered at most (the least recently seen are forgotten beyond).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub seen_cap: usize,
}

impl SeenArgs {
    fn config(&self) -> SeenConfig {
        SeenConfig {
            cap: self.seen_cap,
            warmup: self.seen_warmup,
            new_days: self.new_days,
        }
    }

    /// The memory (from --seen-domains when the file exists) with the --nrd lists, or `None`
    /// when neither option is given.
    pub fn load(&self) -> Result<Option<SeenDomains>> {
        if self.seen_domains.is_none() && self.nrd.is_empty() {
            return Ok(None);
        }
        let mut seen = match &self.seen_domains {
            Some(p) if p.exists() => {
                let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                SeenDomains::from_json(&bytes, self.config())
                    .with_context(|| format!("reading {}", p.display()))?
            }
            _ => SeenDomains::new(self.config()),
        };
        for p in &self.nrd {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            seen.add_nrd_list(&text);
        }
        Ok(Some(seen))
    }

    /// Writes the memory back to --seen-domains (atomically: a temporary file renamed).
    pub fn save(&self, seen: &SeenDomains) -> Result<()> {
        match &self.seen_domains {
            Some(p) => save_seen(p, &seen.to_json()),
            None => Ok(()),
        }
    }
}

/// Writes a seen-domain memory's bytes to `path` through a temporary file and a rename.
pub fn save_seen(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Now in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Args)]
pub struct GuardScanArgs {
    /// File to scan (default or `-`: stdin).
    pub file: Option<PathBuf>,
    /// Print the text with every finding replaced by [REDACTED:<kind>] instead of the findings.
    #[arg(long)]
    pub redact: bool,
    /// A canary token to look for (repeatable), e.g. one placed in a system prompt.
    #[arg(long = "canary", value_name = "TOKEN")]
    pub canaries: Vec<String>,
}

#[derive(Args)]
pub struct GuardProxyArgs {
    /// The provider's origin (request paths such as /v1/chat/completions are appended):
    /// https://api.openai.com, http://127.0.0.1:11434 (Ollama), http://127.0.0.1:8000 (vLLM).
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// PEM certificates to trust for an HTTPS upstream besides the built-in Mozilla roots (a
    /// private CA or a self-signed gateway).
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// What to do about a kind of finding, KEY=ACTION (repeatable; see above).
    #[arg(long = "policy", value_name = "KEY=ACTION")]
    pub policy: Vec<String>,
    /// A canary token placed in your system prompt (repeatable; make one with `palisade guard
    /// canary`).
    #[arg(long = "canary", value_name = "TOKEN")]
    pub canaries: Vec<String>,
    /// Append findings (NDJSON) to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Also post findings to a running Palisade (its base URL, e.g. http://127.0.0.1:8080).
    #[arg(long, value_name = "URL", requires = "token_file")]
    pub report_to: Option<String>,
    /// File holding an analyst API token for --report-to (`palisade token create --role analyst`).
    #[arg(long, value_name = "FILE", requires = "report_to")]
    pub token_file: Option<PathBuf>,
    /// Largest request body, bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = GuardProxySection::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest non-streamed answer read, bytes (502 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = GuardProxySection::default().max_response_bytes)]
    pub max_response_bytes: usize,
    /// Seconds for the upstream's answer to begin, and at most between two stream chunks.
    #[arg(long, value_name = "SECS", default_value_t = GuardProxySection::default().timeout_secs)]
    pub timeout_secs: u64,
    /// Seconds to connect to the upstream.
    #[arg(long, value_name = "SECS", default_value_t = GuardProxySection::default().connect_timeout_secs)]
    pub connect_timeout_secs: u64,
    /// Bytes of streamed text held back while they could be the start of a secret or canary.
    #[arg(long, value_name = "BYTES", default_value_t = GuardProxySection::default().hold_bytes)]
    pub hold_bytes: usize,
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train the prompt-injection model (default data: deepset/prompt-injections train split).
    Injection(TrainInjectionArgs),
    /// Train the phishing model from folders of ham, spam and phishing messages.
    Phishing(TrainPhishingArgs),
}

#[derive(Args)]
pub struct TrainInjectionArgs {
    /// JSONL with `text` and `label` (1 = injection); default: deepset-prompt-injections/
    /// train.jsonl under PALISADE_DATA or shared/data above the working directory.
    #[arg(long, value_name = "FILE.jsonl")]
    pub data: Option<PathBuf>,
    /// Benign instruction-like texts (system prompts, how-to steps, code), one per line, or
    /// JSONL with a `text` field; repeatable. They do not train the weights but set how sure
    /// the n-gram model must be to call an injection without a heuristic's support.
    #[arg(long, value_name = "FILE")]
    pub benign: Vec<PathBuf>,
    /// Where to write the model.
    #[arg(long, default_value = "crates/guard/models/injection.pglm")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Args)]
pub struct TrainPhishingArgs {
    /// Folders (or files) of legitimate mail.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    pub ham: Vec<PathBuf>,
    /// Folders of spam.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub spam: Vec<PathBuf>,
    /// Folders of phishing.
    #[arg(long, num_args = 1.., value_name = "DIR")]
    pub phish: Vec<PathBuf>,
    /// Leave out the held-back half of the --phish messages (chosen by a hash of each file
    /// name with --split-seed), so `palisade eval guard` can test on it.
    #[arg(long)]
    pub holdout: bool,
    #[arg(long, default_value_t = 1)]
    pub split_seed: u64,
    #[arg(long, default_value = "crates/guard/models/phishing.pglm")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// True for the messages `--holdout` keeps back for testing: a stable hash of the file name
/// (not the path, so the split does not depend on where the data lives) and the seed.
pub fn held_back(path: &Path, seed: u64) -> bool {
    let name = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or(b"");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in name {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 29;
    h.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 63 == 1
}

/// Every regular file under `paths` (folders recursively), sorted, hidden files skipped.
pub fn mail_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if meta.is_file() {
        out.push(p.to_path_buf());
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|e| {
                // Hidden files and the folders' own notes (README.md) are not mail.
                !e.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with('.') || n.ends_with(".md")
                })
            })
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    }
    Ok(())
}

/// Reads a message file (the first [`mail::MAX_MESSAGE_BYTES`]).
pub fn read_message(path: &Path) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = Vec::new();
    f.take(mail::MAX_MESSAGE_BYTES as u64)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(buf)
}

/// One input line of `guard prompt`: the prompt text, or why it could not be read.
pub fn prompt_of_line(line: &[u8]) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 ({e})"))?;
    let t = text.trim_end_matches(['\r', '\n']);
    let trimmed = t.trim_start();
    if trimmed.starts_with('"') {
        serde_json::from_str::<String>(trimmed).map_err(|e| format!("broken JSON string: {e}"))
    } else if trimmed.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| format!("broken JSON object: {e}"))?;
        v.get("text")
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| "JSON object without a string `text` field".to_string())
    } else {
        Ok(t.to_string())
    }
}

/// Reads lines of at most `max` bytes; a longer line is returned as `Err(len_so_far)` and
/// skipped to its end without holding it in memory.
pub fn bounded_lines(
    mut r: impl BufRead,
    max: usize,
) -> impl Iterator<Item = std::io::Result<std::result::Result<Vec<u8>, usize>>> {
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        let n = match (&mut r).take(max as u64 + 1).read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        if n == 0 {
            return None;
        }
        if buf.len() > max && buf.last() != Some(&b'\n') {
            // Skip the rest of the line.
            let mut skipped = buf.len();
            loop {
                let chunk = match r.fill_buf() {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                if chunk.is_empty() {
                    break;
                }
                if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                    r.consume(i + 1);
                    skipped += i;
                    break;
                }
                let len = chunk.len();
                skipped += len;
                r.consume(len);
            }
            return Some(Ok(Err(skipped)));
        }
        Some(Ok(Ok(buf)))
    })
}

fn open_input(file: &Option<PathBuf>) -> Result<(String, Box<dyn BufRead>)> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            Ok((p.display().to_string(), Box::new(BufReader::new(f))))
        }
        _ => Ok(("<stdin>".into(), Box::new(BufReader::new(std::io::stdin())))),
    }
}

pub fn guard(cmd: GuardCommand) -> Result<u8> {
    match cmd {
        GuardCommand::Prompt(a) => prompt_cmd(a),
        GuardCommand::Mail(a) => mail_cmd(a),
        GuardCommand::Scan(a) => scan_cmd(a),
        GuardCommand::Milter(a) => crate::milter::run(a),
        GuardCommand::Proxy(a) => proxy_cmd(a),
        GuardCommand::Canary => {
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            println!(
                "{}",
                palisade_guard::dlp::canary_token(u64::from_le_bytes(seed))
            );
            Ok(0)
        }
    }
}

/// The proxy's settings from the flags, checked (errors name the flag).
pub fn proxy_settings(args: &GuardProxyArgs) -> Result<GuardProxySection> {
    let mut policy = Policy::default();
    for p in &args.policy {
        let (k, a) = parse_setting(p).map_err(|e| anyhow::anyhow!("--policy {e}"))?;
        policy
            .set(&k, a)
            .map_err(|e| anyhow::anyhow!("--policy {e}"))?;
    }
    let cfg = GuardProxySection {
        enabled: true,
        listen: args.listen.clone(),
        upstream: args.upstream.clone(),
        upstream_ca: args.upstream_ca.clone(),
        canaries: args.canaries.clone(),
        policy,
        max_body_bytes: args.max_body_bytes,
        max_response_bytes: args.max_response_bytes,
        connect_timeout_secs: args.connect_timeout_secs,
        timeout_secs: args.timeout_secs,
        hold_bytes: args.hold_bytes,
    };
    cfg.validate(&|k| match k {
        "canaries" => "--canary".into(),
        k => format!("--{}", k.replace('_', "-")),
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(cfg)
}

fn proxy_cmd(args: GuardProxyArgs) -> Result<u8> {
    let cfg = proxy_settings(&args)?;
    let report = match (&args.report_to, &args.token_file) {
        (Some(url), Some(f)) => {
            let token = std::fs::read_to_string(f)
                .with_context(|| format!("--token-file: reading {}", f.display()))?
                .trim()
                .to_string();
            if token.is_empty() {
                bail!("--token-file: {} is empty", f.display());
            }
            Some(ReportTo {
                url: url.clone(),
                token,
            })
        }
        _ => None,
    };
    let out: Box<dyn Write + Send> = match &args.events {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("--events: opening {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (sink, writer) =
        ndjson_sink(out, report, rt.handle().clone()).map_err(|e| anyhow::anyhow!(e))?;
    let upstream = cfg.upstream.clone();
    rt.block_on(async move {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let running = palisade_server::guard_proxy::start(cfg, sink, None, stop_rx).await?;
        eprintln!(
            "palisade guard proxy: http://{}/v1 → {upstream} (Ctrl-C stops)",
            running.addr
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        let _ = stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), running.task).await;
        anyhow::Ok(())
    })?;
    let c = &writer.counts;
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "palisade guard proxy: {} findings written, {} reported, {} dropped",
        c.written.load(Relaxed),
        c.reported.load(Relaxed),
        c.dropped.load(Relaxed)
    );
    Ok(0)
}

fn prompt_cmd(args: GuardPromptArgs) -> Result<u8> {
    let guard = PromptGuard::embedded()?;
    let (name, input) = open_input(&args.file)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut found, mut errors) = (false, 0usize);
    for (i, line) in bounded_lines(input, MAX_PROMPT_BYTES).enumerate() {
        let lineno = i + 1;
        let line = line.with_context(|| format!("reading {name}"))?;
        let text = match line {
            Err(len) => Err(format!(
                "line longer than {MAX_PROMPT_BYTES} bytes ({len}+)"
            )),
            Ok(bytes) => prompt_of_line(&bytes),
        };
        let text = match text {
            Ok(t) => t,
            Err(why) => {
                errors += 1;
                eprintln!("palisade: {name}:{lineno}: {why}; skipped");
                continue;
            }
        };
        let v = guard.check(&text);
        found |= v.verdict == PromptVerdictKind::Injection;
        match args.format {
            GuardFormat::Ndjson => {
                let doc = serde_json::json!({
                    "line": lineno,
                    "score": round4(v.score),
                    "verdict": v.verdict,
                    "model_score": round4(v.model_score),
                    "signals": v.signals,
                });
                writeln!(out, "{doc}")?;
            }
            GuardFormat::Text => {
                let why: Vec<String> = v
                    .signals
                    .iter()
                    .filter(|s| s.weight > 0.0)
                    .take(3)
                    .map(|s| format!("{} {:+.1}", s.name, s.weight))
                    .collect();
                let verdict = match v.verdict {
                    PromptVerdictKind::Injection => "INJECTION",
                    PromptVerdictKind::Clean => "clean",
                };
                writeln!(
                    out,
                    "{lineno}\t{verdict}\t{:.3}\t{}",
                    v.score,
                    why.join(", ")
                )?;
            }
        }
    }
    out.flush()?;
    Ok(exit_code(found, errors))
}

fn exit_code(found: bool, errors: usize) -> u8 {
    if errors > 0 && !found {
        EXIT_USAGE
    } else if found {
        EXIT_FINDINGS
    } else {
        0
    }
}

fn round4(x: f32) -> f64 {
    (x as f64 * 1e4).round() / 1e4
}

fn mail_cmd(args: GuardMailArgs) -> Result<u8> {
    let guard = MailGuard::embedded()?;
    let files = mail_files(&args.paths)?;
    if files.is_empty() {
        bail!("no files under {:?}", args.paths);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut found, mut errors) = (false, 0usize);
    let mut seen = args.seen.load()?;
    let now = unix_now();
    for f in &files {
        let verdict = read_message(f).and_then(|raw| {
            Ok(match &mut seen {
                Some(s) => guard.check_seen(&raw, s, now)?,
                None => guard.check(&raw)?,
            })
        });
        let v = match verdict {
            Ok(v) => v,
            Err(e) => {
                errors += 1;
                eprintln!("palisade: {}: {e:#}; skipped", f.display());
                continue;
            }
        };
        found |= v.verdict == MailVerdictKind::Malicious;
        match args.format {
            GuardFormat::Ndjson => {
                let doc = serde_json::json!({
                    "file": f.display().to_string(),
                    "score": round4(v.score),
                    "verdict": v.verdict,
                    "from": v.from,
                    "subject": v.subject,
                    "reasons": v.reasons,
                });
                writeln!(out, "{doc}")?;
            }
            GuardFormat::Text => {
                let why: Vec<String> = v
                    .reasons
                    .iter()
                    .filter(|s| s.weight > 0.0)
                    .take(3)
                    .map(|s| s.name.to_string())
                    .collect();
                writeln!(
                    out,
                    "{}\t{:?}\t{:.3}\t{}",
                    f.display(),
                    v.verdict,
                    v.score,
                    why.join(", ")
                )?;
            }
        }
    }
    out.flush()?;
    if let Some(s) = &seen {
        args.seen.save(s)?;
    }
    Ok(exit_code(found, errors))
}

fn scan_cmd(args: GuardScanArgs) -> Result<u8> {
    let (name, mut input) = open_input(&args.file)?;
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let scanner = Scanner::new().with_canaries(args.canaries);
    let (redacted, findings) = scanner.redact(&text);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.redact {
        out.write_all(redacted.as_bytes())?;
    } else {
        for f in &findings {
            writeln!(out, "{}", serde_json::to_string(f)?)?;
        }
    }
    Ok(if findings.is_empty() {
        0
    } else {
        EXIT_FINDINGS
    })
}

/// PALISADE_DATA, then `shared/data` in any ancestor of the working directory.
pub fn find_data(rel: &str) -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PALISADE_DATA") {
        let p = Path::new(&d).join(rel);
        if p.exists() {
            return Some(p);
        }
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|a| a.join("shared/data").join(rel))
        .find(|p| p.exists())
}

/// Reads `{"text": …, "label": 0|1}` lines.
pub fn read_labelled_jsonl(path: &Path) -> Result<Vec<(String, bool)>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        let text = v["text"]
            .as_str()
            .with_context(|| format!("{}:{}: no `text`", path.display(), i + 1))?;
        let label = v["label"]
            .as_i64()
            .with_context(|| format!("{}:{}: no integer `label`", path.display(), i + 1))?;
        out.push((text.to_string(), label == 1));
    }
    Ok(out)
}

pub const DEEPSET_TRAIN: &str = "deepset-prompt-injections/train.jsonl";
pub const DEEPSET_TEST: &str = "deepset-prompt-injections/test.jsonl";

pub fn train(cmd: TrainCommand) -> Result<u8> {
    match cmd {
        TrainCommand::Injection(a) => train_injection(a),
        TrainCommand::Phishing(a) => train_phishing(a),
    }
}

fn train_injection(args: TrainInjectionArgs) -> Result<u8> {
    let data = match args.data {
        Some(p) => p,
        None => find_data(DEEPSET_TRAIN).with_context(|| {
            format!("{DEEPSET_TRAIN} not found under PALISADE_DATA or shared/data; pass --data")
        })?,
    };
    let prompts = read_labelled_jsonl(&data)?;
    let mut benign = Vec::new();
    for b in &args.benign {
        benign.extend(read_benign_texts(b)?);
    }
    let model = prompt::train(&prompts, &benign, args.seed)?;
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "trained on {} prompts of {} ({} injections; {} benign instruction-like texts from --benign set how sure the model must be to decide alone); threshold {:.3}; wrote {} ({} bytes)",
        prompts.len(),
        data.display(),
        prompts.iter().filter(|p| p.1).count(),
        benign.len(),
        model.threshold,
        args.out.display(),
        bytes.len()
    );
    Ok(0)
}

/// Benign texts, one per line (blank lines and `#` comments skipped), or JSONL objects with a
/// `text` field (a `.jsonl` file).
pub fn read_benign_texts(path: &Path) -> Result<Vec<String>> {
    let body =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() || (!jsonl && line.starts_with('#')) {
            continue;
        }
        if jsonl {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let t = v["text"]
                .as_str()
                .with_context(|| format!("{}:{}: no string field `text`", path.display(), i + 1))?;
            out.push(t.to_string());
        } else {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

/// Features of every message in `files`, with the label; unreadable ones are reported.
pub fn mail_examples(files: &[PathBuf], label: bool) -> Vec<(PathBuf, mail::MailFeatures, bool)> {
    let brands = mail::default_brands();
    let mut out = Vec::new();
    for f in files {
        match read_message(f).and_then(|raw| Ok(mail::extract(&raw, &brands)?)) {
            Ok(x) => out.push((f.clone(), x, label)),
            Err(e) => eprintln!("palisade: {}: {e:#}; skipped", f.display()),
        }
    }
    out
}

fn train_phishing(args: TrainPhishingArgs) -> Result<u8> {
    let ham = mail_files(&args.ham)?;
    let spam = mail_files(&args.spam)?;
    let mut phish = mail_files(&args.phish)?;
    if args.holdout {
        phish.retain(|p| !held_back(p, args.split_seed));
    }
    let mut ex = mail_examples(&ham, false);
    ex.extend(mail_examples(&spam, true));
    ex.extend(mail_examples(&phish, true));
    let pairs: Vec<(mail::MailFeatures, bool)> = ex.into_iter().map(|(_, f, l)| (f, l)).collect();
    let model = mail::train(&pairs, args.seed)?;
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "trained on {} ham, {} spam, {} phishing messages; thresholds malicious {:.3}, suspicious {:.3}; wrote {} ({} bytes)",
        ham.len(),
        spam.len(),
        phish.len(),
        model.threshold,
        model.second_threshold,
        args.out.display(),
        bytes.len()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<std::result::Result<Vec<u8>, usize>> {
        bounded_lines(input, max).map(|r| r.unwrap()).collect()
    }

    #[test]
    fn long_lines_are_skipped_to_their_end_and_reading_goes_on() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\nnext\nlast");
        let got = lines(&input, 10);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Ok(b"short\n".to_vec()));
        assert!(matches!(got[1], Err(n) if n >= 100));
        assert_eq!(got[2], Ok(b"next\n".to_vec()));
        assert_eq!(got[3], Ok(b"last".to_vec()));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        assert_eq!(lines(b"0123456789\n", 10), [Ok(b"0123456789\n".to_vec())]);
        assert_eq!(lines(b"0123456789", 10), [Ok(b"0123456789".to_vec())]);
    }

    #[test]
    fn prompt_lines_in_every_shape() {
        assert_eq!(prompt_of_line(b"plain text\r\n").unwrap(), "plain text");
        assert_eq!(prompt_of_line(b"\"a \\u00e9\"\n").unwrap(), "a é");
        assert_eq!(
            prompt_of_line(b"{\"text\":\"x\",\"label\":1}").unwrap(),
            "x"
        );
        assert!(
            prompt_of_line(b"{\"label\":1}")
                .unwrap_err()
                .contains("text")
        );
        assert!(prompt_of_line(b"\xff").unwrap_err().contains("UTF-8"));
        assert!(
            prompt_of_line(b"\"unterminated")
                .unwrap_err()
                .contains("JSON")
        );
    }

    fn proxy_args(extra: &[&str]) -> Result<GuardProxySection> {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: GuardProxyArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        proxy_settings(
            &T::try_parse_from(argv)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .a,
        )
    }

    #[test]
    fn proxy_flags_become_checked_settings() {
        let c = proxy_args(&[
            "--upstream",
            "https://api.openai.com",
            "--policy",
            "request_pii=redact",
            "--policy",
            "canary=flag",
        ])
        .unwrap();
        use palisade_server::guard_proxy::policy::Action;
        assert_eq!(c.policy.request_pii, Action::Redact);
        assert_eq!(c.policy.canary, Action::Flag);
        assert_eq!(c.policy.injection, Action::Block);
        assert!(c.listen.starts_with("127.0.0.1:"));
        let e = proxy_args(&["--upstream", "https://api.openai.com/v1"]).unwrap_err();
        assert!(e.to_string().contains("--upstream"), "{e}");
        let e =
            proxy_args(&["--upstream", "http://x", "--policy", "injection=redact"]).unwrap_err();
        assert!(e.to_string().contains("injection"), "{e}");
        let e = proxy_args(&["--upstream", "http://x", "--policy", "nonsense=block"]).unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
        let e = proxy_args(&["--upstream", "http://x", "--canary", "short"]).unwrap_err();
        assert!(e.to_string().contains("--canary"), "{e}");
        let e = proxy_args(&["--upstream", "http://x", "--hold-bytes", "1"]).unwrap_err();
        assert!(e.to_string().contains("--hold-bytes"), "{e}");
        assert!(proxy_args(&["--upstream", "http://x", "--report-to", "http://y"]).is_err());
    }

    #[test]
    fn the_holdout_split_is_stable_and_near_half() {
        let names: Vec<PathBuf> = (0..1000)
            .map(|i| PathBuf::from(format!("m{i}.eml")))
            .collect();
        let held = names.iter().filter(|p| held_back(p, 1)).count();
        assert!((400..600).contains(&held), "{held}");
        assert_eq!(
            held_back(Path::new("/a/b/m1.eml"), 1),
            held_back(Path::new("m1.eml"), 1)
        );
    }
}
