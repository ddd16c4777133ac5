//! The probe loop end to end (issue 16), against the emulator with the real
//! binaries in the test kit's local Lambda: the tick dispatches a round to the
//! probe function (asynchronous invoke), the probe function probes and returns,
//! its on-success destination delivers the invocation record to the failover
//! function, which decides and dispatches the next round.
//!
//! Emulated: Lambda (the test kit's local service: asynchronous invocation,
//! on-success destinations, the record's shape); the members' service (TCP
//! listeners on loopback addresses, which the emulated instances are given as
//! their private addresses: the VPC is 127.0.0.0/16 here). What is real: both
//! function binaries, their AWS calls (moto), the probe's TCP connections.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::lambda::{emulator_env, Function, Lambdas, Outcome};
use testkit::topology::{self, Server, GROUP, VIP};
use testkit::Emulator;
use tokio::net::TcpListener;

const PROBE: &str = "vip-failover-probe";
const FAILOVER: &str = "vip-failover";

/// A member whose "service" is a TCP listener on its own loopback address.
struct Member {
    server: Server,
    service: Option<tokio::task::JoinHandle<()>>,
}

/// Accepts and drops connections until aborted: a service that answers.
fn serve(listener: TcpListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    })
}

struct World {
    _emulator: Emulator,
    client: aws_sdk_ec2::Client,
    a: Member,
    b: Member,
    tables: Vec<String>,
}

