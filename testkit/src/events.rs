//! Events as AWS delivers them, for the scenarios.

use serde_json::{json, Value};

/// The time every event carries unless told otherwise.
pub const EVENT_TIME: &str = "2026-11-24T03:00:00Z";

/// The Lambda action of `instance`'s status alarm (named as the template names
/// it, see [`crate::cloudwatch::status_alarm_name`]) on entering `state`. An event
/// is a hint: the function reads the alarm's level again, so a test that wants a
/// move sets the alarm in the emulator too ([`crate::world::World::alarm`]).
pub fn alarm(instance: &str, state: &str) -> Value {
    let name = crate::cloudwatch::status_alarm_name(instance);
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
        "accountId": "123456789012",
        "time": "2026-11-24T03:00:00.000+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": name,
            "state": {"value": state, "reason": "test", "timestamp": "2026-11-24T03:00:00.000+0000"},
            "previousState": {"value": "OK", "reason": "test", "timestamp": "2026-11-24T02:00:00.000+0000"},
            "configuration": {
                "description": "status check of a web server",
                "metrics": [status_check_metric(instance)]
            }
        }
    })
}

/// EventBridge's "CloudWatch Alarm State Change" for a StatusCheckFailed alarm named
/// `alarm_name` on `instance`, now in `state` (`ALARM`, `OK`, `INSUFFICIENT_DATA`),
/// coming from `OK` (or from `ALARM` when `state` is `OK`).
pub fn alarm_state_change(alarm_name: &str, instance: &str, state: &str) -> Value {
    let previous = if state == "OK" { "ALARM" } else { "OK" };
    json!({
        "version": "0",
        "id": "5f2c8a3e-91d4-4b7a-b0c6-2e8f1d9a7c43",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": EVENT_TIME,
        "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm_name}")],
        "detail": {
            "alarmName": alarm_name,
            "state": {"value": state, "reason": "test", "timestamp": "2026-11-24T03:00:00.000+0000"},
            "previousState": {"value": previous, "reason": "test", "timestamp": "2026-11-24T02:00:00.000+0000"},
            "configuration": {
                "description": "status check of a web server",
                "metrics": [status_check_metric(instance)]
            }
        }
    })
}

fn status_check_metric(instance: &str) -> Value {
    json!({
        "id": "m1",
        "metricStat": {
            "metric": {
                "namespace": "AWS/EC2",
                "name": "StatusCheckFailed",
                "dimensions": {"InstanceId": instance}
            },
            "period": 60,
            "stat": "Maximum"
        },
        "returnData": true
    })
}

/// EventBridge's EC2 instance state-change notification, sent at `time` (an RFC
/// 3339 UTC time such as `2026-11-24T03:00:00Z`; default: now, as a fresh event
/// is; an event older than the instance's last start speaks of an earlier life).
pub fn state_change(instance: &str, state: &str, time: Option<&str>) -> Value {
    let now = now_rfc3339();
    json!({
        "version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": time.unwrap_or(&now),
        "region": "us-east-1", "resources": [], "detail": {"instance-id": instance, "state": state}
    })
}

/// EventBridge's scheduled event (the reconcile rule).
pub fn scheduled() -> Value {
    json!({
        "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-24T03:05:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/vip-failover-reconcile"], "detail": {}
    })
}

/// The current time as EventBridge writes it (`2026-11-24T03:00:00Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
