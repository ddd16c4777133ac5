//! Hundreds of route tables at EC2's own speed limit, against the emulator behind
//! a proxy that throttles as EC2 documents it (a token bucket per action: 50
//! ReplaceRoute at once, then 5 per second): given a group with many tables, when
//! its active member fails, then the move finishes within the invocation's
//! deadline or is finished by the next one, always towards the same member, even
//! when a run is killed or its move record is throttled.
//!
//! Emulated: EC2's throttling (the proxy's token buckets). The hundreds-of-tables
//! scenarios run on a clock [`SPEED`] times faster on both sides (the proxy's
//! refills and the function's pacing, `EC2_RATE_LIMITS`): the same bursts, the
//! same refills per tick, the same deadline arithmetic, in a quarter of the wall
//! time. How long EC2's real rates take is `make bench`'s to measure.

use std::process::Stdio;
use std::time::Duration;

use aws_sdk_ec2::types::Tag;

use testkit::events::state_change;
use testkit::fault_proxy::{FaultProxy, Rules, TokenBuckets};
use testkit::topology;
use testkit::world::{given_a_group_with_tables, group_report, World};
use vip_failover::aws::pace::RateLimits;
use vip_failover::handler::Handler;
use vip_failover::Config;

/// How much faster than EC2's second the compressed clock runs.
const SPEED: u32 = 4;

/// `total` tables on serverA, serverA stopped, and a patient handler with
/// `config` whose calls go through a proxy applying `rules`.
async fn given_a_stopped_active(
    total: usize,
    rules: Rules,
    config: Config,
) -> (World, FaultProxy, Handler) {
    let world = given_a_group_with_tables(total).await;
    topology::stop(&world.client, &world.seed.server_a.instance_id)
        .await
        .unwrap();
    let (proxy, handler, _) = world.through_proxy(rules, config).await;
    (world, proxy, handler)
}

fn throttled_like_ec2() -> Rules {
    Rules {
        buckets: Some(TokenBuckets::documented()),
        ..Rules::default()
    }
}

/// EC2's documented buckets, refilled [`SPEED`] times a second.
fn throttled_like_ec2_compressed() -> Rules {
    Rules {
        buckets: Some(TokenBuckets::documented().compressed(SPEED)),
        ..Rules::default()
    }
}

/// A patient function pacing its writes [`SPEED`] times faster than EC2's
/// documented rates, with the same bursts.
fn paced_compressed() -> Config {
    let limits = format!(
        "ReplaceRoute=50/{r},CreateRoute=50/{r},CreateTags=100/{t}",
        r = 5 * SPEED,
        t = 10 * SPEED
    );
    Config {
        rate_limits: RateLimits::parse(&limits).expect("valid limits"),
        ..testkit::patient()
    }
}

/// Every route write the proxy let through named `eni`: nothing ever went back.
fn every_write_went_to(proxy: &FaultProxy, eni: &str) {
    let writes: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.action.ends_with("Route") && s.fault.is_none())
        .collect();
    assert!(!writes.is_empty());
    for write in writes {
        assert!(
            write.body.contains(&format!("NetworkInterfaceId={eni}")),
            "a table moved elsewhere: {}",
            write.body
        );
    }
}

#[tokio::test]
async fn given_250_tables_under_ec2s_throttling_when_the_active_stops_then_one_invocation_moves_them_all(
) {
    let (world, proxy, handler) =
        given_a_stopped_active(250, throttled_like_ec2_compressed(), paced_compressed()).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    // 200 writes past the burst need 40 s at 5 per second (10 s compressed); the
    // deadline leaves room for the reads, the record, the verify and the reserve.
    let deadline = handler.deadline_after(Duration::from_secs(60));
    let response = handler
        .handle(state_change(&a.instance_id, "stopped", None), deadline)
        .await
        .expect("one invocation is enough");

    let report = group_report(response);
    assert_eq!(report.written_routes(), 250);
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
    every_write_went_to(&proxy, &b.eni_id);
    // Paced, not flooding: EC2 refused only a few writes, not hundreds.
    let throttled = proxy.stats()["ReplaceRoute"].throttled;
    assert!(throttled < 25, "{throttled} ReplaceRoute calls throttled");
}

