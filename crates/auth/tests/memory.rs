//! The stated per-user byte budget, measured with a counting allocator on 10,000 users.

mod common;

use palisade_auth::{Engine, Outcome, Policy, state::USER_STATE_BYTES};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::SeqCst);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Budget: `UserState` (312 B) + 8-byte key + 1 control byte, times the hash table's slack
/// (capacity is a power of two, at most 7/8 full): ≤ 640 bytes per user.
const BUDGET_PER_USER: usize = 640;

#[test]
fn ten_thousand_users_fit_the_budget() {
    assert_eq!(
        std::mem::size_of::<palisade_auth::state::UserState>(),
        USER_STATE_BYTES
    );
    let mut e = Engine::new(Policy::default(), None).unwrap();
    // Reusable requests: their own allocations are not part of the engine's state.
    let mut reqs: Vec<_> = (0..10_000)
        .map(|i| {
            common::req(
                &format!("user{i:05}"),
                &format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                Some(&format!("device-{i}")),
                common::at(i as i64),
            )
        })
        .collect();
    let before = LIVE.load(Ordering::SeqCst);
    for r in &reqs {
        e.outcome(r, Outcome::Success);
        e.outcome(r, Outcome::MfaPassed);
    }
    let after = LIVE.load(Ordering::SeqCst);
    let per_user = (after - before) as usize / 10_000;
    eprintln!(
        "{} users: {} bytes of heap, {per_user} bytes per user (profile_bytes {})",
        e.users(),
        after - before,
        e.profile_bytes()
    );
    assert_eq!(e.users(), 10_000);
    assert!(
        per_user <= BUDGET_PER_USER,
        "{per_user} bytes per user > {BUDGET_PER_USER}"
    );
    reqs.clear();
}
