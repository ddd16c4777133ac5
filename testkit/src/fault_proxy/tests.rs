//! The proxy's modes against a real emulator, through the SDK.

use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, InstanceStateName, RouteState, StatusType, SummaryStatus};
use aws_sdk_ec2::Client;
use vip_failover::Config;

use super::*;
use crate::topology::{self, Seed, VIP};
use crate::{client_for, patient, CallLog, Emulator};

/// No retries: every call the test makes is one call on the wire.
fn one_attempt() -> Config {
    Config {
        max_attempts: 1,
        ..patient()
    }
}

async fn seeded() -> (Emulator, Client, Seed) {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    (emulator, client, seed)
}

async fn through(emulator: &Emulator, rules: Rules) -> (FaultProxy, Client, CallLog) {
    let proxy = FaultProxy::start(&emulator.addr(), rules).await;
    let (client, calls) = client_for(&proxy.url(), &one_attempt());
    (proxy, client, calls)
}

async fn replace_vip_route(client: &Client, seed: &Seed) -> Result<(), String> {
    client
        .replace_route()
        .route_table_id(&seed.tables[0])
        .destination_cidr_block(VIP)
        .network_interface_id(&seed.server_a.eni_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            e.into_service_error()
                .code()
                .unwrap_or("no code")
                .to_string()
        })
}

#[test]
fn documented_buckets_follow_the_aws_page_and_only_throttle_ec2() {
    let buckets = TokenBuckets::documented();
    let ec2 = |query: &str| format!("{query}&Version=2016-11-15");
    let bucket = |action: &str, body: &str| buckets.bucket_for(action, &ec2(body));
    assert_eq!(
        bucket("ReplaceRoute", "Action=ReplaceRoute&RouteTableId=rtb-1"),
        Some(("ReplaceRoute".into(), Bucket::new(50, 5)))
    );
    assert_eq!(
        bucket("CreateRoute", "Action=CreateRoute").map(|b| b.1),
        Some(Bucket::new(50, 5))
    );
    assert_eq!(
        bucket("CreateTags", "Action=CreateTags&ResourceId.1=rtb-1").map(|b| b.1),
        Some(Bucket::new(100, 10))
    );
    // Unfiltered, unpaginated DescribeInstances has a bucket of its own.
    assert_eq!(
        bucket(
            "DescribeInstances",
            "Action=DescribeInstances&InstanceId.1=i-1"
        ),
        Some(("DescribeInstances (unfiltered)".into(), Bucket::new(50, 10)))
    );
    assert_eq!(
        bucket(
            "DescribeInstances",
            "Action=DescribeInstances&Filter.1.Name=tag%3Avip-failover%3Agroup&Filter.1.Value.1=web"
        ),
        Some(("DescribeInstances".into(), Bucket::new(100, 20)))
    );
    assert_eq!(
        bucket(
            "DescribeInstanceStatus",
            "Action=DescribeInstanceStatus&MaxResults=100"
        ),
        Some(("DescribeInstanceStatus".into(), Bucket::new(100, 20)))
    );
    assert_eq!(
        bucket(
            "DescribeInstanceStatus",
            "Action=DescribeInstanceStatus&IncludeAllInstances=true"
        )
        .map(|b| b.1),
        Some(Bucket::new(50, 10))
    );
    assert_eq!(
        bucket(
            "DescribeRouteTables",
            "Action=DescribeRouteTables&NextToken=abc"
        )
        .map(|b| b.1),
        Some(Bucket::new(100, 20))
    );
    assert_eq!(
        bucket(
            "DescribeRouteTables",
            "Action=DescribeRouteTables&RouteTableId.1=rtb-1"
        )
        .map(|b| b.1),
        Some(Bucket::new(100, 20))
    );
    assert_eq!(bucket("RunInstances", "Action=RunInstances"), None);
    // CloudWatch's DescribeAlarms is not EC2's.
    assert_eq!(
        buckets.bucket_for(
            "DescribeAlarms",
            "Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=web"
        ),
        None
    );
}