#[tokio::test]
async fn given_500_tables_and_a_deadline_too_short_for_them_then_the_run_reports_what_is_pending_and_the_retry_finishes_it(
) {
    let (world, proxy, handler) =
        given_a_stopped_active(500, throttled_like_ec2_compressed(), paced_compressed()).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let event = state_change(&a.instance_id, "stopped", None);

    // 450 writes past the burst need 90 s at 5 per second, 22.5 s compressed.
    let first = handler
        .handle(
            event.clone(),
            handler.deadline_after(Duration::from_secs(12)),
        )
        .await
        .expect_err("500 tables need more than 12 s compressed");

    assert_eq!(first.diagnostic_type(), "DeadlineReached.Retryable");
    let report = first.report().expect("the report says what was done");
    let (written, pending) = (report.written_routes(), report.pending_routes().len());
    assert!(
        written > 100 && pending > 100,
        "{written} written, {pending} pending"
    );
    assert_eq!(written + pending, 500, "every table is accounted for");
    assert!(
        report.failed_routes().is_empty(),
        "{:?}",
        report.failed_routes()
    );

    // Lambda's asynchronous retry delivers the same event again.
    let second = handler
        .handle(event, handler.deadline_after(Duration::from_secs(120)))
        .await
        .expect("the retry finishes the move");
    let report = group_report(second);
    assert_eq!(report.written_routes(), pending);
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
    every_write_went_to(&proxy, &b.eni_id);
}

#[tokio::test]
async fn given_a_switchover_killed_a_third_of_the_way_then_the_next_run_finishes_it_and_never_reverts(
) {
    let world = given_a_group_with_tables(150).await;
    let b = &world.seed.server_b;
    // AWS-like round trips, and the documented buckets: the burst of 50 goes out
    // at once, the rest at 5 per second, so the run is killed mid-move.
    let proxy = world
        .proxy(Rules {
            latency: Some(Duration::from_millis(100)),
            ..throttled_like_ec2()
        })
        .await;
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_vip-failover-cli"))
        .args([
            "switchover",
            "--group",
            "web",
            "--to",
            &b.instance_id,
            "--yes",
        ])
        .env_clear()
        .env("AWS_ENDPOINT_URL", proxy.url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the CLI");
    let accepted = || proxy.stats().get("ReplaceRoute").map_or(0, |s| s.accepted);
    while accepted() < 55 {
        assert!(cli.try_wait().unwrap().is_none(), "the CLI ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cli.start_kill().expect("SIGKILL");
    cli.wait().await.unwrap();
    let (split, _) = world.vip_spread().await;
    assert_eq!(split.len(), 2, "killed mid-move: {split:?}");

    // serverA is healthy and still holds most tables; only the move record,
    // written before the first route write, says where the VIP was going.
    let (handler, _) = world.emulator.handler();
    handler
        .handle(testkit::events::scheduled(), testkit::deadline())
        .await
        .expect("reconcile");

    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
    every_write_went_to(&proxy, &b.eni_id);
}

/// An operator's switchover of the healthy serverA to serverB: a move for
/// preference, which waits for its record.
fn switch_to(b: &str) -> serde_json::Value {
    serde_json::json!({"action": "failover", "group": topology::GROUP, "target": b})
}

#[tokio::test]
async fn given_a_move_for_preference_whose_record_is_throttled_until_the_deadline_then_nothing_is_written_and_a_retry_moves(
) {
    let rules = Rules {
        always_throttle: vec![vec!["Action=CreateTags".to_string()]],
        ..Rules::default()
    };
    let world = given_a_group_with_tables(20).await;
    let (proxy, handler, _) = world.through_proxy(rules, testkit::patient()).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let error = handler
        .handle(
            switch_to(&b.instance_id),
            handler.deadline_after(Duration::from_secs(8)),
        )
        .await
        .expect_err("no record, no write");

    assert_eq!(error.diagnostic_type(), "MoveNotRecorded.Retryable");
    let report = error.report().unwrap();
    assert_eq!(report.pending_routes().len(), 20);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("could not be recorded")));
    assert_eq!(world.vip_spread().await, world.all_on(&a.eni_id));
    let route_writes = proxy
        .seen()
        .iter()
        .filter(|s| s.action.ends_with("Route"))
        .count();
    assert_eq!(
        route_writes, 0,
        "a route was written before its move was recorded"
    );

    proxy.set_rules(Rules::default());
    handler
        .handle(switch_to(&b.instance_id), testkit::deadline())
        .await
        .expect("the retry records and moves");
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
}

#[tokio::test]
async fn given_a_failed_holder_whose_move_record_is_throttled_until_the_deadline_then_the_move_goes_ahead_unrecorded(
) {
    let rules = Rules {
        always_throttle: vec![vec!["Action=CreateTags".to_string()]],
        ..Rules::default()
    };
    let (world, _proxy, handler) = given_a_stopped_active(20, rules, testkit::patient()).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let report = group_report(
        handler
            .handle(
                state_change(&a.instance_id, "stopped", None),
                handler.deadline_after(Duration::from_secs(20)),
            )
            .await
            .expect("a move off a failed member never waits for bookkeeping"),
    );

    assert_eq!(report.written_routes(), 20);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("went ahead anyway")),
        "{:?}",
        report.warnings
    );
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
}

