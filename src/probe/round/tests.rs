//! Scenarios of a round against real loopback listeners, at a 200 ms interval
//! and a 100 ms timeout so each takes well under 3 s: given members that
//! answer or not, when a round runs, then it ends when and how it should.

use serde_json::json;
use tokio::net::TcpListener;

use super::*;
use crate::probe::settings::parse;

const A: &str = "i-0000000a";
const B: &str = "i-0000000b";

async fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A port nobody listens on.
async fn closed_port() -> u16 {
    listener().await.1
}

/// A TCP round of `duration_ms` on `port` (every member on 127.0.0.1; the
/// check port is shared, so a group is one listener seen by several members).
fn request(port: u16, duration_ms: u64, members: &[(&str, Option<bool>)]) -> RoundRequest {
    RoundRequest {
        group: "web".to_string(),
        round: "r-1".to_string(),
        issued_at_ms: epoch_ms(),
        duration_ms,
        settings: parse(&format!(
            "tcp:{port} interval=200ms timeout=100ms fall=3 rise=2"
        ))
        .unwrap(),
        members: members
            .iter()
            .map(|(id, _)| Target {
                instance_id: id.to_string(),
                address: "127.0.0.1".to_string(),
            })
            .collect(),
        state: members
            .iter()
            .filter(|(_, up)| up.is_some())
            .map(|(id, up)| MemberStateEntry {
                instance_id: id.to_string(),
                state: MemberState {
                    up: *up,
                    ..MemberState::default()
                },
            })
            .collect(),
    }
}

fn verdict<'a>(result: &'a RoundResult, id: &str) -> &'a MemberVerdict {
    result
        .verdicts
        .iter()
        .find(|v| v.instance_id == id)
        .unwrap()
}

#[tokio::test]
async fn given_an_up_member_that_answers_when_a_round_runs_then_it_stays_up_until_time_is_up() {
    let (_listener, port) = listener().await;
    let result = run(request(port, 700, &[(A, Some(true))]), epoch_ms).await;
    assert_eq!(result.ended, Ended::TimeUp);
    assert!(result.reached_any);
    let a = verdict(&result, A);
    assert_eq!((a.up, a.changed), (Some(true), false));
    // Ticks at 0, 200, 400 and 600 ms; the next one would pass 700 ms.
    assert_eq!(a.ok_streak, 4, "{a:?}");
    assert!(a.reason.starts_with("answered in "), "{a:?}");
    let took = result.ended_at_ms - result.started_at_ms;
    assert!((550..1_500).contains(&took), "took {took} ms");
    assert!((result.started_at_ms..=result.ended_at_ms).contains(&a.at_ms));
}

#[tokio::test]
async fn given_a_listener_killed_mid_round_when_a_round_runs_then_it_ends_early_with_the_member_down(
) {
    let (listener, port) = listener().await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(listener);
    });
    let started = Instant::now();
    let result = run(request(port, 10_000, &[(A, Some(true))]), epoch_ms).await;
    assert_eq!(result.ended, Ended::Changed);
    let a = verdict(&result, A);
    assert_eq!(
        (a.up, a.changed, a.fail_streak),
        (Some(false), true, 3),
        "{a:?}"
    );
    assert_eq!(a.reason, "connection refused");
    // Ok at 0 and 200 ms, refused at 400, 600 and 800 ms.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
    assert!(!result.reached_any);
}

#[tokio::test]
async fn given_every_member_unreachable_when_a_round_runs_then_it_reached_nobody() {
    let port = closed_port().await;
    let result = run(
        request(port, 5_000, &[(A, Some(true)), (B, None)]),
        epoch_ms,
    )
    .await;
    assert!(!result.reached_any);
    assert_eq!(result.ended, Ended::Changed);
    for id in [A, B] {
        let member = verdict(&result, id);
        assert_eq!(
            (member.up, member.changed),
            (Some(false), true),
            "{member:?}"
        );
        assert_eq!(member.reason, "connection refused");
    }
}

#[tokio::test]
async fn given_unknown_members_that_answer_when_a_round_runs_then_they_are_up_after_rise() {
    let (_listener, port) = listener().await;
    let started = Instant::now();
    let result = run(request(port, 5_000, &[(A, None), (B, None)]), epoch_ms).await;
    assert_eq!(result.ended, Ended::Changed);
    assert!(started.elapsed() < Duration::from_millis(600));
    let order: Vec<&str> = result
        .verdicts
        .iter()
        .map(|v| v.instance_id.as_str())
        .collect();
    assert_eq!(order, [A, B]);
    for member in &result.verdicts {
        assert_eq!(
            (member.up, member.changed, member.ok_streak),
            (Some(true), true, 2)
        );
    }
}

#[tokio::test]
async fn given_a_down_member_that_stays_down_when_a_round_runs_then_nothing_changed() {
    let port = closed_port().await;
    let result = run(request(port, 900, &[(A, Some(false))]), epoch_ms).await;
    assert_eq!(result.ended, Ended::TimeUp);
    let a = verdict(&result, A);
    assert_eq!((a.up, a.changed), (Some(false), false));
    // Ticks at 0, 200, 400, 600 and 800 ms; the next one would pass 900 ms.
    assert_eq!(a.fail_streak, 5);
}

#[tokio::test]
async fn given_a_request_event_when_handled_then_the_result_envelope_echoes_the_round() {
    let (_listener, port) = listener().await;
    let mut request = request(port, 1_000, &[(A, None)]);
    request.round = "r-42".to_string();
    let event = json!({ "vip_failover_probe": request });
    let envelope = handle(event).await.unwrap();
    let json = serde_json::to_value(&envelope).unwrap();
    let result = &json["vip_failover_probe_result"];
    assert_eq!(result["round"], "r-42");
    assert_eq!(result["ended"], "changed");
    assert_eq!(result["verdicts"][0]["up"], true);
    assert_eq!(result["settings"]["interval_ms"], 200);
}

#[tokio::test]
async fn given_an_event_that_is_not_a_round_when_handled_then_the_error_shows_the_envelope() {
    let error = handle(json!({"source": "aws.events"})).await.unwrap_err();
    assert!(error.contains("vip_failover_probe"), "{error}");
}

#[tokio::test]
async fn given_an_invalid_round_when_handled_then_nothing_is_probed_and_the_fix_is_named() {
    let mut request = request(1, 1_000, &[(A, None)]);
    request.members[0].address = "web.internal".to_string();
    let error = handle(json!({ "vip_failover_probe": request }))
        .await
        .unwrap_err();
    assert!(error.contains("\"r-1\" of group \"web\""), "{error}");
    assert!(error.contains("not an IP address"), "{error}");
}
