//! `make bench` (issue 6): how fast a failover is, against what floor, with how many
//! EC2 calls, how fast the function starts, and how it compares with the AWS CLI.
//!
//! Everything runs against one `moto_server` on a free loopback port (the test
//! kit's [`testkit::Emulator`]):
//!
//! 1. **Failover latency**: `Handler::handle` of a manual failover, in process, for
//!    each table count, alternating the direction on every run.
//! 2. **The floor**: one `DescribeInstances` of the group and one `ReplaceRoute`,
//!    sequential, with the same SDK client, interleaved with the failover runs.
//! 3. **EC2 calls** per failover from the kit's `CallLog`, for the first
//!    invocation of a fresh handler (cold container) and the warm ones; the log's
//!    request and answer times split a failover into its phases.
//! 4. **Cold start**: the release `vip-failover` binary under the kit's local
//!    Lambda (`testkit::lambda`), from spawn to the response POST of a `status`
//!    event, and its peak RSS while it waits for the next event.
//! 5. **Baseline**: `scripts/cli_baseline.sh`, the `aws` CLI describing and
//!    replacing table by table, on the same emulator and topology.
//!
//! Results go to JSON (`BENCH_OUT`, default `target/bench/results.json`);
//! `scripts/bench.sh` adds the artifact sizes, machine and versions and renders
//! BENCHMARKS.md. Settings (environment): `BENCH_SIZES` (1,10,100,250),
//! `BENCH_RUNS` (15), `BENCH_SIZE_BUDGET_S` (60), `BENCH_COLD_RUNS` (15),
//! `BENCH_CLI_RUNS` (5), `BENCH_CLI_SIZES` (1,10), `BENCH_AWS_CLI`,
//! `BENCH_WATCH` (0; 1 times `cargo lambda watch` once, for reference: its first
//! build compiles the SDK again in debug with cargo-lambda's flags, minutes).

