//! Runs the beacon detector over Zeek conn logs and prints its alerts:
//! `cargo run --release -p palisade-anomaly --example beacon_scan -- FILE…`

use palisade_anomaly::beacon::{Beacon, BeaconConfig};
use palisade_event::Event;
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, read_input};

struct Collect(Vec<Event>);
impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

fn main() {
    for path in std::env::args().skip(1) {
        let mut c = Collect(Vec::new());
        if let Err(e) = read_input(
            &Input::Path(path.clone().into()),
            &IngestOptions::default(),
            &mut c,
        ) {
            eprintln!("{path}: {e}");
            continue;
        }
        c.0.sort_by_key(|e| e.timestamp);
        let mut b = Beacon::new(BeaconConfig::default());
        let mut out = Vec::new();
        for ev in &c.0 {
            b.observe(ev, &mut out);
        }
        println!("{path}: {} events, {} beacon alerts", c.0.len(), out.len());
        for a in &out {
            let label = a
                .event
                .as_ref()
                .and_then(|e| e.get_by_name("label"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            println!("  [{label}] {}", a.evidence[0].1);
        }
    }
}
