//! `palisade bench vuln`: how long a full vulnerability scan takes.
//!
//! Loads every advisory given with --db, then scans this machine's dpkg status plus N
//! generated lockfiles (default 1,000: Cargo.lock, requirements.txt and package-lock.json in
//! turn, each with 150 packages, about one in eight named by an advisory of its ecosystem at a
//! random version) — discovery, reading, matching and ranking, as `palisade vuln scan` does.
//! Each phase is timed `--reps` times; medians are reported. The lockfiles are deterministic
//! for the seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use palisade_vuln::inventory;
use palisade_vuln::{AdvisoryDb, Ecosystem, Scanner};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde_json::json;

use crate::sysinfo::peak_rss_bytes;
use crate::vuln_cmd::load_advisories;

#[derive(Args)]
pub struct BenchVulnArgs {
    /// OSV advisories (directories or zips), e.g. ../shared/data/rustsec-advisory-db/osv.
    #[arg(long, value_name = "DIR|ZIP", num_args = 1.., required = true)]
    pub db: Vec<PathBuf>,
    /// Generated lockfiles.
    #[arg(long, default_value_t = 1000)]
    pub lockfiles: usize,
    /// Packages per generated lockfile.
    #[arg(long, default_value_t = 150)]
    pub packages: usize,
    /// The dpkg status scanned with them (skipped when missing).
    #[arg(long, default_value = "/var/lib/dpkg/status")]
    pub dpkg: PathBuf,
    /// Repetitions of each phase (medians reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, default_value_t = 10)]
    pub seed: u64,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Names of packages with advisories, per ecosystem, for realistic lockfiles.
fn advised_names(db: &AdvisoryDb, eco: Ecosystem) -> Vec<String> {
    let mut names: Vec<String> = db
        .advisories()
        .iter()
        .flat_map(|a| a.affected.iter())
        .filter(|p| p.ecosystem == eco)
        .map(|p| p.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn version(rng: &mut Xoshiro256PlusPlus) -> String {
    format!(
        "{}.{}.{}",
        rng.random_range(0..4u32),
        rng.random_range(0..30u32),
        rng.random_range(0..20u32)
    )
}

fn pick(rng: &mut Xoshiro256PlusPlus, advised: &[String], i: usize) -> String {
    if !advised.is_empty() && rng.random_range(0..8u32) == 0 {
        advised[rng.random_range(0..advised.len())].clone()
    } else {
        format!("pkg-{i}-{}", rng.random_range(0..100_000u32))
    }
}

/// Writes the lockfiles under `dir`.
fn generate(dir: &Path, args: &BenchVulnArgs, db: &AdvisoryDb) -> Result<()> {
    let crates = advised_names(db, Ecosystem::CratesIo);
    let pypi = advised_names(db, Ecosystem::PyPI);
    let npm = advised_names(db, Ecosystem::Npm);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    for n in 0..args.lockfiles {
        let sub = dir.join(format!("p{n:05}"));
        std::fs::create_dir_all(&sub)?;
        let mut text = String::new();
        match n % 3 {
            0 => {
                text.push_str("version = 3\n");
                for i in 0..args.packages {
                    let name = pick(&mut rng, &crates, i);
                    let v = version(&mut rng);
                    text.push_str(&format!(
                        "\n[[package]]\nname = \"{name}\"\nversion = \"{v}\"\n"
                    ));
                }
                std::fs::write(sub.join("Cargo.lock"), text)?;
            }
            1 => {
                for i in 0..args.packages {
                    let name = pick(&mut rng, &pypi, i);
                    let v = version(&mut rng);
                    text.push_str(&format!("{name}=={v}\n"));
                }
                std::fs::write(sub.join("requirements.txt"), text)?;
            }
            _ => {
                let mut packages = serde_json::Map::new();
                packages.insert(String::new(), json!({"name": "app", "version": "1.0.0"}));
                for i in 0..args.packages {
                    let name = pick(&mut rng, &npm, i);
                    let v = version(&mut rng);
                    packages.insert(format!("node_modules/{name}"), json!({"version": v}));
                }
                let doc = json!({"name": "app", "lockfileVersion": 3, "packages": packages});
                std::fs::write(sub.join("package-lock.json"), doc.to_string())?;
            }
        }
    }
    Ok(())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

pub fn vuln(args: BenchVulnArgs) -> Result<u8> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let mut load_times = Vec::new();
    let mut db = AdvisoryDb::new();
    for _ in 0..args.reps {
        let t = Instant::now();
        db = load_advisories(&args.db, None, &[], true)?;
        load_times.push(t.elapsed());
    }
    let tmp = tempfile::tempdir()?;
    generate(tmp.path(), &args, &db)?;
    let mut targets = vec![tmp.path().to_path_buf()];
    if args.dpkg.exists() {
        targets.push(args.dpkg.clone());
    }
    let (mut read_times, mut match_times) = (Vec::new(), Vec::new());
    let (mut files, mut packages, mut findings) = (0, 0, 0);
    for _ in 0..args.reps {
        let t = Instant::now();
        let (found, errors) = inventory::discover(&targets);
        if let Some(e) = errors.first() {
            bail!("{e}");
        }
        let invs: Vec<_> = found
            .par_iter()
            .map(|(p, k)| inventory::read_inventory(p, *k))
            .collect::<Result<_, _>>()?;
        read_times.push(t.elapsed());
        let t = Instant::now();
        let scanner = Scanner::new(&db);
        let results: Vec<_> = invs.par_iter().map(|i| scanner.scan(i)).collect();
        match_times.push(t.elapsed());
        files = invs.len();
        packages = results.iter().map(|r| r.packages).sum::<usize>();
        findings = results.iter().map(|r| r.findings.len()).sum::<usize>();
    }
    let load = median(load_times);
    let read = median(read_times);
    let matching = median(match_times);
    let scan = read + matching;
    let threads = rayon::current_num_threads();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "advisories": db.len(),
                "inventories": files,
                "packages": packages,
                "findings": findings,
                "load_seconds": load.as_secs_f64(),
                "read_seconds": read.as_secs_f64(),
                "match_seconds": matching.as_secs_f64(),
                "scan_seconds": scan.as_secs_f64(),
                "packages_per_second": packages as f64 / scan.as_secs_f64().max(1e-9),
                "threads": threads,
                "peak_rss_bytes": peak_rss_bytes(),
                "reps": args.reps,
            }))?
        );
    } else {
        println!(
            "advisories loaded   {} in {:.3} s",
            db.len(),
            load.as_secs_f64()
        );
        println!(
            "inventories         {files} ({} generated lockfiles{}), {packages} packages",
            args.lockfiles,
            if args.dpkg.exists() {
                " + dpkg status"
            } else {
                ""
            }
        );
        println!("discover + read     {:.3} s", read.as_secs_f64());
        println!(
            "match + rank        {:.3} s ({findings} findings)",
            matching.as_secs_f64()
        );
        println!(
            "scan total          {:.3} s, {:.0} packages/s on {threads} threads",
            scan.as_secs_f64(),
            packages as f64 / scan.as_secs_f64().max(1e-9)
        );
        if let Some(rss) = peak_rss_bytes() {
            println!("peak RSS            {:.0} MiB", rss as f64 / 1048576.0);
        }
    }
    Ok(0)
}
