//! Scenarios of the contract: given a request as the failover function sends
//! it, when it is read and validated, then it is accepted or refused with the
//! fix.

use serde_json::json;

use super::*;
use crate::probe::settings::parse;

const A: &str = "i-0123456789abcdef0";
const B: &str = "i-0fedcba9";

fn request() -> RoundRequest {
    RoundRequest {
        group: "web".to_string(),
        round: "r-1".to_string(),
        issued_at_ms: 1_700_000_000_000,
        duration_ms: 60_000,
        settings: parse("http:80/health").unwrap(),
        members: vec![target(A, "10.0.1.10"), target(B, "fd00::20")],
        state: vec![],
    }
}

fn target(instance_id: &str, address: &str) -> Target {
    Target {
        instance_id: instance_id.to_string(),
        address: address.to_string(),
    }
}

fn entry(instance_id: &str) -> MemberStateEntry {
    MemberStateEntry {
        instance_id: instance_id.to_string(),
        state: MemberState::default(),
    }
}

fn refused(request: &RoundRequest) -> String {
    request.validate().unwrap_err()
}

#[test]
fn given_the_documented_request_when_read_then_it_is_valid() {
    let event = json!({"vip_failover_probe": {
        "group": "web", "round": "r-1", "issued_at_ms": 1_700_000_000_000u64,
        "duration_ms": 60_000,
        "settings": {"check": {"type": "http", "port": 80, "path": "/health"},
                     "interval_ms": 1000, "timeout_ms": 800, "fall": 3, "rise": 2},
        "members": [{"instance_id": A, "address": "10.0.1.10"},
                    {"instance_id": B, "address": "fd00::20"}],
        "state": [{"instance_id": A, "up": true, "ok_streak": 12, "fail_streak": 0}]
    }});
    let envelope: ProbeRequestEnvelope = serde_json::from_value(event.clone()).unwrap();
    let request = envelope.vip_failover_probe.clone();
    assert_eq!(request.validate(), Ok(()));
    assert_eq!(request.state[0].state.up, Some(true));
    assert_eq!(serde_json::to_value(&envelope).unwrap(), event);
}

#[test]
fn given_a_request_without_state_when_read_then_every_member_starts_unknown() {
    let mut event = serde_json::to_value(request()).unwrap();
    event.as_object_mut().unwrap().remove("state");
    let request: RoundRequest = serde_json::from_value(event).unwrap();
    assert!(request.state.is_empty());
}

#[test]
fn given_a_result_when_serialized_then_ended_is_snake_case_and_state_round_trips() {
    let verdict = MemberVerdict {
        instance_id: A.to_string(),
        address: "10.0.1.10".to_string(),
        up: Some(false),
        changed: true,
        reason: "connection refused".to_string(),
        ok_streak: 0,
        fail_streak: 3,
        at_ms: 5,
    };
    let result = RoundResult {
        group: "web".to_string(),
        round: "r-1".to_string(),
        settings: request().settings,
        started_at_ms: 1,
        ended_at_ms: 5,
        ended: Ended::TimeUp,
        reached_any: true,
        verdicts: vec![verdict.clone()],
    };
    let json = serde_json::to_value(ProbeResultEnvelope {
        vip_failover_probe_result: result,
    })
    .unwrap();
    assert_eq!(json["vip_failover_probe_result"]["ended"], "time_up");
    let state = serde_json::to_value(verdict.state()).unwrap();
    assert_eq!(
        state,
        json!({"instance_id": A, "up": false, "ok_streak": 0, "fail_streak": 3})
    );
}

#[test]
fn given_an_empty_group_when_validated_then_it_is_refused() {
    let mut request = request();
    request.group = " ".to_string();
    assert!(refused(&request).contains("group is empty"));
}

#[test]
fn given_no_members_or_too_many_when_validated_then_the_bound_is_named() {
    let mut request = request();
    request.members.clear();
    assert!(refused(&request).contains("1 to 64 members"));
    request.members = (0..=MAX_MEMBERS)
        .map(|n| target(&format!("i-{n:08x}"), "10.0.0.1"))
        .collect();
    assert!(refused(&request).contains("65 members"));
    request.members.pop();
    assert_eq!(request.validate(), Ok(()));
}

#[test]
fn given_a_malformed_instance_id_when_validated_then_the_shape_is_named() {
    for id in [
        "i-0123456",
        "i-0123456789ABCDEF0",
        "0123456789abcdef0",
        "i-0123456g",
        "",
    ] {
        let mut request = request();
        request.members[0].instance_id = id.to_string();
        assert!(refused(&request).contains("8 or 17 lowercase hex"), "{id}");
    }
}

#[test]
fn given_a_bad_address_when_validated_then_it_asks_for_a_bare_literal() {
    for address in ["10.0.1", "[fd00::20]", "10.0.1.10:80", "web.internal"] {
        let mut request = request();
        request.members[1].address = address.to_string();
        assert!(refused(&request).contains("not an IP address"), "{address}");
    }
}

#[test]
fn given_a_duration_out_of_range_when_validated_then_it_is_refused() {
    for duration_ms in [999, 15 * 60 * 1000 + 1] {
        let mut request = request();
        request.duration_ms = duration_ms;
        assert!(refused(&request).contains("1 s to 15 min"), "{duration_ms}");
    }
}

#[test]
fn given_a_member_listed_twice_when_validated_then_it_is_refused() {
    let mut request = request();
    request.members.push(target(A, "10.0.1.11"));
    assert!(refused(&request).contains("listed twice"));
}

#[test]
fn given_state_for_a_stranger_or_twice_when_validated_then_it_is_refused() {
    let mut request = request();
    request.state = vec![entry("i-99999999")];
    assert!(refused(&request).contains("not a member"));
    request.state = vec![entry(A), entry(A)];
    assert!(refused(&request).contains("given twice"));
}

#[test]
fn given_invalid_settings_when_validated_then_the_settings_error_is_returned() {
    let mut request = request();
    request.settings.timeout = request.settings.interval;
    assert!(refused(&request).contains("shorter than interval"));
}
