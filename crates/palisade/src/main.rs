//! The `palisade` command line: wires the library crates together and owns the terminal
//! (progress, tables, colours) and exit codes. No detection logic lives here.

mod auth_cmd;
mod bench;
mod bench_anomaly;
mod bench_auth;
mod bench_block;
mod bench_guard;
mod bench_intel;
mod bench_serve;
mod bench_vuln;
mod cli;
mod decisions_cmd;
mod eval;
mod eval_auth;
mod eval_guard;
mod eval_triage;
mod guard_cmd;
mod hunt;
mod intel_cmd;
mod milter;
mod output;
mod respond_cmd;
mod rules_cmd;
mod serve_cmd;
mod sysinfo;
mod triage_cmd;
mod vuln_cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, RulesCommand};

/// Parsing allocates many small strings per event; mimalloc's thread-local free lists make
/// that markedly cheaper than glibc malloc under two or more worker threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when a detection at or above `--fail-on` fired.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code for usage and input errors.
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Demo(args) => serve_cmd::demo(args),
        Command::Token { command } => serve_cmd::token(command),
        Command::Bouncer { command } => decisions_cmd::bouncer(command),
        Command::Decisions { command } => decisions_cmd::decisions(command),
        Command::Respond { command } => respond_cmd::respond(command),
        Command::Auth {
            command: cli::AuthCommand::Check(args),
        } => auth_cmd::check(args),
        Command::Rules {
            command: RulesCommand::Lint(args),
        } => rules_cmd::lint(args),
        Command::Eval {
            command: cli::EvalCommand::Anomaly(args),
        } => eval::anomaly(args),
        Command::Eval {
            command: cli::EvalCommand::Triage(args),
        } => eval_triage::run(args),
        Command::Eval {
            command: cli::EvalCommand::Auth(args),
        } => eval_auth::run(args),
        Command::Eval {
            command: cli::EvalCommand::Guard(args),
        } => eval_guard::run(args),
        Command::Guard { command } => guard_cmd::guard(command),
        Command::Train { command } => guard_cmd::train(command),
        Command::Incidents { command } => triage_cmd::incidents(command),
        Command::Suppressions { command } => triage_cmd::suppressions(command),
        Command::Bench {
            command: cli::BenchCommand::Hunt(args),
        } => bench::hunt(args),
        Command::Bench {
            command: cli::BenchCommand::Anomaly(args),
        } => bench_anomaly::anomaly(args),
        Command::Bench {
            command: cli::BenchCommand::Intel(args),
        } => bench_intel::intel(args),
        Command::Bench {
            command: cli::BenchCommand::Serve(args),
        } => bench_serve::serve(args),
        Command::Bench {
            command: cli::BenchCommand::Block(args),
        } => bench_block::block(args),
        Command::Bench {
            command: cli::BenchCommand::Auth(args),
        } => bench_auth::auth(args),
        Command::Bench {
            command: cli::BenchCommand::Guard(args),
        } => bench_guard::guard(args),
        Command::Bench {
            command: cli::BenchCommand::Vuln(args),
        } => bench_vuln::vuln(args),
        Command::Vuln { command } => match command {
            cli::VulnCommand::Scan(args) => vuln_cmd::scan(args),
            cli::VulnCommand::Host(args) => vuln_cmd::host(args),
            cli::VulnCommand::Db {
                command: cli::VulnDbCommand::Update(args),
            } => vuln_cmd::db_update(args),
            cli::VulnCommand::Db {
                command: cli::VulnDbCommand::Status(args),
            } => vuln_cmd::db_status(args),
        },
        Command::Intel { command } => match command {
            cli::IntelCommand::Import(args) => intel_cmd::import_cmd(args),
            cli::IntelCommand::List(args) => intel_cmd::list_cmd(args),
            cli::IntelCommand::Remove(args) => intel_cmd::remove_cmd(args),
        },
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("palisade: error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PALISADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