/// Two members in a VPC of loopback addresses, each with a listener on the
/// same port, probed every 200 ms (down after 2 failures, up after 1 answer),
/// and three tables tagged for the group routing the VIP to serverA.
async fn given_a_probed_pair() -> World {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let first = TcpListener::bind("127.0.1.10:0").await.expect("bind A");
    let port = first.local_addr().unwrap().port();
    let second = TcpListener::bind(("127.0.2.10", port))
        .await
        .expect("bind B");
    let probe = format!("tcp:{port} interval=200ms timeout=150ms fall=2 rise=1");
    let vpc = topology::create_vpc(&client, "127.0.0.0/16").await.unwrap();
    let mut servers = Vec::new();
    for (name, priority, cidr, ip, az) in [
        ("serverA", "10", "127.0.1.0/24", "127.0.1.10", "us-east-1a"),
        ("serverB", "20", "127.0.2.0/24", "127.0.2.10", "us-east-1b"),
    ] {
        let subnet = topology::create_subnet(&client, &vpc, cidr, az)
            .await
            .unwrap();
        let mut tags = topology::member_tags(priority);
        tags.push(("vip-failover:probe", &probe));
        let server = topology::launch_at(&client, &subnet, name, &tags, Some(ip))
            .await
            .unwrap();
        servers.push(server);
    }
    let mut tables = Vec::new();
    for i in 0..3 {
        let name = format!("clients-{i}");
        let tags = [("Name", name.as_str()), ("vip-failover:group", GROUP)];
        let table = topology::create_table(&client, &vpc, &tags, None)
            .await
            .unwrap();
        topology::route_to_eni(&client, &table, VIP, &servers[0].eni_id)
            .await
            .unwrap();
        tables.push(table);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    World {
        _emulator: emulator,
        client,
        a: Member {
            server: a,
            service: Some(serve(first)),
        },
        b: Member {
            server: b,
            service: Some(serve(second)),
        },
        tables,
    }
}

impl World {
    /// The failover and probe functions, the probe's on-success destination
    /// being the failover function, rounds of 5 s.
    fn lambdas(&self) -> Lambdas {
        let url = self._emulator.url();
        Lambdas::start(vec![
            Function::new(FAILOVER, env!("CARGO_BIN_EXE_vip-failover"))
                .envs(emulator_env(&url))
                .env("PROBE_FUNCTION", PROBE)
                .env("PROBE_ROUND_SECONDS", "5")
                .timeout(Duration::from_secs(60)),
            Function::new(PROBE, env!("CARGO_BIN_EXE_vip-failover-probe"))
                .on_success(FAILOVER)
                .timeout(Duration::from_secs(60)),
        ])
    }

    async fn vip_on(&self, server: &Server) -> bool {
        let targets = topology::targets_of(&self.client, &self.tables_vpc().await, VIP)
            .await
            .unwrap();
        self.tables
            .iter()
            .all(|t| targets.get(t).map(String::as_str) == Some(server.eni_id.as_str()))
    }

    async fn tables_vpc(&self) -> String {
        let out = self
            .client
            .describe_route_tables()
            .route_table_ids(&self.tables[0])
            .send()
            .await
            .unwrap();
        out.route_tables()[0].vpc_id().unwrap().to_string()
    }
}

/// The records delivered to the failover function so far.
fn records(lambdas: &Lambdas) -> Vec<Value> {
    lambdas
        .get(PROBE)
        .deliveries()
        .into_iter()
        .map(|d| d.record)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_probed_pair_when_the_actives_service_dies_then_the_loop_moves_the_vip_to_the_standby(
) {
    let mut world = given_a_probed_pair().await;
    let lambdas = world.lambdas();
    let failover = lambdas.get(FAILOVER);

    // The tick starts the loop; the first round sees both members up.
    failover.invoke_async(r#"{"action": "probe"}"#);
    let probe = lambdas.get(PROBE);
    let first = probe.wait_for(Instant::now() + Duration::from_secs(60), |h| {
        !h.deliveries.is_empty()
    });
    assert!(first, "no round came back\n{}", failover.log_text());
    assert!(world.vip_on(&world.a.server).await);

    // serverA's service dies; its instance keeps running.
    let killed = Instant::now();
    world.a.service.take().unwrap().abort();
    let deadline = killed + Duration::from_secs(30);
    while !world.vip_on(&world.b.server).await {
        assert!(
            Instant::now() < deadline,
            "the VIP did not move\nfailover:\n{}\nprobe:\n{}",
            failover.log_text(),
            probe.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "kill -> VIP on serverB: {} ms",
        killed.elapsed().as_millis()
    );

    // The record that moved it named the probe evidence, and the loop goes on.
    let rounds_then = records(&lambdas).len();
    let more = probe.wait_for(Instant::now() + Duration::from_secs(30), |h| {
        h.deliveries.len() > rounds_then
    });
    assert!(
        more,
        "the loop stopped after the move\n{}",
        failover.log_text()
    );
    let delivered = records(&lambdas);
    let down = delivered.iter().any(|r| {
        r["responsePayload"]["vip_failover_probe_result"]["verdicts"]
            .as_array()
            .is_some_and(|v| {
                v.iter().any(|m| {
                    m["instance_id"] == world.a.server.instance_id.as_str() && m["up"] == false
                })
            })
    });
    assert!(down, "no round reported serverA down: {delivered:#?}");

    // Seen by people: `status` shows each member's last verdict, its age and
    // the reason.
    let ask = json!({"action": "status", "group": GROUP}).to_string();
    let answer = match failover.invoke(&ask) {
        Outcome::Response(body) => body,
        Outcome::Error(error) => panic!("status failed: {error}"),
    };
    let status: Value = serde_json::from_str(&answer).expect("a status document");
    let probe_of = |server: &Server| {
        status["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|m| m["instance_id"] == server.instance_id.as_str())
            .map(|m| m["probe"].clone())
            .expect("the member is listed")
    };
    let (a, b) = (probe_of(&world.a.server), probe_of(&world.b.server));
    assert_eq!(
        (&a["up"], &b["up"]),
        (&json!(false), &json!(true)),
        "{status:#}"
    );
    assert!(
        a["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{status:#}"
    );
    assert!(
        a["age_ms"].as_u64().is_some_and(|age| age < 30_000),
        "{status:#}"
    );
    drop(world.b.service.take());
}

/// A record anyone allowed to invoke the function could forge: one naming an
/// instance outside the group is refused, and nothing is read or written beyond
/// the member list.
#[tokio::test]
async fn given_a_forged_record_naming_a_non_member_then_it_is_refused_and_nothing_moves() {
    let world = given_a_probed_pair().await;
    let (handler, calls) = world._emulator.handler();
    let path = format!(
        "{}/tests/fixtures/destination-records/probe-success.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let verdicts = &mut record["responsePayload"]["vip_failover_probe_result"]["verdicts"];
    verdicts[0]["instance_id"] = world.a.server.instance_id.as_str().into();
    verdicts[1]["instance_id"] = "i-0123456789abcdef0".into();

    let error = handler
        .handle(record, testkit::deadline())
        .await
        .expect_err("a non-member is named");

    assert_eq!(error.diagnostic_type(), "InvalidEvent.NotRetryable");
    assert!(error.to_string().contains("i-0123456789abcdef0"), "{error}");
    calls.assert_no_writes();
    assert!(world.vip_on(&world.a.server).await);
}

/// Given a probed pair whose EC2 answers take 400 ms (the fault proxy's
/// latency; moto answers at once), when a round reports serverA down, then
/// the next round is dispatched as soon as the group is read, while the move's
/// writes are still running: the run goes on for more than half a round trip
/// after the dispatch. Before, the dispatch waited for the writes and their
/// verification, so a long move (500 tables take about 90 s) left the members
/// unprobed. Emulated: the probe function's Lambda (the kit's local service,
/// which only records the asynchronous invoke); the record is the reference
/// record with this world's members.
#[tokio::test]
async fn given_a_round_that_moves_the_vip_then_the_next_round_leaves_before_the_writes_end() {
    use testkit::fault_proxy::{FaultProxy, Rules};
    use testkit::lambda::LocalLambda;
    use vip_failover::aws::Aws;
    use vip_failover::handler::Handler;

    let world = given_a_probed_pair().await;
    let latency = Duration::from_millis(400);
    let rules = Rules {
        latency: Some(latency),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&world._emulator.addr(), rules).await;
    let probe = LocalLambda::start(Function::external(PROBE));
    let config = vip_failover::Config {
        probe_function: Some(PROBE.to_string()),
        ..testkit::patient()
    };
    let (ec2, log) = testkit::emulator::client_for(&proxy.url(), &config);
    let cloudwatch = testkit::cloudwatch::client_with(&world._emulator.url(), &config, &log);
    let aws = Aws::new(ec2, cloudwatch, &config).with_lambda(probe.client());
    let handler = Handler::new(aws, config);
    let record = round_record(&world, "5eed0001-7");

    let response = handler
        .handle(record, testkit::deadline())
        .await
        .expect("the round is decided");
    let returned = Instant::now();

    let answer = serde_json::to_value(&response).unwrap();
    assert_eq!(answer["next_round"], "5eed0001-8", "{answer:#}");
    assert!(world.vip_on(&world.b.server).await, "{answer:#}");
    let dispatched = probe
        .invocations()
        .first()
        .map(|i| i.accepted)
        .expect("the next round was sent to the probe function");
    // The writes and their verification take three round trips after the
    // dispatch; half of one is margin enough for a loaded machine, and
    // before, the dispatch came a fraction of a millisecond before the end.
    assert!(
        returned.duration_since(dispatched) >= latency / 2,
        "the dispatch came after the writes: {:?} before the end",
        returned.duration_since(dispatched)
    );
}

/// The reference probe record (tests/fixtures), for this world's members and
/// round `round`: serverA down (3 failures), serverB up, observed now.
fn round_record(world: &World, round: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/destination-records/probe-success.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let result = &mut record["responsePayload"]["vip_failover_probe_result"];
    result["round"] = round.into();
    result["ended_at_ms"] = now.into();
    for (verdict, member) in [(0, &world.a.server), (1, &world.b.server)] {
        let v = &mut result["verdicts"][verdict];
        v["instance_id"] = member.instance_id.as_str().into();
        v["at_ms"] = now.into();
    }
    record
}
