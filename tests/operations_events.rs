//! The "VIP Moved" event (issue 19), against the emulator: every move is
//! published on EventBridge for promotion and fencing hooks, and nothing else
//! is. A rule on the default bus matches the event as a deployment's hook
//! would (`{"source": ["vip-failover"], "detail-type": ["VIP Moved"]}`).
//!
//! Emulated: EC2 and CloudWatch by moto; EventBridge by moto, which delivers
//! matching events to an SQS target (its Lambda and SSM targets fail, so the
//! rule targets an SQS queue, read through the kit's query-API client).

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::types::Target;
use serde_json::{json, Value};
use testkit::events::{scheduled, state_change};
use testkit::sns::{self, Queue};
use testkit::topology::{self, GROUP};
use testkit::world::{given_the_two_az_seed, group_report, run, World};
use vip_failover::aws::Aws;
use vip_failover::handler::Handler;
use vip_failover::plan::Action;
use vip_failover::report::{Report, Response, RouteResult};
use vip_failover::Config;

/// The pattern a deployment's promotion hook uses.
const PATTERN: &str = r#"{"source": ["vip-failover"], "detail-type": ["VIP Moved"]}"#;

/// A deployed group (tables tagged), a queue its hook rule delivers to, and a
/// handler that publishes with `config`'s bus and source.
struct Hooked {
    world: World,
    handler: Handler,
    queue: Queue,
    sqs: sns::Client,
}

fn eventbridge(url: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// The handler as `main.rs` builds it (`Aws::from_env` adds the EventBridge
/// client), on the emulator.
fn publishing_handler(url: &str, config: Config) -> Handler {
    let (ec2, log) = testkit::client_for(url, &config);
    let cloudwatch = testkit::cloudwatch::client_with(url, &config, &log);
    let aws = Aws::new(ec2, cloudwatch, &config).with_events(eventbridge(url));
    Handler::new(aws, config)
}

/// The hook: a rule on the default bus with [`PATTERN`], targeting a queue.
async fn given_a_hooked_group(config: Config) -> Hooked {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;
    let url = world.emulator.url();
    let sqs = sns::Client::new(&world.emulator);
    let queue = sqs.create_queue("vip-moved-hook").expect("queue");
    let events = eventbridge(&url);
    events
        .put_rule()
        .name("vip-moved-promote")
        .event_pattern(PATTERN)
        .send()
        .await
        .expect("put the rule");
    let target = Target::builder()
        .id("hook")
        .arn(&queue.arn)
        .build()
        .expect("target");
    events
        .put_targets()
        .rule("vip-moved-promote")
        .targets(target)
        .send()
        .await
        .expect("put the target");
    let handler = publishing_handler(&url, config);
    Hooked {
        world,
        handler,
        queue,
        sqs,
    }
}

impl Hooked {
    async fn handle(&self, event: Value) -> Response {
        run(&self.handler, event).await.expect("the run succeeds")
    }

    /// The events delivered since the last call.
    fn delivered(&self) -> Vec<Value> {
        let bodies = self.sqs.receive_all(&self.queue).expect("receive");
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}")))
            .collect()
    }

    #[track_caller]
    fn assert_nothing_published(&self, after: &str) {
        let delivered = self.delivered();
        assert!(delivered.is_empty(), "{after} published {delivered:#?}");
    }
}

/// The written table ids of a report, sorted.
fn written_tables(report: &Report) -> Vec<String> {
    let mut tables: Vec<String> = report
        .route_tables
        .iter()
        .filter(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced))
        .map(|r| r.route_table_id.clone())
        .collect();
    tables.sort();
    tables
}

