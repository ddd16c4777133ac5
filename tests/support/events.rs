//! Events as AWS delivers them, for the scenarios.

use serde_json::{json, Value};

/// A CloudWatch alarm's Lambda action for a StatusCheckFailed alarm on `instance`.
pub fn alarm(instance: &str, state: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-status",
        "accountId": "123456789012",
        "time": "2026-11-24T03:00:00.000+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": "web-status",
            "state": {"value": state, "reason": "test", "timestamp": "2026-11-24T03:00:00.000+0000"},
            "previousState": {"value": "OK", "reason": "test", "timestamp": "2026-11-24T02:00:00.000+0000"},
            "configuration": {
                "description": "status check of a web server",
                "metrics": [{
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
                }]
            }
        }
    })
}

/// EventBridge's EC2 instance state-change notification.
pub fn state_change(instance: &str, state: &str) -> Value {
    json!({
        "version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-24T03:00:00Z",
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