#[tokio::test]
async fn given_a_move_record_failing_beyond_its_retries_then_a_move_for_preference_waits_and_one_off_a_failed_holder_goes_ahead(
) {
    let rules = Rules {
        always_fail: vec![vec!["Action=CreateTags".to_string()]],
        ..Rules::default()
    };
    let world = given_a_group_with_tables(20).await;
    let (proxy, handler, _) = world.through_proxy(rules, testkit::patient()).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    let error = handler
        .handle(switch_to(&b.instance_id), testkit::deadline())
        .await
        .expect_err("a move for preference is not started unrecorded");
    assert_eq!(error.diagnostic_type(), "MoveNotRecorded.Retryable");
    assert!(error.to_string().contains("InternalError"), "{error}");
    assert_eq!(world.vip_spread().await, world.all_on(&a.eni_id));
    assert!(
        !proxy.seen().iter().any(|s| s.action.ends_with("Route")),
        "a route was written before its move was recorded"
    );

    topology::stop(&world.client, &a.instance_id).await.unwrap();
    handler
        .handle(
            state_change(&a.instance_id, "stopped", None),
            testkit::deadline(),
        )
        .await
        .expect("off a failed member, the move goes ahead");
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
}

#[tokio::test]
async fn given_an_untagged_table_outside_the_iam_scope_then_the_move_is_recorded_on_the_tagged_tables_and_goes_ahead(
) {
    let world = testkit::world::given_a_group_with_tables(6).await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let (tagged, untagged) = world.seed.tables.split_at(5);
    world
        .client
        .create_tags()
        .set_resources(Some(tagged.to_vec()))
        .tags(
            Tag::builder()
                .key("vip-failover:group")
                .value("web")
                .build(),
        )
        .send()
        .await
        .unwrap();
    topology::stop(&world.client, &a.instance_id).await.unwrap();
    // IAM lets the function tag only the tables that carry the group tag.
    let rules = Rules {
        always_deny: vec![vec![
            "Action=CreateTags".to_string(),
            format!("={}", untagged[0]),
        ]],
        ..Rules::default()
    };
    let (_proxy, handler, _) = world.through_proxy(rules, testkit::patient()).await;

    let report = group_report(
        handler
            .handle(
                state_change(&a.instance_id, "stopped", None),
                testkit::deadline(),
            )
            .await
            .expect("recorded on the tagged tables"),
    );

    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.contains("could not be recorded")),
        "{:?}",
        report.warnings
    );
    let out = world
        .client
        .describe_route_tables()
        .set_route_table_ids(Some(world.seed.tables.clone()))
        .send()
        .await
        .unwrap();
    for table in out.route_tables() {
        let id = table.route_table_id().unwrap();
        let recorded = table
            .tags()
            .iter()
            .any(|t| t.key() == Some("vip-failover:last-move:web"));
        assert_eq!(recorded, id != untagged[0], "{id}");
    }
}