#[tokio::test]
async fn an_empty_bucket_answers_request_limit_exceeded_and_refills_once_a_second() {
    let (emulator, _, seed) = seeded().await;
    let buckets = TokenBuckets::default().with("ReplaceRoute", Bucket::new(5, 2));
    let (proxy, client, calls) = through(
        &emulator,
        Rules {
            buckets: Some(buckets),
            ..Rules::default()
        },
    )
    .await;

    let mut burst = Vec::new();
    for _ in 0..8 {
        burst.push(replace_vip_route(&client, &seed).await);
    }
    let started = proxy.stats()["ReplaceRoute"].accepted_at[0];
    let limited = Err("RequestLimitExceeded".to_string());
    assert_eq!(burst, [vec![Ok(()); 5], vec![limited.clone(); 3]].concat());
    let statuses: Vec<Option<u16>> = calls.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [vec![Some(200); 5], vec![Some(503); 3]].concat());
    // Other actions have no bucket.
    for _ in 0..10 {
        client.describe_vpcs().send().await.expect("not throttled");
    }

    // One tick: two tokens, whatever the throttled calls did meanwhile.
    tokio::time::sleep_until((started + Duration::from_millis(1100)).into()).await;
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(replace_vip_route(&client, &seed).await);
    }
    assert_eq!(after, vec![Ok(()), Ok(()), limited]);

    let stats = &proxy.stats()["ReplaceRoute"];
    assert_eq!((stats.accepted, stats.throttled), (7, 4));
    assert_eq!(stats.accepted_within(Duration::from_millis(999)), 5);
    assert_eq!(proxy.stats()["DescribeVpcs"].throttled, 0);
    assert_eq!(proxy.throttled(), 4);
    assert_eq!(
        proxy.seen().iter().filter(|s| s.rate_limited).count(),
        4,
        "throttled calls are seen too"
    );
}

#[tokio::test]
async fn a_burst_under_the_documented_buckets_gets_no_more_than_50_plus_5_per_second() {
    let (emulator, _, seed) = seeded().await;
    let (proxy, client, _) = through(
        &emulator,
        Rules {
            buckets: Some(TokenBuckets::documented()),
            ..Rules::default()
        },
    )
    .await;

    let started = Instant::now();
    let writes: Vec<_> = (0..70)
        .map(|_| {
            let (client, seed) = (client.clone(), seed.clone());
            tokio::spawn(async move { replace_vip_route(&client, &seed).await })
        })
        .collect();
    let mut ok = 0;
    for write in writes {
        match write.await.unwrap() {
            Ok(()) => ok += 1,
            Err(code) => assert_eq!(code, "RequestLimitExceeded"),
        }
    }
    let elapsed = started.elapsed();

    let stats = &proxy.stats()["ReplaceRoute"];
    assert_eq!(stats.accepted, ok);
    assert_eq!(stats.accepted + stats.throttled, 70);
    let ticks = elapsed.as_secs() as usize;
    assert!(
        (50..=50 + 5 * ticks).contains(&ok),
        "{ok} accepted in {elapsed:?}"
    );
    for t in 0..=ticks {
        let by = Duration::from_secs(t as u64) + Duration::from_millis(999);
        assert!(stats.accepted_within(by) <= 50 + 5 * t);
    }
    // CloudWatch through the same proxy: never throttled.
    let cloudwatch = crate::cloudwatch::client_for(&proxy.url());
    for _ in 0..3 {
        cloudwatch
            .describe_alarms()
            .alarm_name_prefix("web")
            .send()
            .await
            .expect("CloudWatch is not throttled");
    }
    assert_eq!(proxy.stats()["DescribeAlarms"].throttled, 0);
}

#[tokio::test]
async fn with_a_fixed_latency_every_call_takes_that_long_and_calls_overlap() {
    let emulator = Emulator::start();
    let latency = Duration::from_millis(400);
    let (proxy, client, calls) = through(
        &emulator,
        Rules {
            latency: Some(latency),
            buckets: Some(TokenBuckets::default().with_describe(Bucket::new(6, 1))),
            ..Rules::default()
        },
    )
    .await;

    // moto loads an action's handler on its first call: not part of the test.
    let (direct, _) = emulator.client();
    direct.describe_vpcs().send().await.expect("warm up");

    let runs: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.describe_vpcs().send().await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for run in runs {
        ok += usize::from(run.await.unwrap());
    }

    // Throttled answers wait out the latency too.
    assert_eq!((ok, proxy.throttled()), (6, 2));
    let log = calls.calls();
    assert_eq!(log.len(), 8);
    for call in &log {
        let took = call.duration().expect("answered");
        assert!(took >= latency, "{call:?} took {took:?}");
    }
    // Concurrent, not one after the other: all eight were in flight at once.
    let last_sent = log.iter().map(|c| c.sent).max().unwrap();
    let first_answer = log.iter().filter_map(|c| c.answered).min().unwrap();
    assert!(last_sent < first_answer, "{log:#?}");
}

