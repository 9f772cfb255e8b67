//! Saved profiles: a restarted engine (new random keys, fresh tables) restores what an earlier
//! one learned and scores exactly as it did; damaged blobs are errors, never panics.

mod common;

use common::{at, data, history, req, t0};
use palisade_auth::{Engine, Geo, Outcome, Policy};
use proptest::prelude::*;

const LONDON: &str = "81.2.69.142";
const CHANGCHUN: &str = "175.16.199.1";

fn learned() -> Engine {
    let mut e = Engine::new(Policy::default(), None).unwrap();
    history(&mut e, "alice", "192.0.2.10", "laptop", 30);
    history(&mut e, "bob", "198.51.100.7", "phone", 3);
    e
}

#[test]
fn a_restarted_engine_scores_as_the_one_that_learned() {
    let before = learned();
    let saved = before.save_profiles();
    assert_eq!(
        saved.len(),
        8 + 4 + 16 + 8 + 2 * palisade_auth::persist::USER_RECORD + 4
    );
    let mut after = Engine::new(Policy::default(), None).unwrap();
    // Before restoring, the new engine knows nobody.
    assert!(
        after
            .assess(&req("alice", "192.0.2.10", Some("laptop"), t0()))
            .has("new_user")
    );
    let g = after.generation();
    assert_eq!(after.restore_profiles(&saved).unwrap(), 2);
    assert!(after.generation() > g);
    assert_eq!(after.users(), 2);
    for r in [
        req("alice", "192.0.2.10", Some("laptop"), t0()),
        req("alice", "203.0.113.9", Some("new-phone"), at(30)),
        req(
            "alice",
            "192.0.2.10",
            Some("laptop"),
            at(60 * 14 + 3 * 24 * 60),
        ),
        req("bob", "198.51.100.7", Some("phone"), t0()),
        req("carol", "192.0.2.1", None, t0()),
    ] {
        assert_eq!(before.assess(&r), after.assess(&r), "{r:?}");
    }
    let usual = after.assess(&req("alice", "192.0.2.10", Some("laptop"), t0()));
    assert!(usual.reasons.is_empty(), "{usual:#?}");
    // And learning goes on from there.
    after.outcome(
        &req("alice", "203.0.113.9", Some("new-phone"), at(30)),
        Outcome::Success,
    );
    assert!(
        !after
            .assess(&req("alice", "203.0.113.9", Some("new-phone"), at(90)))
            .has("new_device")
    );
}

#[test]
fn policy_lists_follow_the_restored_keys() {
    let mut p = Policy::default();
    p.always_challenge.users.push("alice".into());
    let saved = learned().save_profiles();
    let mut e = Engine::new(p, None).unwrap();
    e.restore_profiles(&saved).unwrap();
    let a = e.assess(&req("alice", "192.0.2.10", Some("laptop"), t0()));
    assert_eq!(a.decision, palisade_auth::Decision::Challenge, "{a:#?}");
}

#[test]
fn peer_group_counts_are_restored_by_group_name() {
    let Some(p) = data("maxmind-test-db/test-data/GeoIP2-City-Test.mmdb") else {
        return;
    };
    let mut policy = Policy::default();
    policy
        .peer_groups
        .insert("finance".into(), vec!["hana".into(), "ivan".into()]);
    let mut e = Engine::new(policy.clone(), Some(Geo::open(&p).unwrap())).unwrap();
    history(&mut e, "hana", LONDON, "pc", 10);
    history(&mut e, "ivan", LONDON, "pc", 10);
    e.outcome(&req("ivan", CHANGCHUN, Some("pc"), t0()), Outcome::Success);
    let saved = e.save_profiles();

    let mut same = Engine::new(policy.clone(), Some(Geo::open(&p).unwrap())).unwrap();
    same.restore_profiles(&saved).unwrap();
    let a = same.assess(&req("hana", CHANGCHUN, Some("pc"), at(2000)));
    assert!(a.has("new_country") && !a.has("peer_rarity"), "{a:#?}");

    // A group added before "finance" shifts indices: counts still land on "finance".
    policy
        .peer_groups
        .insert("accounting".into(), vec!["zed".into()]);
    let mut shifted = Engine::new(policy, Some(Geo::open(&p).unwrap())).unwrap();
    shifted.restore_profiles(&saved).unwrap();
    let a = shifted.assess(&req("hana", CHANGCHUN, Some("pc"), at(2000)));
    assert!(a.has("new_country") && !a.has("peer_rarity"), "{a:#?}");
}

#[test]
fn the_profile_bound_holds_on_restore() {
    let saved = learned().save_profiles();
    let mut e = Engine::new(Policy::default(), None).unwrap();
    e.set_max_users(1);
    assert_eq!(e.restore_profiles(&saved).unwrap(), 1);
    assert_eq!(e.users(), 1);
    assert_eq!(e.refused_users(), 1);
}

#[test]
fn every_truncation_is_an_error_and_leaves_the_engine_alone() {
    let saved = learned().save_profiles();
    let mut e = Engine::new(Policy::default(), None).unwrap();
    history(&mut e, "dave", "192.0.2.99", "pc", 5);
    for cut in 0..saved.len() {
        let err = e.restore_profiles(&saved[..cut]).unwrap_err().to_string();
        assert!(err.starts_with("saved authentication profiles:"), "{err}");
    }
    let mut longer = saved.clone();
    longer.push(0);
    let err = e.restore_profiles(&longer).unwrap_err().to_string();
    assert!(err.contains("unexpected bytes"), "{err}");
    let mut other = saved.clone();
    other[8] = 9;
    let err = e.restore_profiles(&other).unwrap_err().to_string();
    assert!(err.contains("format 9"), "{err}");
    // Nothing was replaced by the failed attempts.
    assert_eq!(e.users(), 1);
    assert!(
        e.assess(&req("dave", "192.0.2.99", Some("pc"), t0()))
            .reasons
            .is_empty()
    );
}

#[test]
fn a_huge_claimed_user_count_is_refused_without_allocating_it() {
    let mut b = learned().save_profiles();
    b[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = Engine::new(Policy::default(), None)
        .unwrap()
        .restore_profiles(&b)
        .unwrap_err()
        .to_string();
    assert!(err.contains("claims"), "{err}");
}

proptest! {
    #[test]
    fn random_and_mutated_blobs_never_panic(
        junk in proptest::collection::vec(any::<u8>(), 0..600),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let mut e = Engine::new(Policy::default(), None).unwrap();
        let _ = e.restore_profiles(&junk);
        let mut b = learned().save_profiles();
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        if e.restore_profiles(&b).is_ok() {
            let _ = e.assess(&req("alice", "192.0.2.10", Some("laptop"), t0()));
        }
    }
}
