//! Writes a stretch of the simulation to a directory of log files, and the ground truth next
//! to it:
//!
//! ```text
//! cargo run --release -p palisade-sim --example sim_dump -- DIR [DAYS_AFTER_HISTORY] [SEED]
//! target/release/palisade hunt DIR --rules examples/rules --detectors sigma,anomaly,ueba,beacon
//! ```
//!
//! `DAYS_AFTER_HISTORY` (default 1) days are simulated after the benign history, so with the
//! default configuration one attack campaign is included; `DIR.labels.tsv` lists the attack
//! lines.

use std::path::PathBuf;

use palisade_sim::{SimConfig, dump};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "sim-logs".into()));
    let days: f64 = args.next().and_then(|d| d.parse().ok()).unwrap_or(1.0);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let cfg = SimConfig {
        seed,
        ..SimConfig::default()
    };
    let until = cfg.start + cfg.history + chrono::Duration::minutes((days * 1440.0) as i64);
    let summary = dump(&cfg, until, &dir)?;
    let labels = dir.with_extension("labels.tsv");
    summary.write_labels(&labels)?;
    for (source, n) in &summary.lines {
        println!("{:>9} lines  {}", n, source.name());
    }
    println!("{:>9} files", summary.files.len());
    for (attack, n) in &summary.attack_lines {
        println!("{:>9} lines  attack {}", n, attack.label());
    }
    println!(
        "{:>9} lines in all; ground truth in {}",
        summary.total_lines(),
        labels.display()
    );
    Ok(())
}
