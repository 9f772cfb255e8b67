//! The prefilter and routing may only skip rules that cannot match. Checked against brute force
//! (every rule whose log source admits the event, evaluated exactly) on real EVTX events with
//! the SigmaHQ Windows rules.

mod common;

use palisade_event::{Event, FieldId, Value};
use palisade_ingest::{EventSink, IngestOptions, Input, RecordError, discover_inputs, read_input};
use palisade_sigma::logsource::{RouteFields, RouteKey};
use palisade_sigma::{LoadOptions, Scratch, load_rules};

struct Collect(Vec<Event>);
impl EventSink for Collect {
    fn events(&mut self, batch: &mut Vec<Event>) {
        self.0.append(batch);
    }
    fn warning(&mut self, _: RecordError) {}
}

#[test]
fn prefilter_never_skips_a_match() {
    let (Some(samples), Some(rules)) = (
        common::shared_data("evtx-attack-samples"),
        common::shared_data("sigma/rules/windows"),
    ) else {
        return;
    };
    let loaded = load_rules(&[rules], &LoadOptions::default());
    let (inputs, _) = discover_inputs(&[samples]);
    let mut events = Collect(Vec::new());
    for input in inputs
        .iter()
        .filter(|i| matches!(i, Input::Path(p) if p.extension().is_some_and(|e| e == "evtx")))
    {
        let _ = read_input(input, &IngestOptions::default(), &mut events);
    }
    // Every 6th event keeps the debug-build run short while covering every file's event types.
    let sample: Vec<&Event> = events.0.iter().step_by(6).collect();
    let fields = RouteFields::new();
    let mut scratch = Scratch::default();
    let (mut fast_hits, mut brute_hits) = (0, 0);
    let mut key = String::new();
    for e in &sample {
        let mut fast = Vec::new();
        loaded.rules.match_event(e, &mut scratch, &mut fast);
        RouteKey::write_key(e, &fields, &mut key);
        let route = RouteKey::from_key(&key);
        let brute: Vec<u32> = loaded
            .rules
            .rules()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let guard_ok = r.route.guard().is_none_or(|(f, allowed)| {
                    e.get(FieldId::known(f))
                        .and_then(Value::as_str)
                        .is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
                });
                r.route.admits(&route) && guard_ok && r.detection.matches(e)
            })
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(fast, brute, "event {:?}", e.origin);
        fast_hits += fast.len();
        brute_hits += brute.len();
    }
    println!(
        "prefilter soundness: {} events, {} rules, {fast_hits} matches (brute force {brute_hits}); rules evaluated per event {:.1}",
        sample.len(),
        loaded.rules.len(),
        scratch.evaluated as f64 / sample.len() as f64
    );
    assert!(fast_hits > 50, "the sample should contain detections");
}
