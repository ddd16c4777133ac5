//! The probe board: one loop per group, fresh verdicts only, a cut-off prober
//! decides nothing.

use super::*;
use crate::probe::wire::{Ended, MemberVerdict};
use crate::probe::ProbeSettings;

fn result(round: &str, reached_any: bool, verdicts: &[(&str, Option<bool>, u64)]) -> RoundResult {
    let settings: ProbeSettings = "tcp:80".parse().expect("settings");
    RoundResult {
        group: "web".to_string(),
        round: round.to_string(),
        settings,
        started_at_ms: 0,
        ended_at_ms: 0,
        ended: Ended::Changed,
        reached_any,
        verdicts: verdicts
            .iter()
            .map(|(id, up, at_ms)| MemberVerdict {
                instance_id: id.to_string(),
                address: "10.0.1.10".to_string(),
                up: *up,
                changed: true,
                reason: "connection refused".to_string(),
                ok_streak: 0,
                fail_streak: 3,
                at_ms: *at_ms,
            })
            .collect(),
    }
}

const FRESH: Duration = Duration::from_secs(90);

#[test]
fn given_a_result_then_its_chain_continues_with_the_next_round() {
    let board = ProbeBoard::default();
    assert_eq!(
        board.adopt(&result("abc-4", true, &[]), FRESH),
        Adopted::Continue("abc-5".to_string())
    );
    assert_eq!(
        board.adopt(&result("abc-5", true, &[]), FRESH),
        Adopted::Continue("abc-6".to_string())
    );
}

#[test]
fn given_a_live_loop_when_another_chain_or_a_retried_delivery_reports_then_it_is_dropped() {
    let board = ProbeBoard::default();
    board.adopt(&result("abc-4", true, &[]), FRESH);
    assert_eq!(
        board.adopt(&result("xyz-0", true, &[]), FRESH),
        Adopted::Stale
    );
    assert_eq!(
        board.adopt(&result("abc-2", true, &[]), FRESH),
        Adopted::Stale
    );
}

#[tokio::test(start_paused = true)]
async fn given_a_loop_silent_for_longer_than_fresh_then_a_new_chain_is_adopted() {
    let board = ProbeBoard::default();
    board.adopt(&result("abc-4", true, &[]), FRESH);
    tokio::time::advance(FRESH + Duration::from_secs(1)).await;
    assert!(!board.alive("web", FRESH));
    assert_eq!(
        board.adopt(&result("xyz-0", true, &[]), FRESH),
        Adopted::Continue("xyz-1".to_string())
    );
}

#[test]
fn given_verdicts_then_only_fresh_judged_ones_from_a_prober_that_reached_someone_count() {
    let now = epoch_ms();
    let fresh = result(
        "abc-1",
        true,
        &[
            ("i-a", Some(false), now),
            ("i-b", None, now),
            ("i-c", Some(true), now - 200_000),
        ],
    );
    let signals = signals_of(&fresh, now, FRESH);
    assert_eq!(
        signals.keys().collect::<Vec<_>>(),
        ["i-a"],
        "unknown and stale say nothing"
    );
    assert!(!signals["i-a"].up);
    let board = ProbeBoard::default();
    board.adopt(&result("abc-1", false, &[("i-a", Some(false), now)]), FRESH);
    assert!(
        board.signals("web", FRESH).is_empty(),
        "a prober that reached nobody is the one cut off"
    );
}

#[test]
fn given_round_ids_then_chain_and_sequence_are_read_back() {
    assert_eq!(parse_round("3f2a1c09-7"), ("3f2a1c09".to_string(), 7));
    assert_eq!(parse_round("odd"), ("odd".to_string(), 0));
    assert_eq!(round_id("3f2a1c09", 8), "3f2a1c09-8");
}
