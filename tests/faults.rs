//! Safe under faults and races: throttling, errors, slow and dropped calls,
//! partial failure and concurrent invocations, against the emulator behind a
//! fault-injecting proxy.

use std::collections::BTreeSet;
use std::time::Duration;

use testkit::events::{self, alarm, state_change};
use testkit::fault_proxy::{Fault, Rules};
use testkit::patient;
use testkit::topology;
use testkit::world::{given_a_group_with_tables, run};
use vip_failover::Config;
use vip_failover::Error;

const TABLES: usize = 20;

/// Production retry settings with short timeouts, so a slow call times out fast.
fn impatient() -> Config {
    Config {
        attempt_timeout: Duration::from_millis(800),
        operation_timeout: Duration::from_secs(20),
        ..Config::default()
    }
}

#[tokio::test]
async fn given_30_percent_faults_when_20_tables_fail_over_then_every_table_moves() {
    let world = given_a_group_with_tables(TABLES).await;
    let rules = Rules {
        share: 0.3,
        kinds: vec![
            Fault::Throttle,
            Fault::ServerError,
            Fault::Slow(Duration::from_millis(1500)),
            Fault::Drop,
        ],
        max_consecutive: 3,
        seed: 7,
        ..Rules::default()
    };
    let (proxy, handler, _) = world.through_proxy(rules, impatient()).await;

    run(&handler, world.alarm_on_a().await)
        .await
        .expect("failover completes");

    let b = world.seed.server_b.eni_id.clone();
    assert_eq!(world.vip_spread().await, (BTreeSet::from([b]), TABLES));
    let seen = proxy.seen();
    let faulted = seen.iter().filter(|s| s.fault.is_some()).count();
    let share = faulted as f64 / seen.len() as f64;
    assert!(
        (0.15..0.45).contains(&share),
        "{faulted} of {} calls faulted",
        seen.len()
    );
    for kind in ["Throttle", "ServerError", "Slow", "Drop"] {
        assert!(
            seen.iter().any(|s| format!("{:?}", s.fault).contains(kind)),
            "no {kind} injected"
        );
    }
}

#[tokio::test]
async fn given_tables_failing_beyond_the_retry_budget_then_the_error_lists_exactly_them_and_a_rerun_converges(
) {
    let world = given_a_group_with_tables(TABLES).await;
    let broken: Vec<String> = vec![world.seed.tables[4].clone(), world.seed.tables[11].clone()];
    let rules = Rules {
        always_fail: broken
            .iter()
            .map(|t| {
                vec![
                    "Action=ReplaceRoute".to_string(),
                    format!("RouteTableId={t}"),
                ]
            })
            .collect(),
        ..Rules::default()
    };
    let (proxy, handler, _) = world.through_proxy(rules, impatient()).await;
    let event = world.alarm_on_a().await;

    let error = run(&handler, event.clone())
        .await
        .expect_err("partial failure");

    let Error::PartialFailure { report } = &error else {
        panic!("expected a partial failure, got {error}");
    };
    let failed = report.failed_routes();
    let named: BTreeSet<&str> = failed
        .iter()
        .map(|f| f.split(' ').next().unwrap())
        .collect();
    assert_eq!(named, broken.iter().map(String::as_str).collect());
    assert!(error.retryable());
    assert_eq!(error.error_type(), "PartialFailure");
    let (a, b) = (&world.seed.server_a.eni_id, &world.seed.server_b.eni_id);
    assert_eq!(
        world.vip_spread().await,
        (BTreeSet::from([a.clone(), b.clone()]), TABLES)
    );

    // EC2 recovers; Lambda's async retry delivers the same event again.
    proxy.set_rules(Rules::default());
    run(&handler, event).await.expect("the re-run converges");
    assert_eq!(
        world.vip_spread().await,
        (BTreeSet::from([b.clone()]), TABLES)
    );
}

#[tokio::test]
async fn given_a_partial_failure_when_the_schedule_reconciles_then_every_table_is_on_one_healthy_member(
) {
    let world = given_a_group_with_tables(TABLES).await;
    let rules = Rules {
        always_fail: vec![vec![
            "Action=ReplaceRoute".to_string(),
            format!("RouteTableId={}", world.seed.tables[0]),
        ]],
        ..Rules::default()
    };
    let (proxy, handler, _) = world.through_proxy(rules, impatient()).await;
    run(&handler, world.alarm_on_a().await)
        .await
        .expect_err("one table failed");
    proxy.set_rules(Rules::default());

    let schedule = events::scheduled();
    run(&handler, schedule).await.expect("reconcile");

    // The interrupted move is finished, not reverted to the preferred serverA.
    let b = world.seed.server_b.eni_id.clone();
    assert_eq!(world.vip_spread().await, (BTreeSet::from([b]), TABLES));
}

#[tokio::test]
async fn given_20_concurrent_invocations_for_one_failure_then_every_write_goes_to_the_same_healthy_target(
) {
    let world = given_a_group_with_tables(3).await;
    topology::stop(&world.client, &world.seed.server_a.instance_id)
        .await
        .unwrap();
    let (proxy, handler, _) = world.through_proxy(Rules::default(), patient()).await;
    let a = world.seed.server_a.instance_id.clone();

    let runs: Vec<_> = (0..20)
        .map(|i| {
            let handler = handler.clone();
            let event = if i % 2 == 0 {
                alarm(&a, "ALARM")
            } else {
                state_change(&a, "stopping", None)
            };
            tokio::spawn(async move { run(&handler, event).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().expect("every invocation succeeds");
    }

    let b = world.seed.server_b.eni_id.clone();
    assert_eq!(world.vip_spread().await, (BTreeSet::from([b.clone()]), 3));
    let route_writes: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.action.ends_with("Route"))
        .collect();
    assert!(!route_writes.is_empty());
    for write in &route_writes {
        assert!(
            write.body.contains(&format!("NetworkInterfaceId={b}")),
            "back-and-forth: {}",
            write.body
        );
    }
}

#[tokio::test]
async fn given_a_warm_container_and_route_tables_it_may_not_read_when_an_alarm_fires_then_the_denied_read_is_sent_once_and_nothing_written(
) {
    let world = given_a_group_with_tables(TABLES).await;
    let rules = Rules {
        always_deny: vec![vec!["Action=DescribeRouteTables".to_string()]],
        ..Rules::default()
    };
    let (proxy, handler, _) = world.through_proxy(rules, impatient()).await;
    // An event for an instance in no group fills the member list: warm from here.
    run(
        &handler,
        state_change("i-0123456789abcdef0", "stopped", None),
    )
    .await
    .expect("an instance in no group is ignored");
    let event = world.alarm_on_a().await;

    let error = run(&handler, event).await.expect_err("tables unreadable");

    assert!(
        error.to_string().contains("UnauthorizedOperation"),
        "{error}"
    );
    let reads = |action: &str| {
        let needle = format!("Action={action}");
        proxy
            .seen()
            .iter()
            .filter(|s| s.body.contains(&needle))
            .count()
    };
    // The read from the cached guess was for the right place: not sent again.
    assert_eq!(reads("DescribeRouteTables"), 1);
    assert_eq!(reads("ReplaceRoute") + reads("CreateTags"), 0);
}