/// Given a hook rule on the default bus, when a dry run and a reconcile with
/// nothing to do run, then nothing is published; when serverA stops, then
/// exactly one "VIP Moved" event arrives, its detail saying what the report
/// says: group, from, to, trigger, reason, the tables written, and a time.
#[tokio::test]
async fn given_a_hook_rule_when_the_holder_fails_then_exactly_one_vip_moved_event_arrives() {
    let hooked = given_a_hooked_group(testkit::patient()).await;
    let world = &hooked.world;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let dry = json!({"action": "failover", "group": GROUP, "dry_run": true});
    let plan = group_report(hooked.handle(dry).await);
    assert_eq!((plan.action, plan.dry_run), (Action::FailedOver, true));
    hooked.assert_nothing_published("a dry run");
    let Response::Reconcile { changed, .. } = hooked.handle(scheduled()).await else {
        panic!("a reconcile")
    };
    assert!(!changed);
    hooked.assert_nothing_published("a reconcile with nothing to do");

    let started = chrono::Utc::now();
    topology::stop(&world.client, &a.instance_id).await.unwrap();
    let report = group_report(
        hooked
            .handle(state_change(&a.instance_id, "stopped", None))
            .await,
    );
    assert_eq!(report.action, Action::FailedOver);

    let delivered = hooked.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let event = &delivered[0];
    assert_eq!(event["source"], "vip-failover", "{event:#}");
    assert_eq!(event["detail-type"], "VIP Moved", "{event:#}");
    let detail = &event["detail"];
    assert_eq!(detail["group"], GROUP);
    assert_eq!(detail["from"]["instance_id"], a.instance_id.as_str());
    assert_eq!(detail["from"]["eni_id"], a.eni_id.as_str());
    assert_eq!(detail["to"]["instance_id"], b.instance_id.as_str());
    assert_eq!(detail["to"]["eni_id"], b.eni_id.as_str());
    assert_eq!(detail["trigger"], report.trigger.as_str());
    assert!(
        report.trigger.contains(&a.instance_id),
        "{}",
        report.trigger
    );
    assert_eq!(detail["reason"], report.reason.as_str());
    let mut tables = world.seed.tables.clone();
    tables.sort();
    assert_eq!(written_tables(&report), tables);
    let mut published: Vec<String> = serde_json::from_value(detail["tables"].clone()).unwrap();
    published.sort();
    assert_eq!(published, tables, "{detail:#}");
    let time = detail["time"].as_str().expect("a time");
    let time = chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
    assert!(time >= started && time <= chrono::Utc::now(), "{time}");
    assert!(
        !report.warnings.iter().any(|w| w.contains("VIP Moved")),
        "{:?}",
        report.warnings
    );
}

/// Given a hook rule, when one table is repaired (the holder keeps the VIP),
/// then nothing is published; an operator's switchover then publishes one
/// event, naming every table it wrote.
#[tokio::test]
async fn given_a_hook_rule_when_a_stray_table_is_repaired_then_nothing_is_published() {
    let hooked = given_a_hooked_group(testkit::patient()).await;
    let world = &hooked.world;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    world
        .vip_route_by_hand(&world.seed.tables[0], &b.eni_id)
        .await;

    let Response::Reconcile { groups, .. } = hooked.handle(scheduled()).await else {
        panic!("a reconcile")
    };
    assert_eq!(groups[0].action, Action::Repaired, "{groups:?}");
    assert_eq!(groups[0].written_routes(), 1);
    assert_eq!(world.vip_targets().await, world.on_a());
    hooked.assert_nothing_published("a repair");

    let switchover = json!({"action": "failover", "group": GROUP, "target": b.instance_id});
    let report = group_report(hooked.handle(switchover).await);

    let delivered = hooked.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let detail = &delivered[0]["detail"];
    assert_eq!(detail["from"]["instance_id"], a.instance_id.as_str());
    assert_eq!(detail["to"]["instance_id"], b.instance_id.as_str());
    assert_eq!(detail["trigger"], report.trigger.as_str());
    assert_eq!(detail["tables"].as_array().map(Vec::len), Some(3));
}

/// Given EVENT_BUS naming a bus that does not exist, when serverA stops, then
/// the move succeeds and the report warns that the event was not published.
#[tokio::test]
async fn given_a_missing_event_bus_when_the_holder_fails_then_the_move_succeeds_with_a_warning() {
    let config = Config {
        event_bus: Some("no-such-bus".to_string()),
        ..testkit::patient()
    };
    let hooked = given_a_hooked_group(config).await;
    let world = &hooked.world;
    let a = &world.seed.server_a;
    topology::stop(&world.client, &a.instance_id).await.unwrap();

    let report = group_report(
        hooked
            .handle(state_change(&a.instance_id, "stopped", None))
            .await,
    );

    assert_eq!(report.action, Action::FailedOver);
    assert_eq!(report.written_routes(), 3);
    assert_eq!(world.vip_targets().await, world.on_b());
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("VIP Moved"))
        .unwrap_or_else(|| panic!("no warning: {:?}", report.warnings));
    assert!(warning.contains("no-such-bus"), "{warning}");
    assert!(
        !warning.contains("SdkBody") && !warning.contains('\n'),
        "{warning}"
    );
    hooked.assert_nothing_published("a publish to another bus");
}
