//! The e-mail filter of `ChangesTopic`: only results whose top-level `notify` is
//! true get through. The filter policy is read out of `template.yaml` (never
//! copied here), put on a subscription of an emulated SQS queue to an emulated
//! topic, and Lambda invocation records (the message body a Lambda destination
//! publishes) are sent through it.
//!
//! Emulated: SNS filtering is moto's implementation, not AWS's. This checks that
//! our policy, with `FilterPolicyScope: MessageBody`, selects the records we mean
//! under moto's filter engine (moto 5.2.5 answers HTTP 500 on publish for
//! MessageBody policies that use `$or`; ours has none). The records are built
//! by hand in the shape Lambda documents for destinations.

use serde_json::{json, Value};
use testkit::sns::Client;
use testkit::Emulator;

const TEMPLATE: &str = include_str!("../template.yaml");

/// The text of the template resource `name`, up to the next resource.
fn resource_block(name: &str) -> String {
    let mut lines = TEMPLATE.lines().skip_while(|l| *l != format!("  {name}:"));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("{name} in template.yaml"));
    let body = lines.take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"));
    std::iter::once(head)
        .chain(body)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first JSON object in `text` from its first `{`, braces balanced (strings
/// respected).
fn first_json_object(text: &str) -> &str {
    let start = text.find('{').expect("a JSON object");
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text[start..].char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..=start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced JSON object in {text}")
}

/// `ChangesEmailSubscription`'s filter policy and its scope, as the template says.
fn template_filter_policy() -> (String, &'static str) {
    let block = resource_block("ChangesEmailSubscription");
    let scope_line = block
        .lines()
        .find(|l| l.trim_start().starts_with("FilterPolicyScope:"))
        .expect("ChangesEmailSubscription has a FilterPolicyScope");
    assert!(scope_line.contains("MessageBody"), "{scope_line}");
    let after = block
        .split_once("FilterPolicy:")
        .expect("ChangesEmailSubscription has a FilterPolicy")
        .1;
    let policy = first_json_object(after);
    let parsed: Value = serde_json::from_str(policy).expect("the filter policy is JSON");
    assert!(parsed.is_object(), "{policy}");
    (policy.to_string(), "MessageBody")
}

/// A Lambda destination record of a successful asynchronous invocation.
fn record(n: u32, request: Value, response: Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-24T03:00:00.000Z",
        "requestContext": {
            "requestId": format!("00000000-0000-4000-8000-00000000000{n}"),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:vip-failover:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1
        },
        "requestPayload": request,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": response
    })
    .to_string()
}

fn stopped(instance_id: &str) -> Value {
    json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-24T03:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}")],
        "detail": {"instance-id": instance_id, "state": "stopped"}
    })
}

fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-24T03:05:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/vip-failover-Reconcile"],
        "detail": {}
    })
}

#[test]
fn only_results_that_notify_reach_the_changes_mail() {
    let (policy, scope) = template_filter_policy();
    let emulator = Emulator::start();
    let sns = Client::new(&emulator);
    let topic = sns.create_topic("vip-failover-changes").unwrap();
    let inbox = sns.create_queue("changes-inbox").unwrap();
    sns.subscribe_queue(
        &topic,
        &inbox,
        &[
            ("FilterPolicy", &policy),
            ("FilterPolicyScope", scope),
            ("RawMessageDelivery", "true"),
        ],
    )
    .unwrap();

    let route = json!({"route_table_id": "rtb-1108", "destination": "192.168.100.10/32",
                       "before": "eni-4dd5", "after": "eni-0830", "result": "replaced"});
    let records = [
        // (a) a failover that replaced a route
        record(
            1,
            stopped("i-0a1b2c3d4e5f60718"),
            json!({"group": "web", "action": "failed_over", "changed": true, "notify": true,
                   "reason": "moving the VIP from i-0a1b2c3d4e5f60718 to i-0f1e2d3c4b5a69788",
                   "trigger": "EC2 state change i-0a1b2c3d4e5f60718 (stopped)", "dry_run": false,
                   "route_tables": [route], "warnings": [], "duration_ms": 81}),
        ),
        // (b) a decision that changed nothing
        record(
            2,
            json!({"action": "failover", "group": "web", "dry_run": true}),
            json!({"group": "web", "action": "no_change", "changed": false, "notify": false,
                   "reason": "the holder is healthy", "trigger": "manual", "dry_run": true,
                   "route_tables": [], "warnings": [], "duration_ms": 12}),
        ),
        // (c) an instance in no group
        record(
            3,
            stopped("i-0123456789abcdef0"),
            json!({"action": "ignored", "reason": "i-0123456789abcdef0 is in no group",
                   "notify": false}),
        ),
        // (d) a reconcile that needs attention
        record(
            4,
            scheduled(),
            json!({"action": "reconcile", "changed": false, "attention": true, "notify": true,
                   "groups": [{"group": "web", "action": "no_change", "changed": false}],
                   "duration_ms": 40}),
        ),
        // (e) a result without "notify" (a function from before the field)
        record(
            5,
            scheduled(),
            json!({"action": "reconcile", "changed": false, "groups": [], "duration_ms": 9}),
        ),
    ];
    for message in &records {
        sns.publish(&topic, message).unwrap();
    }

    let received: Vec<Value> = sns
        .receive_all(&inbox)
        .unwrap()
        .iter()
        .map(|body| serde_json::from_str(body).expect("raw delivery: the record itself"))
        .collect();
    let mut delivered: Vec<(String, String)> = received
        .iter()
        .map(|r| {
            (
                r["requestContext"]["requestId"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                r["responsePayload"]["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    delivered.sort();
    assert_eq!(
        delivered,
        vec![
            (
                "00000000-0000-4000-8000-000000000001".to_string(),
                "failed_over".to_string()
            ),
            (
                "00000000-0000-4000-8000-000000000004".to_string(),
                "reconcile".to_string()
            ),
        ],
        "policy {policy}: {received:#?}"
    );
}

#[test]
fn notify_everything_drops_the_filter_and_its_scope() {
    let block = resource_block("ChangesEmailSubscription");
    for property in ["FilterPolicyScope:", "FilterPolicy:"] {
        let (_, after) = block
            .split_once(&format!("      {property}"))
            .unwrap_or_else(|| panic!("{property} in {block}"));
        let value: String = after.lines().take(3).collect::<Vec<_>>().join(" ");
        assert!(
            value.contains("NotifyEverythingOn") && value.contains("!Ref AWS::NoValue"),
            "{property} must give way to NotifyEverything=true: {value}"
        );
    }
}
