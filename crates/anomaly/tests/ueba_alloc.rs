//! `Ueba::observe` must not allocate for known entities and values (the hot path): counted
//! with a global allocator wrapper. Its own test binary, so no other test allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::DateTime;
use palisade_anomaly::ueba::{Ueba, UebaConfig};
use palisade_event::{Event, Origin};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn event(t: i64, user: usize, conn: bool) -> Event {
    let mut e = Event::new(Origin::default(), "test");
    e.timestamp = DateTime::from_timestamp(t, 0);
    let u = format!("user{user}");
    let ip = format!("10.0.0.{user}");
    e.insert_named("user.name", u.as_str().into()).unwrap();
    e.insert_named("source.ip", ip.as_str().into()).unwrap();
    e.insert_named("source.geo.country_iso_code", "US".into())
        .unwrap();
    e.insert_named("source.as.number", 7018i64.into()).unwrap();
    e.insert_named("host.name", "web1".into()).unwrap();
    e.insert_named("event.category", "authentication".into())
        .unwrap();
    if conn {
        e.insert_named("process.executable", "/usr/bin/curl".into())
            .unwrap();
        e.insert_named("process.parent.executable", "/bin/bash".into())
            .unwrap();
        e.insert_named("destination.port", 443i64.into()).unwrap();
    }
    e.meta.service = Some("sshd".into());
    e
}

#[test]
fn observe_does_not_allocate_for_known_behaviour() {
    let cfg = UebaConfig {
        learned_groups: 0,
        peer_groups: [("user0".to_string(), "ops".to_string())].into(),
        ..UebaConfig::default()
    };
    let mut u = Ueba::new(cfg).unwrap();
    let t0 = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .timestamp();
    let mut out = Vec::with_capacity(16);
    // Five users log in to web1 between 09:00 and 17:00 every day.
    let day = |d: i64| -> Vec<Event> {
        let mut events = Vec::new();
        for h in 9..17i64 {
            for user in 0..5usize {
                let t = t0 + d * 86_400 + h * 3600 + user as i64 * 60;
                events.push(event(t, user, (h as usize + user).is_multiple_of(2)));
            }
        }
        events
    };
    for d in 0..21 {
        for e in &day(d) {
            u.observe(e, &mut out);
        }
    }
    out.clear();
    let events = day(21);
    COUNTING.store(true, Ordering::SeqCst);
    for e in &events {
        u.observe(e, &mut out);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    assert!(
        out.is_empty(),
        "known behaviour raised {} alerts",
        out.len()
    );
    assert_eq!(
        allocs,
        0,
        "observe allocated {allocs} times for {} events",
        events.len()
    );
}
