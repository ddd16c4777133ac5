//! Every trigger shape, from the user-facing samples in `events/`, drives the right
//! decision against the emulator; every malformed or foreign event is refused with
//! a typed error and not a single EC2 write.

use serde_json::{json, Value};
use testkit::cloudwatch;
use testkit::events::{alarm_state_change, state_change};
use testkit::topology;
use testkit::world::{given_the_two_az_seed, World};
use vip_failover::report::Response;
use vip_failover::trigger::{self, Trigger};

/// Instance ids the samples in `events/` use for serverA and serverB.
const SAMPLE_A: &str = "i-0a1b2c3d4e5f60718";
const SAMPLE_B: &str = "i-0f1e2d3c4b5a69788";

/// A sample from `events/`, with the sample instance ids replaced by the seeded
/// ones, sent now (an EC2 state change older than the instance's last start is
/// about an earlier life of it).
fn sample_event(world: &World, name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(&path);
    let text = text
        .replace(SAMPLE_A, &world.seed.server_a.instance_id)
        .replace(SAMPLE_B, &world.seed.server_b.instance_id);
    let mut event: Value = serde_json::from_str(&text).expect("sample is JSON");
    if event.get("detail-type") == Some(&json!("EC2 Instance State-change Notification")) {
        event["time"] = json!(testkit::events::now_rfc3339());
    }
    event
}

/// Puts the alarm an alarm event names in CloudWatch, in the state the event
/// reports: an event is only a hint, the level is what the function reads.
async fn as_levels(world: &World, event: Value) -> Value {
    if let Ok(Trigger::Alarm(hint)) = trigger::parse(&event, "vip-failover:") {
        let cloudwatch = world.emulator.cloudwatch();
        cloudwatch::put_status_alarm(&cloudwatch, &hint.alarm, &hint.instance_id, None)
            .await
            .unwrap();
        cloudwatch::set_alarm_state(&cloudwatch, &hint.alarm, hint.state.as_str().into())
            .await
            .unwrap();
    }
    event
}

/// Sends a sample from `events/` and returns the answer as JSON.
async fn ask(world: &World, name: &str) -> serde_json::Value {
    let response = world.handle(sample_event(world, name)).await;
    serde_json::to_value(response.expect(name)).expect("serializable")
}