// The handler future nests the SDK's deep futures (as in src/main.rs).
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;
use serde_json::{json, Value};
use testkit::lambda::{emulator_env, Function, LocalLambda, RuntimeEvent};
use testkit::topology::{self, Server, GROUP, VIP};
use testkit::{Call, Emulator, WRITE_ACTIONS};
use vip_failover::aws::Aws;
use vip_failover::handler::Handler;
use vip_failover::report::Response;
use vip_failover::Config;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The release binary that Lambda runs (cargo builds it for benches).
const FUNCTION_BIN: &str = env!("CARGO_BIN_EXE_vip-failover");

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` (make test) runs this
    // binary too, without it: build-checked there, measured only here.
    if !std::env::args().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        note("not measuring outside `cargo bench` (make bench); BENCH_FORCE=1 overrides");
        return;
    }
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let emulator = Emulator::start();
    note(&format!("moto_server on {}", emulator.url()));

    // moto imports and compiles its handlers on first use: pay that before timing.
    runtime.block_on(warm_up_emulator(&emulator));
    let mut sizes = Vec::new();
    for &n in &settings.sizes {
        let result = runtime.block_on(bench_size(&emulator, n, &settings));
        sizes.push(result);
    }
    let cold = runtime.block_on(cold_start(&emulator, &settings));
    let watch = runtime.block_on(watch_reference(&emulator, &settings));

    let results = json!({
        "schema": 1,
        "function_binary": FUNCTION_BIN,
        "emulator": "moto_server on 127.0.0.1 (one process for every scenario)",
        "settings": settings.to_json(),
        "sizes": sizes,
        "cold_start": cold,
        "cargo_lambda_watch": watch,
        "measure_seconds": started.elapsed().as_secs_f64(),
    });
    if let Some(dir) = settings.out.parent() {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    std::fs::write(
        &settings.out,
        serde_json::to_string_pretty(&results).expect("serialize results"),
    )
    .expect("write the results");
    note(&format!(
        "results written to {} ({:.0} s)",
        settings.out.display(),
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------
// Settings

struct Settings {
    sizes: Vec<usize>,
    runs: usize,
    /// Seconds of timed runs per table count; fewer runs where a run is slow.
    size_budget: f64,
    cold_runs: usize,
    cli_runs: usize,
    cli_sizes: Vec<usize>,
    aws_cli: PathBuf,
    watch: bool,
    out: PathBuf,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let list = |name: &str, default: &str| -> Vec<usize> {
            var(name)
                .unwrap_or_else(|| default.to_string())
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: {s:?} is not a number"))
                })
                .collect()
        };
        let number = |name: &str, default: usize| -> usize {
            var(name).map_or(default, |v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
            })
        };
        Self {
            sizes: list("BENCH_SIZES", "1,10,100,250"),
            runs: number("BENCH_RUNS", 15).max(1),
            size_budget: number("BENCH_SIZE_BUDGET_S", 60) as f64,
            cold_runs: number("BENCH_COLD_RUNS", 15).max(1),
            cli_runs: number("BENCH_CLI_RUNS", 5),
            cli_sizes: list("BENCH_CLI_SIZES", "1,10"),
            aws_cli: var("BENCH_AWS_CLI").map_or_else(
                || Path::new(CRATE_DIR).join(".venv-bench/bin/aws"),
                PathBuf::from,
            ),
            watch: var("BENCH_WATCH").as_deref() == Some("1"),
            out: var("BENCH_OUT").map_or_else(
                || Path::new(CRATE_DIR).join("target/bench/results.json"),
                PathBuf::from,
            ),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "sizes": self.sizes,
            "runs": self.runs,
            "size_budget_s": self.size_budget,
            "cold_runs": self.cold_runs,
            "cli_runs": self.cli_runs,
            "cli_sizes": self.cli_sizes,
            "aws_cli": self.aws_cli,
            "write_concurrency": Config::default().write_concurrency,
        })
    }
}

fn note(message: &str) {
    eprintln!("bench: {message}");
}

// ---------------------------------------------------------------------------
// Statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, min and max of a sample (milliseconds or any unit).
fn stats(samples: &[f64]) -> Value {
    let mut sorted: Vec<f64> = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => return Value::Null,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    json!({
        "median": median,
        "min": sorted[0],
        "max": sorted[sorted.len() - 1],
        "n": sorted.len(),
        "samples": samples,
    })
}

fn median(samples: &[f64]) -> f64 {
    stats(samples)["median"].as_f64().unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------------------
// Phases of a failover, from the call log.

/// Time spent inside EC2 calls, by phase of the failover (ms from `t0`).
///
/// Calls of one action overlap when they run concurrently, so each phase is the
/// span from its first request to its last answer. Calls that got no answer
/// (timed out, dropped) are left out.
fn phases(t0: Instant, total: Duration, calls: &[Call]) -> Value {
    let rel = |at: Instant| ms(at.saturating_duration_since(t0));
    // (sent, answered) of each answered call, by action, in the order sent.
    let mut by_action: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for call in calls {
        if let Some(answered) = call.answered {
            by_action
                .entry(call.action.as_str())
                .or_default()
                .push((rel(call.sent), rel(answered)));
        }
    }
    let span = |calls: &[(f64, f64)]| -> Option<(f64, f64)> {
        let start = calls.iter().map(|c| c.0).reduce(f64::min)?;
        let end = calls.iter().map(|c| c.1).reduce(f64::max)?;
        Some((start, end))
    };
    let get = |a: &str| by_action.get(a).cloned().unwrap_or_default();
    // The load reads the VPC's tables before any write; the verification reads
    // the written tables after them: the first call is the load's.
    let route_tables = get("DescribeRouteTables");
    let load_drt = route_tables.first().copied();
    let verify_drt = route_tables.get(1).copied();

    let mut spans: Vec<(&str, Option<(f64, f64)>)> = Vec::new();
    spans.push(("describe_instances", span(&get("DescribeInstances"))));
    let mut round = get("DescribeInstanceStatus");
    round.extend(get("DescribeVpcs"));
    round.extend(load_drt);
    spans.push(("read_round", span(&round)));
    let mut writes = get("ReplaceRoute");
    writes.extend(get("CreateRoute"));
    spans.push(("route_writes", span(&writes)));
    spans.push(("create_tags", span(&get("CreateTags"))));
    spans.push(("verify", verify_drt));

    let total_ms = ms(total);
    let mut out = serde_json::Map::new();
    let mut in_calls = 0.0;
    for (name, sp) in &spans {
        let d = sp.map(|(a, b)| (b - a).max(0.0));
        in_calls += d.unwrap_or(0.0);
        out.insert((*name).to_string(), json!(d));
    }
    out.insert("in_calls".into(), json!(in_calls));
    out.insert(
        "between_calls".into(),
        json!((total_ms - in_calls).max(0.0)),
    );
    out.insert("total".into(), json!(total_ms));
    // Mean time of one call, per action.
    let mut per_call = serde_json::Map::new();
    for (action, calls) in &by_action {
        let sum: f64 = calls.iter().map(|(sent, answered)| answered - sent).sum();
        per_call.insert(
            (*action).to_string(),
            json!({"count": calls.len(), "mean_ms": sum / calls.len() as f64}),
        );
    }
    out.insert("per_call".into(), Value::Object(per_call));
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// Topology: the README's two-AZ group with `n` client route tables.

struct Topo {
    a: Server,
    b: Server,
    tables: Vec<String>,
    vpc_id: String,
}

/// serverA (priority 10) in us-east-1a, serverB (20) in us-east-1b; `n` client
/// route tables, each with a default route to the internet gateway and the VIP
/// route to serverA's ENI (the seed of `topology::seed_two_az`, any size).
async fn seed_n(client: &Client, n: usize) -> Topo {
    let vpc_id = topology::create_vpc(client, topology::VPC_CIDR)
        .await
        .expect("vpc");
    let subnet_a = topology::create_subnet(client, &vpc_id, "10.0.1.0/24", "us-east-1a")
        .await
        .expect("subnet a");
    let subnet_b = topology::create_subnet(client, &vpc_id, "10.0.2.0/24", "us-east-1b")
        .await
        .expect("subnet b");
    let igw = topology::create_igw(client, &vpc_id).await.expect("igw");
    let a = topology::launch(client, &subnet_a, "serverA", &topology::member_tags("10"))
        .await
        .expect("serverA");
    let b = topology::launch(client, &subnet_b, "serverB", &topology::member_tags("20"))
        .await
        .expect("serverB");
    let mut tables = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("clients-{}", i + 1);
        let table = topology::create_table(client, &vpc_id, &[("Name", &name)], None)
            .await
            .expect("route table");
        topology::route_to_gateway(client, &table, "0.0.0.0/0", &igw)
            .await
            .expect("default route");
        topology::route_to_eni(client, &table, VIP, &a.eni_id)
            .await
            .expect("VIP route");
        tables.push(table);
    }
    Topo {
        a,
        b,
        tables,
        vpc_id,
    }
}

// ---------------------------------------------------------------------------
// 1-3, 5: latency, floor, EC2 calls and the CLI baseline for one table count.

fn failover_event() -> Value {
    json!({"action": "failover", "group": GROUP})
}

/// The failover must have moved every VIP route to `to` and verified it.
fn check_failover(result: Result<Response, vip_failover::Error>, n: usize, to: &Server) {
    let report = match result {
        Ok(Response::Group(report)) => report,
        Ok(other) => panic!("expected a group report, got {other:?}"),
        Err(e) => panic!("failover failed: {e}"),
    };
    let v = serde_json::to_value(&report).expect("report as JSON");
    assert_eq!(v["action"], "failed_over", "{v:#}");
    assert_eq!(v["to"]["instance_id"], to.instance_id.as_str(), "{v:#}");
    let routes = v["route_tables"].as_array().cloned().unwrap_or_default();
    let replaced = routes.iter().filter(|r| r["result"] == "replaced").count();
    assert!(
        routes.len() == n && replaced == n,
        "expected {n} replaced and verified routes, got {replaced} of {}: {v:#}",
        routes.len()
    );
}

/// Reads and writes (and each action's count) of one invocation.
fn call_summary(calls: &[Call]) -> Value {
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        *by_action.entry(call.action.as_str()).or_default() += 1;
    }
    let writes = calls
        .iter()
        .filter(|c| WRITE_ACTIONS.contains(&c.action.as_str()))
        .count();
    json!({
        "total": calls.len(),
        "reads": calls.len() - writes,
        "writes": writes,
        "by_action": by_action,
    })
}

/// The unavoidable sequential calls: read the group, write one route (to where it
/// already points, so the topology is unchanged).
async fn floor(client: &Client, tag_key: &str, table: &str, eni: &str) -> Duration {
    let started = Instant::now();
    client
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{tag_key}"))
                .values(GROUP)
                .build(),
        )
        .send()
        .await
        .expect("floor: DescribeInstances");
    client
        .replace_route()
        .route_table_id(table)
        .destination_cidr_block(VIP)
        .network_interface_id(eni)
        .send()
        .await
        .expect("floor: ReplaceRoute");
    started.elapsed()
}

async fn bench_size(emulator: &Emulator, n: usize, settings: &Settings) -> Value {
    emulator.reset();
    let seeding = Instant::now();
    let (seed_client, _) = emulator.client();
    let topo = seed_n(&seed_client, n).await;
    let seed_s = seeding.elapsed().as_secs_f64();
    note(&format!("{n} tables: seeded in {seed_s:.1} s"));

    // The handler as main.rs wires it, over a client that the floor shares.
    let config = testkit::patient();
    let tag_key = config.tags.group();
    let (client, calls) = testkit::client_for(&emulator.url(), &config);
    let cloudwatch = testkit::cloudwatch::client_with(&emulator.url(), &config, &calls);
    let handler = Handler::new(Aws::new(client.clone(), cloudwatch, &config), config);

    // The first invocation of a fresh handler: a cold container (no cached VPC
    // CIDRs, no open connection). Moves the VIP A -> B.
    calls.clear();
    let t0 = Instant::now();
    let result = handler.handle(failover_event(), testkit::deadline()).await;
    let first = t0.elapsed();
    let first_calls = calls.take();
    let first_phases = phases(t0, first, &first_calls);
    check_failover(result, n, &topo.b);
    let cold_calls = call_summary(&first_calls);
    let (mut holder, mut standby) = (&topo.b, &topo.a);

    // A warm-up run that is not timed (B -> A), then the timed runs, each one
    // a floor measurement followed by a failover in the other direction.
    calls.clear();
    let t0 = Instant::now();
    check_failover(
        handler.handle(failover_event(), testkit::deadline()).await,
        n,
        standby,
    );
    let warmup = t0.elapsed().as_secs_f64();
    std::mem::swap(&mut holder, &mut standby);
    let per_run = warmup + 0.05;
    let runs = settings
        .runs
        .min(((settings.size_budget / per_run).floor() as usize).max(3));
    let reduced = (runs < settings.runs).then(|| {
        format!(
            "{runs} runs instead of {}: one failover took {:.2} s, the budget per table count is {} s",
            settings.runs, warmup, settings.size_budget
        )
    });

    let mut latency = Vec::new();
    let mut floors = Vec::new();
    let mut floor_di = Vec::new();
    let mut floor_rr = Vec::new();
    let mut warm_calls = Vec::new();
    let mut run_phases = Vec::new();
    let mut directions = Vec::new();
    let moto = Some(emulator.pid());
    let mut cpu = CpuTotals::default();
    for _ in 0..runs {
        calls.clear();
        let before = cpu_now(moto);
        let f = floor(&client, &tag_key, &topo.tables[0], &holder.eni_id).await;
        cpu.add_floor(before, cpu_now(moto));
        let fp = phases(Instant::now() - f, f, &calls.take());
        floors.push(ms(f));
        floor_di.push(fp["describe_instances"].as_f64().unwrap_or(f64::NAN));
        floor_rr.push(fp["route_writes"].as_f64().unwrap_or(f64::NAN));

        let before = cpu_now(moto);
        let t0 = Instant::now();
        let result = handler.handle(failover_event(), testkit::deadline()).await;
        let elapsed = t0.elapsed();
        cpu.add_failover(before, cpu_now(moto));
        let run_calls = calls.take();
        check_failover(result, n, standby);
        latency.push(ms(elapsed));
        run_phases.push(phases(t0, elapsed, &run_calls));
        warm_calls.push(call_summary(&run_calls));
        directions.push(format!("{}->{}", holder.name, standby.name));
        std::mem::swap(&mut holder, &mut standby);
    }
    let warm_distinct: Vec<Value> = {
        let mut seen: Vec<Value> = Vec::new();
        for c in &warm_calls {
            if !seen.contains(c) {
                seen.push(c.clone());
            }
        }
        seen
    };
    let phase_medians = phase_medians(&run_phases);
    note(&format!(
        "{n} tables: failover median {:.1} ms over {runs} runs, floor {:.1} ms",
        median(&latency),
        median(&floors)
    ));

    let what_if = tag_verify_what_if(&client, &topo.tables, runs).await;

    let cli = if settings.cli_sizes.contains(&n) {
        let endpoint = emulator.url();
        cli_baseline(
            &seed_client,
            &endpoint,
            &topo,
            &mut holder,
            &mut standby,
            settings,
        )
        .await
    } else {
        Value::Null
    };

    json!({
        "tables": n,
        "runs": runs,
        "runs_note": reduced,
        "seed_seconds": seed_s,
        "first_invocation_ms": ms(first),
        "first_invocation_phases": first_phases,
        "latency_ms": stats(&latency),
        "floor_ms": stats(&floors),
        "floor_describe_instances_ms": stats(&floor_di),
        "floor_replace_route_ms": stats(&floor_rr),
        "calls_cold": cold_calls,
        "calls_warm": warm_distinct.first().cloned().unwrap_or(Value::Null),
        "calls_warm_variants": warm_distinct.len(),
        "phases_median_ms": phase_medians,
        "cpu_ms": cpu.to_json(runs),
        "what_if_tags_with_verify": what_if,
        "directions": directions,
        "cli": cli,
    })
}

/// The handler records the move (CreateTags) and then re-reads the written tables
/// (DescribeRouteTables), one after the other. Both need only the list of written
/// tables: this times the pair sequentially and joined, with the same client and
/// table count, to size what running them together would save. The probe tag has
/// its own key, so the anti-flap record is untouched.
async fn tag_verify_what_if(client: &Client, tables: &[String], runs: usize) -> Value {
    let tag = || {
        client
            .create_tags()
            .set_resources(Some(tables.to_vec()))
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("vip-failover-bench:probe")
                    .value("1")
                    .build(),
            )
            .send()
    };
    let verify = || {
        client
            .describe_route_tables()
            .set_route_table_ids(Some(tables.to_vec()))
            .send()
    };
    let mut sequential = Vec::new();
    let mut joined = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        tag().await.expect("probe CreateTags");
        verify().await.expect("probe DescribeRouteTables");
        sequential.push(ms(t.elapsed()));
        let t = Instant::now();
        let (a, b) = tokio::join!(tag(), verify());
        a.expect("probe CreateTags");
        b.expect("probe DescribeRouteTables");
        joined.push(ms(t.elapsed()));
    }
    json!({"sequential_ms": stats(&sequential), "joined_ms": stats(&joined)})
}

/// One failover, a floor and a status on a throwaway 1-table topology (untimed).
async fn warm_up_emulator(emulator: &Emulator) {
    emulator.reset();
    let (client, _) = emulator.client();
    let topo = seed_n(&client, 1).await;
    let config = testkit::patient();
    let tag_key = config.tags.group();
    let cloudwatch = testkit::cloudwatch::client_for(&emulator.url());
    let handler = Handler::new(Aws::new(client.clone(), cloudwatch, &config), config);
    check_failover(
        handler.handle(failover_event(), testkit::deadline()).await,
        1,
        &topo.b,
    );
    floor(&client, &tag_key, &topo.tables[0], &topo.b.eni_id).await;
    handler
        .handle(
            json!({"action": "status", "group": GROUP}),
            testkit::deadline(),
        )
        .await
        .expect("status");
}

fn phase_medians(runs: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    let keys = [
        "describe_instances",
        "read_round",
        "route_writes",
        "create_tags",
        "verify",
        "in_calls",
        "between_calls",
        "total",
    ];
    for key in keys {
        let samples: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        out.insert(
            key.to_string(),
            if samples.is_empty() {
                Value::Null
            } else {
                json!(median(&samples))
            },
        );
    }
    let mut per_call = serde_json::Map::new();
    if let Some(first) = runs.first() {
        if let Some(actions) = first["per_call"].as_object() {
            for action in actions.keys() {
                let samples: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r["per_call"][action]["mean_ms"].as_f64())
                    .collect();
                per_call.insert(
                    action.clone(),
                    json!({"count": first["per_call"][action]["count"], "mean_ms": median(&samples)}),
                );
            }
        }
    }
    out.insert("per_call".into(), Value::Object(per_call));
    Value::Object(out)
}

/// CPU time of this process (ns, summed over its threads: precise) and of the
/// emulator (ms, from /proc/PID/stat clock ticks: ±10 ms per reading, so only
/// sums over many runs are meaningful).
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    ours_ns: u64,
    moto_ms: Option<f64>,
}

fn cpu_now(moto: Option<u32>) -> CpuSample {
    CpuSample {
        ours_ns: threads_cpu_ns("/proc/self/task").unwrap_or(0),
        moto_ms: moto.and_then(process_cpu_ms),
    }
}

/// CPU time of a process's live threads, from their schedstat (ns).
fn threads_cpu_ns(task_dir: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(task_dir).ok()?.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

fn process_cpu_ns(pid: u32) -> Option<u64> {
    threads_cpu_ns(&format!("/proc/{pid}/task"))
}

/// utime + stime of a process (all its threads, dead ones included), in ms.
fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000.0 / CLOCK_TICKS_PER_SECOND)
}

/// USER_HZ, 100 on Linux.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default)]
struct CpuTotals {
    floor_ours_ns: u64,
    floor_moto_ms: f64,
    failover_ours_ns: u64,
    failover_moto_ms: f64,
    moto_seen: bool,
}

impl CpuTotals {
    fn add_floor(&mut self, before: CpuSample, after: CpuSample) {
        self.floor_ours_ns += after.ours_ns.saturating_sub(before.ours_ns);
        if let (Some(a), Some(b)) = (before.moto_ms, after.moto_ms) {
            self.floor_moto_ms += b - a;
            self.moto_seen = true;
        }
    }

    fn add_failover(&mut self, before: CpuSample, after: CpuSample) {
        self.failover_ours_ns += after.ours_ns.saturating_sub(before.ours_ns);
        if let (Some(a), Some(b)) = (before.moto_ms, after.moto_ms) {
            self.failover_moto_ms += b - a;
        }
    }

    /// Means per run, in ms.
    fn to_json(&self, runs: usize) -> Value {
        let per = |x: f64| x / runs.max(1) as f64;
        json!({
            "failover_ours": per(self.failover_ours_ns as f64 / 1e6),
            "failover_emulator": self.moto_seen.then(|| per(self.failover_moto_ms)),
            "floor_ours": per(self.floor_ours_ns as f64 / 1e6),
            "floor_emulator": self.moto_seen.then(|| per(self.floor_moto_ms)),
        })
    }
}

/// The same move with the `aws` CLI, table by table, alternating direction.
async fn cli_baseline<'a>(
    client: &Client,
    endpoint: &str,
    topo: &'a Topo,
    holder: &mut &'a Server,
    standby: &mut &'a Server,
    settings: &Settings,
) -> Value {
    let script = Path::new(CRATE_DIR).join("scripts/cli_baseline.sh");
    if settings.cli_runs == 0 {
        return json!({"skipped": "BENCH_CLI_RUNS=0"});
    }
    if !settings.aws_cli.exists() {
        note("aws CLI not found: baseline skipped (make bench-tools installs it)");
        return json!({"skipped": format!("{} not found", settings.aws_cli.display())});
    }
    // One untimed call: the interpreter and botocore's data files in the page cache.
    let _ = Command::new(&settings.aws_cli)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut times = Vec::new();
    for _ in 0..settings.cli_runs {
        let to = *standby;
        let started = Instant::now();
        let output = tokio::task::block_in_place(|| {
            Command::new("bash")
                .arg(&script)
                .arg(endpoint)
                .arg(VIP)
                .arg(&to.eni_id)
                .args(&topo.tables)
                .env("AWS_CLI", &settings.aws_cli)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "/nonexistent/aws-credentials",
                )
                .env("AWS_PAGER", "")
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/cli_baseline.sh")
        });
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "cli baseline failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let targets = topology::targets_of(client, &topo.vpc_id, VIP)
            .await
            .expect("read VIP targets");
        let moved = topo
            .tables
            .iter()
            .filter(|t| targets.get(*t) == Some(&to.eni_id))
            .count();
        assert_eq!(moved, topo.tables.len(), "CLI baseline left tables behind");
        times.push(ms(elapsed));
        std::mem::swap(holder, standby);
    }
    note(&format!(
        "{} tables: aws CLI median {:.0} ms over {} runs",
        topo.tables.len(),
        median(&times),
        times.len()
    ));
    json!({
        "wall_ms": stats(&times),
        "cli_calls_per_run": 2 * topo.tables.len(),
    })
}

// ---------------------------------------------------------------------------
// 4: cold start under the kit's local Lambda.

/// `VmHWM` (peak resident set) and `VmRSS` of a process, in kB.
fn memory_of(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn cold_start(emulator: &Emulator, settings: &Settings) -> Value {
    emulator.reset();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    let log = std::env::temp_dir().join(format!("vip-failover-bench-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let lambda = LocalLambda::start(
        Function::new("vip-failover", FUNCTION_BIN)
            .envs(emulator_env(&emulator.url()))
            .log(&log),
    );
    let event = json!({"action": "status", "group": GROUP});
    let binary_bytes = std::fs::metadata(FUNCTION_BIN).map(|m| m.len()).ok();

    let mut to_poll = Vec::new();
    let mut to_response = Vec::new();
    let mut handling = Vec::new();
    let mut hwm = Vec::new();
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    // One untimed start first (the binary into the page cache), then the timed ones.
    for trial in 0..=settings.cold_runs {
        lambda.skip_events();
        lambda.enqueue(&event.to_string());
        let deadline = Instant::now() + Duration::from_secs(60);
        let pid = lambda.spawn();
        let (mut spawned, mut polled, mut responded) = (None, None, None);
        let (memory, cpu_ns) = loop {
            let next = tokio::task::block_in_place(|| lambda.next_event(deadline));
            let Some(next) = next else {
                lambda.kill();
                panic!(
                    "the function did not talk to the runtime API in time\n{}",
                    lambda.log_text()
                );
            };
            match next {
                RuntimeEvent::Spawned { at, .. } => spawned = Some(at),
                RuntimeEvent::Next {
                    at,
                    request_id: Some(_),
                } => polled = Some(at),
                RuntimeEvent::Response { at, body, .. } => {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    assert!(
                        body.contains(&seed.server_a.instance_id) && v["group"] == GROUP,
                        "unexpected status response: {body}"
                    );
                    responded = Some(at);
                }
                RuntimeEvent::Next {
                    request_id: None, ..
                } => {
                    // Waiting for the next event: read its memory and CPU now.
                    break (memory_of(pid), process_cpu_ns(pid));
                }
                RuntimeEvent::Error { body, .. } | RuntimeEvent::InitError { body, .. } => {
                    lambda.kill();
                    panic!(
                        "the function reported an error: {body}\n{}",
                        lambda.log_text()
                    );
                }
            }
        };
        lambda.kill();
        let (spawned, polled, responded) = (
            spawned.expect("spawn"),
            polled.expect("poll"),
            responded.expect("response"),
        );
        if trial == 0 {
            continue;
        }
        to_poll.push(ms(polled - spawned));
        to_response.push(ms(responded - spawned));
        handling.push(ms(responded - polled));
        if let (Some(h), Some(r)) = memory {
            hwm.push(h as f64 / 1024.0);
            rss.push(r as f64 / 1024.0);
        }
        if let Some(ns) = cpu_ns {
            cpu.push(ns as f64 / 1e6);
        }
    }
    drop(lambda);
    let _ = std::fs::remove_file(&log);
    note(&format!(
        "cold start: median {:.1} ms to the response ({:.1} ms to the first poll), peak RSS {:.1} MiB",
        median(&to_response),
        median(&to_poll),
        median(&hwm)
    ));
    json!({
        "event": event,
        "tables": seed.tables.len(),
        "runs": to_response.len(),
        "binary": FUNCTION_BIN,
        "binary_bytes": binary_bytes,
        "spawn_to_response_ms": stats(&to_response),
        "spawn_to_first_poll_ms": stats(&to_poll),
        "first_poll_to_response_ms": stats(&handling),
        "peak_rss_mib": stats(&hwm),
        "rss_after_response_mib": stats(&rss),
        "cpu_to_first_response_ms": stats(&cpu),
    })
}

// ---------------------------------------------------------------------------
// For reference only: one `status` through `cargo lambda watch`.

fn stop_group(child: &mut Child) {
    // The watcher runs in its own process group with the function it spawns.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
}

async fn watch_reference(emulator: &Emulator, settings: &Settings) -> Value {
    use std::os::unix::process::CommandExt;
    if !settings.watch {
        return json!({"skipped": "not run (BENCH_WATCH=1 runs it)"});
    }
    emulator.reset();
    let (client, _) = emulator.client();
    topology::seed_two_az(&client).await.expect("seed");
    let port = testkit::free_port();
    // Logs outside the crate, or the watcher restarts the function in a loop.
    let log = std::env::temp_dir().join(format!("vip-failover-bench-watch-{}.log", port));
    let log_file = std::fs::File::create(&log).expect("watch log");
    let aws_env = [
        ("AWS_ENDPOINT_URL", emulator.url()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    // cargo-lambda lives in .venv/bin (`make tools`).
    let path = format!(
        "{}/.venv/bin:{}",
        CRATE_DIR,
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut watcher = match Command::new("cargo")
        .env("PATH", &path)
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(CRATE_DIR)
        .envs(aws_env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().expect("log")))
        .stderr(Stdio::from(log_file))
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return json!({"skipped": format!("cannot start cargo lambda watch: {e}")}),
    };
    let invoke = || -> Result<f64, String> {
        let t = Instant::now();
        let out = Command::new("timeout")
            .env("PATH", &path)
            .arg("240")
            .args(["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--data-file", "events/status.json", "vip-failover"])
            .current_dir(CRATE_DIR)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains(GROUP) {
            Ok(ms(t.elapsed()))
        } else {
            Err(format!(
                "invoke failed: {}{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let result = tokio::task::block_in_place(|| {
        let ready_deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = watcher.try_wait() {
                return Err(format!("cargo lambda watch exited: {status}"));
            }
            if Instant::now() > ready_deadline {
                return Err("the watcher did not listen within 60 s".to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let listening = ms(started.elapsed());
        let first = invoke()?;
        let mut warm = Vec::new();
        for _ in 0..3 {
            warm.push(invoke()?);
        }
        Ok(json!({
            "watch_listening_ms": listening,
            "first_invoke_ms": first,
            "warm_invoke_ms": stats(&warm),
        }))
    });
    stop_group(&mut watcher);
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let tail: String = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            json!({"failed": e, "log_tail": tail})
        }
    };
    let _ = std::fs::remove_file(&log);
    note(&format!("cargo lambda watch reference: {value}"));
    value
}