#[tokio::test]
async fn status_check_rewrite_reports_the_chosen_checks_for_one_instance() {
    let (emulator, _, seed) = seeded().await;
    let a = seed.server_a.instance_id.clone();
    let (_proxy, client, _) = through(
        &emulator,
        Rules {
            rewrites: vec![Rewrite::instance_status(
                &a,
                "initializing",
                "impaired",
                Some("insufficient-data"),
            )],
            ..Rules::default()
        },
    )
    .await;

    let out = client
        .describe_instance_status()
        .include_all_instances(true)
        .send()
        .await
        .expect("describe");

    let statuses = out.instance_statuses();
    assert_eq!(statuses.len(), 2);
    let of = |id: &str| {
        statuses
            .iter()
            .find(|s| s.instance_id() == Some(id))
            .expect(id)
    };
    let status_a = of(&a);
    let instance = status_a.instance_status().unwrap();
    assert_eq!(instance.status(), Some(&SummaryStatus::Initializing));
    assert_eq!(
        instance.details()[0].status(),
        Some(&StatusType::Initializing)
    );
    let system = status_a.system_status().unwrap();
    assert_eq!(system.status(), Some(&SummaryStatus::Impaired));
    assert_eq!(system.details()[0].status(), Some(&StatusType::Failed));
    assert!(system.details()[0].impaired_since().is_some());
    let ebs = status_a.attached_ebs_status().expect("attached EBS status");
    assert_eq!(ebs.status(), Some(&SummaryStatus::InsufficientData));
    assert_eq!(
        ebs.details()[0].status(),
        Some(&StatusType::InsufficientData)
    );
    assert_eq!(
        ebs.details()[0].name(),
        Some(&aws_sdk_ec2::types::StatusName::Reachability)
    );
    assert_eq!(
        status_a.instance_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );

    let status_b = of(&seed.server_b.instance_id);
    assert_eq!(
        status_b.instance_status().and_then(|s| s.status()),
        Some(&SummaryStatus::Ok)
    );
    assert_eq!(
        status_b.system_status().and_then(|s| s.status()),
        Some(&SummaryStatus::Ok)
    );
    assert!(status_b.attached_ebs_status().is_none());
}

#[tokio::test]
async fn terminated_rewrite_shows_an_instance_without_network() {
    let (emulator, _, seed) = seeded().await;
    let a = seed.server_a.instance_id.clone();
    let (_proxy, client, _) = through(
        &emulator,
        Rules {
            rewrites: vec![Rewrite::terminated_instance(&a)],
            ..Rules::default()
        },
    )
    .await;

    let out = client
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:vip-failover:group")
                .values("web")
                .build(),
        )
        .send()
        .await
        .expect("describe");

    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 2);
    let terminated = instances
        .iter()
        .find(|i| i.instance_id() == Some(a.as_str()))
        .unwrap();
    assert_eq!(
        terminated.state().and_then(|s| s.name()),
        Some(&InstanceStateName::Terminated)
    );
    assert_eq!(terminated.state().and_then(|s| s.code()), Some(48));
    assert_eq!(terminated.vpc_id(), None);
    assert_eq!(terminated.subnet_id(), None);
    assert_eq!(terminated.private_ip_address(), None);
    assert!(terminated.network_interfaces().is_empty());
    assert_eq!(
        terminated.state_reason().and_then(|r| r.code()),
        Some("Client.UserInitiatedShutdown")
    );
    // Still tagged, as a terminated instance is for a while.
    assert!(terminated
        .tags()
        .iter()
        .any(|t| t.key() == Some("vip-failover:group")));

    let b = instances
        .iter()
        .find(|i| i.instance_id() == Some(seed.server_b.instance_id.as_str()))
        .unwrap();
    assert_eq!(
        b.state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );
    assert_eq!(b.vpc_id(), Some(seed.vpc_id.as_str()));
    assert_eq!(
        b.network_interfaces()[0].network_interface_id(),
        Some(seed.server_b.eni_id.as_str())
    );
}

#[tokio::test]
async fn blackhole_rewrite_shows_one_route_of_one_table_as_blackhole() {
    let (emulator, _, seed) = seeded().await;
    let (_proxy, client, _) = through(
        &emulator,
        Rules {
            rewrites: vec![Rewrite::blackhole_route(&seed.tables[1], VIP)],
            ..Rules::default()
        },
    )
    .await;

    let out = client
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&seed.vpc_id)
                .build(),
        )
        .send()
        .await
        .expect("describe");

    let mut blackholes = Vec::new();
    for table in out.route_tables() {
        for route in table.routes() {
            if route.state() == Some(&RouteState::Blackhole) {
                blackholes.push((
                    table.route_table_id().unwrap().to_string(),
                    route.destination_cidr_block().unwrap().to_string(),
                    route.network_interface_id().unwrap().to_string(),
                ));
            } else {
                assert_eq!(route.state(), Some(&RouteState::Active), "{route:?}");
            }
        }
    }
    assert_eq!(
        blackholes,
        vec![(
            seed.tables[1].clone(),
            VIP.to_string(),
            seed.server_a.eni_id.clone()
        )]
    );
}