fn action_of(response: &Response) -> String {
    serde_json::to_value(response).unwrap()["action"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn given_the_seed_when_each_failure_sample_arrives_then_the_vip_moves_to_server_b() {
    for sample in [
        "alarm-lambda-action.json",
        "alarm-lambda-action-metric-math.json",
        "alarm-lambda-action-composite.json",
        "eventbridge-ec2-state-change-stopped.json",
        "sns-alarm-notification.json",
        "failover.json",
        "failover-to-target.json",
    ] {
        let world = given_the_two_az_seed().await;

        let event = as_levels(&world, sample_event(&world, sample)).await;
        let response = world.handle(event).await.expect(sample);

        assert_eq!(action_of(&response), "failed_over", "{sample}");
        assert_eq!(world.vip_targets().await, world.on_b(), "{sample}");
        assert_eq!(
            world.calls.route_writes(),
            vec!["ReplaceRoute"; 3],
            "{sample}"
        );
    }
}

#[tokio::test]
async fn given_the_seed_when_samples_that_need_no_move_arrive_then_nothing_is_written() {
    let world = given_the_two_az_seed().await;
    for (sample, action) in [
        // An alarm back to OK on the active member: nothing to do without preemption.
        ("eventbridge-alarm-state-change.json", "no_change"),
        ("eventbridge-scheduled.json", "reconcile"),
        ("reconcile.json", "reconcile"),
        ("failover-dry-run.json", "failed_over"),
    ] {
        let response = world
            .handle(sample_event(&world, sample))
            .await
            .expect(sample);
        assert_eq!(action_of(&response), action, "{sample}");
    }
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn given_the_seed_when_status_and_check_are_asked_then_they_describe_the_group() {
    let world = given_the_two_az_seed().await;

    let status = ask(&world, "status.json").await;
    assert_eq!(status["active"], world.seed.server_a.instance_id.as_str());
    assert_eq!(status["members"].as_array().unwrap().len(), 2);
    assert_eq!(status["members"][1]["availability_zone"], "us-east-1b");
    assert_eq!(status["route_tables"].as_array().unwrap().len(), 3);
    assert_eq!(status["reconcile"], "no_change");

    let check = ask(&world, "check.json").await;
    let failed: Vec<&str> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ok"] == false)
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    // The seed's tables hold the VIP route without the group tag: only IAM scope is flagged.
    assert_eq!(failed, ["iam_scope"]);

    topology::set_source_dest_check(&world.client, &world.seed.server_b.eni_id, true)
        .await
        .unwrap();
    let check = ask(&world, "check.json").await;
    let text = check.to_string();
    assert_eq!(check["ok"], false);
    assert!(
        text.contains(&world.seed.server_b.eni_id) && text.contains("source/dest check enabled"),
        "{text}"
    );
    world.calls.assert_no_writes();
}

#[tokio::test]
async fn given_a_table_tagged_for_the_group_in_another_vpc_when_checking_then_it_is_named_and_nothing_written(
) {
    let world = given_the_two_az_seed().await;
    let other_vpc = topology::create_vpc(&world.client, "10.1.0.0/16")
        .await
        .unwrap();
    let stray = topology::create_table(
        &world.client,
        &other_vpc,
        &[("vip-failover:group", "web")],
        None,
    )
    .await
    .unwrap();

    let check = ask(&world, "check.json").await;

    let finding = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "tables_in_vpc")
        .cloned()
        .unwrap();
    assert_eq!(finding["ok"], false);
    let detail = finding["detail"].as_str().unwrap();
    assert!(
        detail.contains(&stray)
            && detail.contains(&other_vpc)
            && detail.contains(&world.seed.vpc_id),
        "{detail}"
    );
    world.calls.assert_no_writes();
}

#[tokio::test]
async fn given_a_half_moved_vip_when_the_schedule_fires_then_every_table_converges_on_one_healthy_member(
) {
    let world = given_the_two_az_seed().await;
    world
        .vip_route_by_hand(&world.seed.tables[1], &world.seed.server_b.eni_id)
        .await;
    world.calls.clear();

    let response = world
        .handle(sample_event(&world, "eventbridge-scheduled.json"))
        .await
        .unwrap();

    assert_eq!(world.vip_targets().await, world.on_a());
    assert_eq!(world.calls.route_writes(), ["ReplaceRoute"]);
    let groups = serde_json::to_value(&response).unwrap()["groups"].clone();
    assert_eq!(
        groups[0]["action"], "repaired",
        "the holder by majority keeps the VIP"
    );
}

#[tokio::test]
async fn given_a_stopped_active_when_the_schedule_fires_then_the_vip_moves_to_the_standby() {
    let world = given_the_two_az_seed().await;
    topology::stop(&world.client, &world.seed.server_a.instance_id)
        .await
        .unwrap();

    world
        .handle(sample_event(&world, "eventbridge-scheduled.json"))
        .await
        .unwrap();

    assert_eq!(world.vip_targets().await, world.on_b());
}

#[tokio::test]
async fn given_the_seed_when_an_eventbridge_alarm_state_change_arrives_then_its_level_decides() {
    let world = given_the_two_az_seed().await;
    let a = world.seed.server_a.instance_id.clone();
    let event = |state| alarm_state_change("vip-failover-web-serverA-status", &a, state);

    let recovered = world
        .handle(as_levels(&world, event("OK")).await)
        .await
        .expect("OK");
    assert_eq!(action_of(&recovered), "no_change");
    world.assert_nothing_written().await;

    // A late or re-delivered ALARM, while the alarm is OK now: nothing moves.
    let stale = world.handle(event("ALARM")).await.expect("stale ALARM");
    assert_eq!(action_of(&stale), "no_change");
    assert_eq!(world.vip_targets().await, world.on_a());

    let failed = world
        .handle(as_levels(&world, event("ALARM")).await)
        .await
        .expect("ALARM");
    assert_eq!(action_of(&failed), "failed_over");
    assert_eq!(world.vip_targets().await, world.on_b());
}

#[tokio::test]
async fn given_an_instance_in_no_group_when_it_stops_then_one_read_and_no_write() {
    let world = given_the_two_az_seed().await;
    let stranger = topology::launch(&world.client, &world.seed.subnets[0], "stranger", &[])
        .await
        .unwrap();
    let event = sample_event(&world, "eventbridge-ec2-state-change-stopped.json")
        .to_string()
        .replace(&world.seed.server_a.instance_id, &stranger.instance_id);
    world.calls.clear();

    let response = world
        .handle(serde_json::from_str(&event).unwrap())
        .await
        .unwrap();

    assert_eq!(action_of(&response), "ignored");
    assert_eq!(world.calls.actions(), ["DescribeInstances"]);
    assert_eq!(world.vip_targets().await, world.on_a());
}

#[tokio::test]
async fn given_churn_of_instances_in_no_group_when_their_events_queue_then_they_cost_no_call_and_a_real_failure_is_served(
) {
    let world = given_the_two_az_seed().await;
    let a = &world.seed.server_a.instance_id;
    // A first event reads the member list; the warm container keeps it.
    let first = state_change("i-00000000000000001", "terminated", None);
    world.handle(first).await.unwrap();
    world.calls.clear();

    for i in 2..=50 {
        let stranger = format!("i-{i:017x}");
        let response = world
            .handle(state_change(&stranger, "terminated", None))
            .await
            .unwrap();
        assert_eq!(action_of(&response), "ignored");
    }
    assert!(
        world.calls.actions().is_empty(),
        "{:?}",
        world.calls.actions()
    );

    topology::stop(&world.client, a).await.unwrap();
    let response = world
        .handle(state_change(a, "stopped", None))
        .await
        .unwrap();
    assert_eq!(action_of(&response), "failed_over");
    assert_eq!(world.vip_targets().await, world.on_b());
}

#[tokio::test]
async fn given_no_member_list_cache_when_unrelated_events_arrive_then_each_reads_the_members() {
    let emulator = testkit::Emulator::start();
    let (client, _) = emulator.client();
    topology::seed_two_az(&client).await.unwrap();
    let config = vip_failover::Config {
        membership_ttl: std::time::Duration::ZERO,
        ..testkit::patient()
    };
    let (handler, calls) = emulator.handler_with(config);
    for i in 1..=3 {
        let event = state_change(&format!("i-{i:017x}"), "terminated", None);
        handler.handle(event, testkit::deadline()).await.unwrap();
    }
    assert_eq!(calls.actions(), ["DescribeInstances"; 3]);
}

/// Malformed or foreign events. Each must be refused before any EC2 call.
fn bad_events() -> Vec<(&'static str, Value)> {
    let alarm = |state: Value, dims: Value| {
        json!({"source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x",
               "accountId": "123456789012", "time": "2026-11-24T03:00:00.000+0000", "region": "us-east-1",
               "alarmData": {"alarmName": "x", "state": {"value": state, "reason": "r", "timestamp": "2026-11-24T03:00:00.000+0000"},
                              "configuration": {"metrics": [{"id": "m1", "returnData": true,
                                 "metricStat": {"metric": {"namespace": "AWS/EC2", "name": "StatusCheckFailed", "dimensions": dims}, "period": 60, "stat": "Maximum"}}]}}})
    };
    let bridge = |source: &str, detail_type: &str, detail: Value| {
        json!({"version": "0", "id": "1", "detail-type": detail_type, "source": source, "account": "123456789012",
               "time": "2026-11-24T03:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
    };
    vec![
        ("empty object", json!({})),
        ("null", Value::Null),
        ("array", json!([{"action": "failover", "group": "web"}])),
        ("string", json!("failover web")),
        ("number", json!(42)),
        ("boolean", json!(true)),
        (
            "unknown action",
            json!({"action": "explode", "group": "web"}),
        ),
        ("action not a string", json!({"action": 1, "group": "web"})),
        ("missing group", json!({"action": "failover"})),
        ("empty group", json!({"action": "failover", "group": ""})),
        (
            "group not a string",
            json!({"action": "status", "group": ["web"]}),
        ),
        (
            "bad target id",
            json!({"action": "failover", "group": "web", "target": "serverB"}),
        ),
        (
            "dry_run not a bool",
            json!({"action": "failover", "group": "web", "dry_run": "yes"}),
        ),
        (
            "unknown field",
            json!({"action": "failover", "group": "web", "force": true}),
        ),
        (
            "unknown detail-type",
            bridge(
                "aws.ec2",
                "EC2 Spot Instance Interruption Warning",
                json!({"instance-id": "i-0a1b2c3d4e5f60718"}),
            ),
        ),
        (
            "unknown source",
            bridge(
                "com.example",
                "CloudWatch Alarm State Change",
                json!({"alarmName": "x"}),
            ),
        ),
        (
            "state change without instance",
            bridge(
                "aws.ec2",
                "EC2 Instance State-change Notification",
                json!({"state": "stopped"}),
            ),
        ),
        (
            "state change with bad id",
            bridge(
                "aws.ec2",
                "EC2 Instance State-change Notification",
                json!({"instance-id": "web-1", "state": "stopped"}),
            ),
        ),
        (
            "alarm without instance",
            alarm(json!("ALARM"), json!({"AutoScalingGroupName": "web"})),
        ),
        (
            "alarm with bad state",
            alarm(
                json!("BROKEN"),
                json!({"InstanceId": "i-0a1b2c3d4e5f60718"}),
            ),
        ),
        (
            "alarm state not a string",
            alarm(json!(3), json!({"InstanceId": "i-0a1b2c3d4e5f60718"})),
        ),
        (
            "sns message not json",
            json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:1",
            "Sns": {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Subject": "s", "Message": "serverA is down",
                    "Timestamp": "2026-11-24T03:00:00.000Z", "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "x", "UnsubscribeURL": "x", "MessageAttributes": {}}}]}),
        ),
        (
            "s3 event",
            json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}),
        ),
        (
            "sqs event",
            json!({"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": "{\"action\":\"failover\",\"group\":\"web\"}"}]}),
        ),
        (
            "api gateway event",
            json!({"httpMethod": "POST", "path": "/failover", "body": "{}", "requestContext": {"stage": "prod"}}),
        ),
        (
            "oversized payload",
            json!({"action": "status", "group": "web", "padding": "x".repeat(300 * 1024)}),
        ),
    ]
}

#[tokio::test]
async fn given_bad_input_when_it_arrives_then_a_typed_error_explains_it_and_ec2_is_never_called() {
    let world = given_the_two_az_seed().await;
    let cases = bad_events();
    assert!(cases.len() >= 25);
    for (name, event) in cases {
        let error = world.handle(event).await.expect_err(name);
        assert_eq!(error.error_type(), "InvalidEvent", "{name}: {error}");
        assert!(!error.retryable(), "{name}");
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "InvalidEvent.NotRetryable", "{name}");
        assert!(
            diagnostic.error_message.len() > 20,
            "{name}: {}",
            diagnostic.error_message
        );
    }
    assert!(
        world.calls.actions().is_empty(),
        "{:?}",
        world.calls.actions()
    );
    assert_eq!(world.vip_targets().await, world.on_a());
}

#[tokio::test]
async fn given_valid_events_for_unknown_things_when_they_arrive_then_the_error_names_them_and_nothing_is_written(
) {
    let world = given_the_two_az_seed().await;
    let unknown_group = json!({"action": "failover", "group": "payments"});
    let error = world
        .handle(unknown_group)
        .await
        .expect_err("unknown group");
    assert_eq!(error.error_type(), "UnknownGroup");
    assert!(
        error.to_string().contains("vip-failover:group=payments"),
        "{error}"
    );

    let stranger_target =
        json!({"action": "failover", "group": "web", "target": "i-0123456789abcdef0"});
    let error = world
        .handle(stranger_target)
        .await
        .expect_err("not a member");
    assert!(error.to_string().contains("i-0123456789abcdef0"), "{error}");
    assert!(
        error.to_string().contains(&world.seed.server_b.instance_id),
        "{error}"
    );

    world.assert_nothing_written().await;
}

#[tokio::test]
async fn given_two_groups_when_the_schedule_fires_then_both_are_reconciled_on_one_read_of_the_alarm_levels(
) {
    let world = given_the_two_az_seed().await;
    let db_vip = "192.168.200.10/32";
    let mut db = Vec::new();
    for (subnet, name, priority) in [(0, "db-a", "10"), (1, "db-b", "20")] {
        let tags = [
            ("vip-failover:group", "db"),
            ("vip-failover:priority", priority),
            ("vip-failover:vip", db_vip),
        ];
        let server = topology::launch(&world.client, &world.seed.subnets[subnet], name, &tags)
            .await
            .unwrap();
        db.push(server);
    }
    topology::create_table(
        &world.client,
        &world.seed.vpc_id,
        &[("vip-failover:group", "db")],
        None,
    )
    .await
    .unwrap();
    world.calls.clear();

    let response = world
        .handle(sample_event(&world, "eventbridge-scheduled.json"))
        .await
        .expect("both groups reconciled");

    let groups = serde_json::to_value(response).unwrap()["groups"].clone();
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(world.calls.count("DescribeAlarms"), 1);
    // The db table tagged for its group got its VIP route, on db-a.
    let out = world
        .client
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:vip-failover:group")
                .values("db")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let routes = out.route_tables()[0].routes();
    let vip = routes
        .iter()
        .find(|r| r.destination_cidr_block() == Some(db_vip))
        .expect("the db VIP route");
    assert_eq!(vip.network_interface_id(), Some(db[0].eni_id.as_str()));
    assert_eq!(world.vip_targets().await, world.on_a());
}
