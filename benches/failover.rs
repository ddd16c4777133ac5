//! `make bench` (issues 6 and 12): how long a failover takes and against what
//! floor, with how many AWS calls, how it scales under EC2's request throttling,
//! what event churn costs it, how fast the function starts, and how it compares
//! with the aws CLI.
//!
//! Every scenario runs against one `moto_server` on a free loopback port (the
//! kit's [`Emulator`]), directly or behind the kit's [`FaultProxy`]:
//!
//! 1. **plain**: `Handler::handle` of a manual failover on the emulator, for each
//!    table count, alternating direction; before each run, the floor (one
//!    DescribeInstances and one ReplaceRoute, sequential, same client). Calls and
//!    phases come from the kit's `CallLog`; the aws CLI baseline
//!    (`scripts/cli_baseline.sh`) runs at some table counts. The function's
//!    request buckets are raised ([`unpaced`]): scenario 3 measures them.
//! 2. **latency**: the same behind the proxy, which answers every call no sooner
//!    than a fixed latency after it arrived, handling calls concurrently.
//! 3. **throttled**: the active member stopped in the emulator, its state-change
//!    event handled behind the proxy throttling with EC2's documented token
//!    buckets, invoked again (as Lambda retries) until every table is moved.
//! 4. **churn**: state-change events for instances in no group, one after
//!    another on one handler (reserved concurrency 1), then the real failover
//!    event; with the default member-list TTL and with none.
//! 5. **cold_start**: the `vip-failover` binary under the kit's local Lambda,
//!    spawn to the response of a `status` event, and its peak RSS.
//! 6. **probe_detect**, **probe_round** (issue 16, `failover/probe.rs`): the
//!    probe loop with both binaries, from a member's service dying to the VIP
//!    route change; and the probe function's wall time, CPU and peak RSS for a
//!    round over 2, 10 and 50 members.
//!
//! Results go to JSON (`BENCH_OUT`, default `target/bench/results.json`) with
//! the targets evaluated; `scripts/bench.sh` adds machine, versions and artifact
//! sizes, and `scripts/bench_render.py` renders the tables of BENCHMARKS.md.
//! Settings: [`Settings::from_env`].

// The handler future nests the SDK's deep futures (as in src/main.rs).
#![recursion_limit = "256"]

#[path = "failover/probe.rs"]
mod probe;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;
use serde_json::{json, Value};
use testkit::fault_proxy::{Bucket, FaultProxy, Rules, TokenBuckets};
use testkit::lambda::{emulator_env, Function, LocalLambda, RuntimeEvent};
use testkit::topology::{self, Seed, Server, GROUP, VIP};
use testkit::{events, Call, CallLog, Emulator, WRITE_ACTIONS};
use vip_failover::aws::ops::{Op, Service};
use vip_failover::aws::pace::RateLimits;
use vip_failover::handler::Handler;
use vip_failover::report::Response;
use vip_failover::Config;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The function binary Lambda runs, built by cargo in the bench's profile.
const FUNCTION_BIN: &str = env!("CARGO_BIN_EXE_vip-failover");
/// Invocations of one throttled failover at most: the first, and Lambda's two
/// retries of an asynchronous invocation.
const MAX_INVOCATIONS: usize = 3;
/// Request buckets of the plain and fixed-latency scenarios (`BURST/PER_SECOND`).
const UNPACED: &str = "1000000/1000000";
/// Every scenario, in the order run.
const SCENARIOS: &str = "plain,latency,throttled,churn,cold_start,probe_detect,probe_round";
/// States of the churn events, in turn: each one makes the handler look the
/// instance up.
const CHURN_STATES: [&str; 6] = [
    "pending",
    "running",
    "stopping",
    "stopped",
    "shutting-down",
    "terminated",
];

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary
    // too, without it: build-checked there, measured only here.
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
    let mut results = runtime.block_on(measure(&emulator, &settings));
    results["targets"] = json!(targets(&results, &settings));
    results["measure_seconds"] = json!(started.elapsed().as_secs_f64());
    if let Some(dir) = settings.out.parent() {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    let text = serde_json::to_string_pretty(&results).expect("serialize results");
    std::fs::write(&settings.out, text).expect("write the results");
    note(&format!(
        "results written to {} ({:.0} s)",
        settings.out.display(),
        started.elapsed().as_secs_f64()
    ));
}

async fn measure(emulator: &Emulator, settings: &Settings) -> Value {
    // moto imports and compiles its handlers on first use: pay that before timing.
    warm_up_emulator(emulator).await;
    let mut r = json!({
        "schema": 2,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "function_binary": FUNCTION_BIN,
        "emulator": "moto_server on 127.0.0.1 (one process for every scenario)",
        "settings": settings.to_json(),
    });
    if settings.wants("plain") {
        let mut plain = Vec::new();
        for &n in &settings.sizes {
            plain.push(plain_size(emulator, n, settings).await);
        }
        r["plain"] = json!(plain);
    }
    if settings.wants("latency") {
        let mut latency = Vec::new();
        for &l in &settings.latencies_ms {
            for &n in &settings.latency_sizes {
                let l = Duration::from_millis(l);
                latency.push(latency_size(emulator, l, n, settings).await);
            }
        }
        r["latency"] = json!(latency);
    }
    if settings.wants("throttled") {
        r["throttled"] = throttled(emulator, settings).await;
    }
    if settings.wants("churn") {
        let ttl = Config::default().membership_ttl;
        let cached = churn(emulator, ttl, settings).await;
        r["churn"] = json!([cached, churn(emulator, Duration::ZERO, settings).await]);
    }
    if settings.wants("cold_start") {
        r["cold_start"] = cold_start(emulator, settings).await;
    }
    if settings.wants("probe_detect") {
        r["probe_detect"] = probe::detect(emulator).await;
    }
    if settings.wants("probe_round") {
        r["probe_round"] = probe::rounds().await;
    }
    r
}

// ---------------------------------------------------------------------------
// Settings

struct Settings {
    scenarios: Vec<String>,
    sizes: Vec<usize>,
    runs: usize,
    /// Seconds of timed runs per table count; fewer runs where a run is slow.
    size_budget: f64,
    latencies_ms: Vec<u64>,
    latency_sizes: Vec<usize>,
    latency_runs: usize,
    throttle_sizes: Vec<usize>,
    throttle_deadline: Duration,
    churn_events: usize,
    cold_runs: usize,
    cli_runs: usize,
    cli_sizes: Vec<usize>,
    aws_cli: PathBuf,
    zip: Option<PathBuf>,
    out: PathBuf,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A comma-separated list of numbers (or words).
fn numbers<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    let text = var(name).unwrap_or_else(|| default.to_string());
    let parse = |s: &str| s.trim().parse().ok();
    let list: Option<Vec<T>> = text.split(',').map(parse).collect();
    list.unwrap_or_else(|| panic!("{name}: {text:?} is not a list"))
}

fn number(name: &str, default: usize) -> usize {
    numbers(name, &default.to_string())[0]
}

impl Settings {
    /// `BENCH_SCENARIOS` (all: plain,latency,throttled,churn,cold_start,
    /// probe_detect,probe_round),
    /// `BENCH_SIZES` (1,10,100,250), `BENCH_RUNS` (15), `BENCH_SIZE_BUDGET_S`
    /// (60), `BENCH_LATENCY_MS` (50,100), `BENCH_LATENCY_SIZES` (1,10,50),
    /// `BENCH_LATENCY_RUNS` (9), `BENCH_THROTTLE_SIZES` (1,50,250,500),
    /// `BENCH_THROTTLE_DEADLINE_S` (150), `BENCH_CHURN_EVENTS` (1000),
    /// `BENCH_COLD_RUNS` (15), `BENCH_CLI_RUNS` (5), `BENCH_CLI_SIZES` (1,10),
    /// `BENCH_AWS_CLI` (.venv-bench/bin/aws), `BENCH_ZIP` (the packaged zip, for
    /// its size target), `BENCH_OUT`. The probe scenarios read their own:
    /// `BENCH_PROBE_RUNS` (5), `BENCH_PROBE_SIZES` (2,10,50), `BENCH_PROBE_ROUNDS`
    /// (3), `BENCH_PROBE_ROUND_MS` (5000).
    fn from_env() -> Self {
        let path = |name: &str, default: &str| {
            var(name).map_or_else(|| Path::new(CRATE_DIR).join(default), PathBuf::from)
        };
        Self {
            scenarios: numbers("BENCH_SCENARIOS", SCENARIOS),
            sizes: numbers("BENCH_SIZES", "1,10,100,250"),
            runs: number("BENCH_RUNS", 15).max(1),
            size_budget: number("BENCH_SIZE_BUDGET_S", 60) as f64,
            latencies_ms: numbers("BENCH_LATENCY_MS", "50,100"),
            latency_sizes: numbers("BENCH_LATENCY_SIZES", "1,10,50"),
            latency_runs: number("BENCH_LATENCY_RUNS", 9).max(1),
            throttle_sizes: numbers("BENCH_THROTTLE_SIZES", "1,50,250,500"),
            throttle_deadline: Duration::from_secs(number("BENCH_THROTTLE_DEADLINE_S", 150) as u64),
            churn_events: number("BENCH_CHURN_EVENTS", 1000),
            cold_runs: number("BENCH_COLD_RUNS", 15).max(1),
            cli_runs: number("BENCH_CLI_RUNS", 5),
            cli_sizes: numbers("BENCH_CLI_SIZES", "1,10"),
            aws_cli: path("BENCH_AWS_CLI", ".venv-bench/bin/aws"),
            zip: var("BENCH_ZIP").map(PathBuf::from),
            out: path("BENCH_OUT", "target/bench/results.json"),
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }

    fn to_json(&self) -> Value {
        let config = Config::default();
        json!({
            "scenarios": self.scenarios,
            "sizes": self.sizes,
            "runs": self.runs,
            "size_budget_s": self.size_budget,
            "latencies_ms": self.latencies_ms,
            "latency_sizes": self.latency_sizes,
            "latency_runs": self.latency_runs,
            "throttle_sizes": self.throttle_sizes,
            "throttle_deadline_s": self.throttle_deadline.as_secs(),
            "churn_events": self.churn_events,
            "cold_runs": self.cold_runs,
            "cli_runs": self.cli_runs,
            "cli_sizes": self.cli_sizes,
            "aws_cli": self.aws_cli,
            "zip": self.zip,
            "write_concurrency": config.write_concurrency,
            "unpaced_rate_limits": UNPACED,
            "membership_ttl_s": config.membership_ttl.as_secs(),
            "deadline_reserve_s": config.deadline_reserve.as_secs_f64(),
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

/// Median, min and max of a sample, with the sample.
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

fn mean(samples: &[f64]) -> Option<f64> {
    (!samples.is_empty()).then(|| samples.iter().sum::<f64>() / samples.len() as f64)
}

// ---------------------------------------------------------------------------
// Calls and phases of one invocation, from the call log.

fn is_route_write(action: &str) -> bool {
    action == "ReplaceRoute" || action == "CreateRoute"
}

/// EC2 reads and writes, CloudWatch calls, attempts answered 503 (throttled),
/// and each action's count. Every attempt counts, retries included.
fn call_summary(calls: &[Call]) -> Value {
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for call in calls {
        *by_action.entry(call.action.as_str()).or_default() += 1;
    }
    let count = |keep: &dyn Fn(&str) -> bool| calls.iter().filter(|c| keep(&c.action)).count();
    let cloudwatch =
        count(&|a| Op::from_name(a).is_some_and(|op| op.service() == Service::CloudWatch));
    let writes = count(&|a| WRITE_ACTIONS.contains(&a));
    json!({
        "total": calls.len(),
        "ec2_reads": calls.len() - writes - cloudwatch,
        "ec2_writes": writes,
        "cloudwatch": cloudwatch,
        "throttled": calls.iter().filter(|c| c.status == Some(503)).count(),
        "by_action": by_action,
    })
}

/// An answered call: action, sent and answered, in ms from the invocation's start.
type Span<'a> = (&'a str, f64, f64);

/// The invocation by phase, in ms: each phase from its first request to its last
/// answer (unanswered attempts left out). `read`: every read sent before the
/// first route write; `record`: CreateTags; `writes`: route writes; `verify`:
/// DescribeRouteTables sent after the first route write. `in_calls`: time with
/// at least one call outstanding; `outside_calls`: the rest of `total`.
fn phases(t0: Instant, total: Duration, calls: &[Call]) -> Value {
    let rel = |at: Instant| ms(at.saturating_duration_since(t0));
    let done: Vec<Span> = calls
        .iter()
        .filter_map(|c| Some((c.action.as_str(), rel(c.sent), rel(c.answered?))))
        .collect();
    let first_write = done
        .iter()
        .filter(|c| is_route_write(c.0))
        .map(|c| c.1)
        .fold(f64::INFINITY, f64::min);
    let span = |keep: &dyn Fn(&Span) -> bool| -> Option<f64> {
        let (start, end) = done
            .iter()
            .filter(|c| keep(c))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(s, e), c| {
                (s.min(c.1), e.max(c.2))
            });
        (end >= start).then_some(end - start)
    };
    let mut per_call: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (action, sent, answered) in &done {
        per_call.entry(action).or_default().push(answered - sent);
    }
    let per_call: BTreeMap<&str, Option<f64>> =
        per_call.iter().map(|(a, d)| (*a, mean(d))).collect();
    let busy = busy_ms(&done);
    json!({
        "read": span(&|c| !WRITE_ACTIONS.contains(&c.0) && c.1 < first_write),
        "record": span(&|c| c.0 == "CreateTags"),
        "writes": span(&|c| is_route_write(c.0)),
        "verify": span(&|c| c.0 == "DescribeRouteTables" && c.1 >= first_write),
        "in_calls": busy,
        "outside_calls": (ms(total) - busy).max(0.0),
        "total": ms(total),
        "per_call_mean": per_call,
    })
}

/// The union of the calls' intervals.
fn busy_ms(calls: &[Span]) -> f64 {
    let mut spans: Vec<(f64, f64)> = calls.iter().map(|c| (c.1, c.2)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut busy, mut reached) = (0.0, f64::NEG_INFINITY);
    for (start, end) in spans {
        busy += (end - start.max(reached)).max(0.0);
        reached = reached.max(end);
    }
    busy
}

/// Medians over runs of each phase and of each action's mean call time.
fn phase_medians(runs: &[Value]) -> Value {
    let median_of = |pick: &dyn Fn(&Value) -> Option<f64>| {
        let samples: Vec<f64> = runs.iter().filter_map(pick).collect();
        (!samples.is_empty()).then(|| median(&samples))
    };
    let mut out = serde_json::Map::new();
    for key in [
        "read",
        "record",
        "writes",
        "verify",
        "in_calls",
        "outside_calls",
        "total",
    ] {
        out.insert(key.into(), json!(median_of(&|r| r[key].as_f64())));
    }
    let actions: Vec<String> = runs
        .first()
        .and_then(|r| r["per_call_mean"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let per_call: BTreeMap<&str, Option<f64>> = actions
        .iter()
        .map(|a| (a.as_str(), median_of(&|r| r["per_call_mean"][a].as_f64())))
        .collect();
    out.insert("per_call_mean".into(), json!(per_call));
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// CPU time: ours (ns, summed over our threads) and the emulator's (utime + stime
// from /proc/PID/stat, 10 ms ticks: only means over many runs mean anything).

#[derive(Debug, Clone, Copy)]
struct Cpu {
    ours_ns: u64,
    moto_ms: Option<f64>,
}

impl Cpu {
    fn now(moto: u32) -> Self {
        Self {
            ours_ns: threads_cpu_ns("/proc/self/task").unwrap_or(0),
            moto_ms: process_cpu_ms(moto),
        }
    }

    /// Ours and the emulator's, in ms, since `before`.
    fn since(self, before: Cpu) -> (f64, Option<f64>) {
        let ours = self.ours_ns.saturating_sub(before.ours_ns) as f64 / 1e6;
        let moto = self
            .moto_ms
            .zip(before.moto_ms)
            .map(|(now, then)| now - then);
        (ours, moto)
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

/// utime + stime of a process (all its threads, dead ones included), in ms.
fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) * 10.0)
}

// ---------------------------------------------------------------------------
// The rig: a seeded group and a handler whose calls are logged.

/// The emulator reset and seeded with `n` client route tables, all routing the
/// VIP to serverA; and a client straight to the emulator (no proxy).
async fn seeded(emulator: &Emulator, n: usize) -> (Seed, Client) {
    emulator.reset();
    let (client, _) = emulator.client();
    let started = Instant::now();
    let seed = topology::seed_with_tables(&client, n).await.expect("seed");
    let took = started.elapsed().as_secs_f64();
    note(&format!("{n} tables: seeded in {took:.1} s"));
    (seed, client)
}

/// The kit's patient settings with every request bucket raised far beyond any
/// table count, as `EC2_RATE_LIMITS` does for an account with raised limits.
fn unpaced() -> Config {
    let limits: Vec<String> = Op::ALL.iter().map(|op| format!("{op}={UNPACED}")).collect();
    Config {
        rate_limits: RateLimits::parse(&limits.join(",")).expect("rate limits"),
        ..testkit::patient()
    }
}

/// The failover moved every VIP route to `to` and verified it.
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

/// One invocation: when it started, how long it took, its calls.
struct Timed {
    t0: Instant,
    elapsed: Duration,
    calls: Vec<Call>,
}

impl Timed {
    fn phases(&self) -> Value {
        phases(self.t0, self.elapsed, &self.calls)
    }
}

/// A seeded group and a handler talking to `url` (the emulator, or the proxy in
/// front of it). Failovers alternate direction.
struct Rig {
    seed: Seed,
    handler: Handler,
    calls: CallLog,
    moto: u32,
    on_b: bool,
}

impl Rig {
    /// With [`unpaced`] settings: back-to-back failovers measure the failover,
    /// not the request buckets they empty (scenario 3 measures those).
    fn new(seed: Seed, url: &str, emulator: &Emulator) -> Self {
        let (handler, calls) = testkit::handler_for(url, unpaced());
        Self {
            seed,
            handler,
            calls,
            moto: emulator.pid(),
            on_b: false,
        }
    }

    fn holder(&self) -> &Server {
        [&self.seed.server_a, &self.seed.server_b][usize::from(self.on_b)]
    }

    fn standby(&self) -> &Server {
        [&self.seed.server_b, &self.seed.server_a][usize::from(self.on_b)]
    }

    /// A manual failover to the standby, checked.
    async fn failover(&mut self) -> Timed {
        let event = json!({"action": "failover", "group": GROUP});
        self.calls.clear();
        let t0 = Instant::now();
        let result = self.handler.handle(event, testkit::deadline()).await;
        let elapsed = t0.elapsed();
        let calls = self.calls.take();
        check_failover(result, self.seed.tables.len(), self.standby());
        self.on_b = !self.on_b;
        Timed { t0, elapsed, calls }
    }

    /// The floor: read the group, write one route (to where it already points,
    /// so nothing changes), sequentially, with the handler's own EC2 client.
    async fn floor(&self) -> Duration {
        let client = self.handler.aws().ec2();
        let tag = self.handler.config().tags.group();
        let started = Instant::now();
        client
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{tag}"))
                    .values(GROUP)
                    .build(),
            )
            .send()
            .await
            .expect("floor: DescribeInstances");
        client
            .replace_route()
            .route_table_id(&self.seed.tables[0])
            .destination_cidr_block(VIP)
            .network_interface_id(&self.holder().eni_id)
            .send()
            .await
            .expect("floor: ReplaceRoute");
        started.elapsed()
    }
}

/// One failover, a floor and a status on a throwaway 1-table seed (untimed).
async fn warm_up_emulator(emulator: &Emulator) {
    let (seed, _) = seeded(emulator, 1).await;
    let mut rig = Rig::new(seed, &emulator.url(), emulator);
    rig.failover().await;
    rig.floor().await;
    let status = json!({"action": "status", "group": GROUP});
    rig.handler
        .handle(status, testkit::deadline())
        .await
        .expect("status");
}

// ---------------------------------------------------------------------------
// 1, 2: failovers against the floor, on the emulator or behind a fixed latency.

/// What the timed runs measured, one entry per run.
#[derive(Default)]
struct Sample {
    failover: Vec<f64>,
    floor: Vec<f64>,
    phases: Vec<Value>,
    calls: Vec<Value>,
    cpu_ours: Vec<f64>,
    cpu_moto: Vec<f64>,
}

/// `runs` times: a floor, then a failover the other way.
async fn timed_runs(rig: &mut Rig, runs: usize) -> Sample {
    let mut s = Sample::default();
    for _ in 0..runs {
        s.floor.push(ms(rig.floor().await));
        let before = Cpu::now(rig.moto);
        let run = rig.failover().await;
        let (ours, moto) = Cpu::now(rig.moto).since(before);
        s.failover.push(ms(run.elapsed));
        s.phases.push(run.phases());
        s.calls.push(call_summary(&run.calls));
        s.cpu_ours.push(ours);
        s.cpu_moto.extend(moto);
    }
    s
}

impl Sample {
    fn to_json(&self) -> Value {
        let mut variants: Vec<&Value> = Vec::new();
        for c in &self.calls {
            if !variants.contains(&c) {
                variants.push(c);
            }
        }
        json!({
            "runs": self.failover.len(),
            "failover_ms": stats(&self.failover),
            "floor_ms": stats(&self.floor),
            "ratio_to_floor": median(&self.failover) / median(&self.floor),
            "calls": variants.first(),
            "calls_variants": variants.len(),
            "phases_median_ms": phase_medians(&self.phases),
            "cpu_ms": {"ours": mean(&self.cpu_ours), "emulator": mean(&self.cpu_moto)},
        })
    }
}

async fn plain_size(emulator: &Emulator, n: usize, settings: &Settings) -> Value {
    let (seed, direct) = seeded(emulator, n).await;
    let mut rig = Rig::new(seed, &emulator.url(), emulator);
    // A fresh handler's first invocation (a cold container: no member list, no
    // VPC CIDRs, no open connection), then one untimed warm-up.
    let first = rig.failover().await;
    let warm_up = rig.failover().await.elapsed.as_secs_f64();
    let budget_runs = (settings.size_budget / (warm_up + 0.05)) as usize;
    let runs = settings.runs.min(budget_runs.max(3));
    let sample = timed_runs(&mut rig, runs).await;
    note(&format!(
        "plain, {n} tables: failover median {:.1} ms over {runs} runs, floor {:.1} ms",
        median(&sample.failover),
        median(&sample.floor)
    ));
    let mut out = sample.to_json();
    out["tables"] = json!(n);
    out["first_invocation"] = json!({
        "ms": ms(first.elapsed),
        "calls": call_summary(&first.calls),
        "phases_ms": first.phases(),
    });
    out["cli"] = if settings.cli_sizes.contains(&n) {
        cli_baseline(&direct, &emulator.url(), &mut rig, settings).await
    } else {
        Value::Null
    };
    out
}

async fn latency_size(
    emulator: &Emulator,
    latency: Duration,
    n: usize,
    settings: &Settings,
) -> Value {
    let (seed, _) = seeded(emulator, n).await;
    let rules = Rules {
        latency: Some(latency),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&emulator.addr(), rules).await;
    let mut rig = Rig::new(seed, &proxy.url(), emulator);
    // Untimed: the member list and the VPC CIDRs are cached, as in a warm container.
    rig.failover().await;
    let sample = timed_runs(&mut rig, settings.latency_runs).await;
    note(&format!(
        "latency {} ms, {n} tables: failover median {:.1} ms, floor {:.1} ms",
        latency.as_millis(),
        median(&sample.failover),
        median(&sample.floor)
    ));
    let mut out = sample.to_json();
    out["latency_ms"] = json!(latency.as_millis() as u64);
    out["tables"] = json!(n);
    out
}

/// The same move with the `aws` CLI, table by table.
async fn cli_baseline(
    client: &Client,
    endpoint: &str,
    rig: &mut Rig,
    settings: &Settings,
) -> Value {
    if settings.cli_runs == 0 {
        return json!({"skipped": "BENCH_CLI_RUNS=0"});
    }
    if !settings.aws_cli.exists() {
        note("aws CLI not found: baseline skipped (make bench-tools installs it)");
        return json!({"skipped": format!("{} not found", settings.aws_cli.display())});
    }
    // One untimed call: the interpreter and botocore's data files in the page cache.
    let _ = Command::new(&settings.aws_cli).arg("--version").output();
    let script = Path::new(CRATE_DIR).join("scripts/cli_baseline.sh");
    let tables = &rig.seed.tables;
    let mut times = Vec::new();
    for _ in 0..settings.cli_runs {
        let to = rig.standby().eni_id.clone();
        let started = Instant::now();
        let output = tokio::task::block_in_place(|| {
            Command::new("bash")
                .arg(&script)
                .args([endpoint, VIP, &to])
                .args(tables)
                .envs(emulator_env(endpoint))
                .env("AWS_CLI", &settings.aws_cli)
                .env("AWS_PAGER", "")
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/cli_baseline.sh")
        });
        times.push(ms(started.elapsed()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "cli baseline failed: {stderr}");
        let targets = topology::targets_of(client, &rig.seed.vpc_id, VIP)
            .await
            .expect("read VIP targets");
        let moved = tables
            .iter()
            .filter(|t| targets.get(*t) == Some(&to))
            .count();
        assert_eq!(moved, tables.len(), "the CLI baseline left tables behind");
        rig.on_b = !rig.on_b;
    }
    note(&format!(
        "{} tables: aws CLI median {:.0} ms",
        tables.len(),
        median(&times)
    ));
    json!({"wall_ms": stats(&times), "cli_processes_per_run": 2 * tables.len()})
}

// ---------------------------------------------------------------------------
// 3: scale under EC2's documented throttling.

async fn throttled(emulator: &Emulator, settings: &Settings) -> Value {
    let bucket = TokenBuckets::documented().actions["ReplaceRoute"];
    let mut sizes = Vec::new();
    for &n in &settings.throttle_sizes {
        sizes.push(throttled_size(emulator, n, bucket, settings).await);
    }
    // Within the burst the limit is about zero: compare with one table instead.
    let base = sizes
        .iter()
        .find(|s| s["tables"] == 1)
        .map(|s| s["seconds"].clone());
    for s in &mut sizes {
        if let (Some(t), Some(b)) = (s["seconds"].as_f64(), base.as_ref().and_then(Value::as_f64)) {
            s["ratio_to_1_table"] = json!(t / b);
        }
    }
    json!({
        "replace_route_bucket": {"capacity": bucket.capacity, "refill_per_second": bucket.refill_per_second},
        "deadline_s": settings.throttle_deadline.as_secs(),
        "reference": {
            "name": "F5 Cloud Failover Extension, AWS (published)",
            "routes": 500,
            "seconds": 90,
            "source": "https://github.com/F5Networks/f5-cloud-failover-extension/blob/master/docs/userguide/performance-sizing.rst",
        },
        "sizes": sizes,
    })
}

/// `active` stopped in the emulator, and a handler whose calls go through a proxy
/// throttling as EC2 documents it.
async fn stopped_behind_throttling(
    emulator: &Emulator,
    direct: &Client,
    active: &Server,
    config: Config,
) -> (FaultProxy, Handler, CallLog) {
    topology::stop(direct, &active.instance_id)
        .await
        .expect("stop the active member");
    let rules = Rules {
        buckets: Some(TokenBuckets::documented()),
        ..Rules::default()
    };
    let proxy = FaultProxy::start(&emulator.addr(), rules).await;
    let (handler, calls) = testkit::handler_for(&proxy.url(), config);
    (proxy, handler, calls)
}

async fn throttled_size(
    emulator: &Emulator,
    n: usize,
    bucket: Bucket,
    settings: &Settings,
) -> Value {
    let (seed, direct) = seeded(emulator, n).await;
    let (a, b) = (&seed.server_a, &seed.server_b);
    let (proxy, handler, calls) =
        stopped_behind_throttling(emulator, &direct, a, testkit::patient()).await;
    let event = events::state_change(&a.instance_id, "stopped", None);
    let t0 = Instant::now();
    let invocations = invoke_until_done(&handler, &event, settings.throttle_deadline, n).await;
    let elapsed = t0.elapsed();
    let calls = calls.take();
    let targets = topology::targets_of(&direct, &seed.vpc_id, VIP)
        .await
        .expect("read VIP targets");
    let moved = targets.values().filter(|t| **t == b.eni_id).count();
    let stats = proxy.stats();
    let accepted = stats
        .get("ReplaceRoute")
        .map(|s| &s.accepted_at[..])
        .unwrap_or_default();
    let write_span = match (accepted.first(), accepted.last()) {
        (Some(first), Some(last)) => Some(last.duration_since(*first).as_secs_f64()),
        _ => None,
    };
    let throttled: BTreeMap<&str, usize> = stats
        .iter()
        .filter(|(_, s)| s.throttled > 0)
        .map(|(a, s)| (a.as_str(), s.throttled))
        .collect();
    let past_burst = n.saturating_sub(bucket.capacity as usize);
    let limit = past_burst as f64 / f64::from(bucket.refill_per_second);
    let seconds = elapsed.as_secs_f64();
    note(&format!(
        "throttled, {n} tables: {seconds:.1} s (limit {limit:.0} s), {} invocations, {moved} moved, {} throttled",
        invocations.len(),
        proxy.throttled()
    ));
    json!({
        "tables": n,
        "seconds": seconds,
        "limit_seconds": limit,
        "share_of_limit_speed": (limit > 0.0).then(|| limit / seconds),
        "write_span_seconds": write_span,
        "invocations": invocations,
        "tables_moved": moved,
        "throttled_total": proxy.throttled(),
        "throttled_by_action": throttled,
        "route_writes_per_second": writes_per_second(&calls),
        "calls": call_summary(&calls),
        "phases_ms": phases(t0, elapsed, &calls),
    })
}

/// Route write attempts in each second from the first one sent: answered
/// without throttling, and throttled (503).
fn writes_per_second(calls: &[Call]) -> Vec<[usize; 2]> {
    let writes: Vec<&Call> = calls.iter().filter(|c| is_route_write(&c.action)).collect();
    let Some(first) = writes.iter().map(|c| c.sent).min() else {
        return Vec::new();
    };
    let mut seconds: Vec<[usize; 2]> = Vec::new();
    for call in writes {
        let second = call.sent.duration_since(first).as_secs() as usize;
        if seconds.len() <= second {
            seconds.resize(second + 1, [0, 0]);
        }
        seconds[second][usize::from(call.status == Some(503))] += 1;
    }
    seconds
}

/// Handles `event` until the failover is done, each time with a fresh deadline
/// `budget` away; at most [`MAX_INVOCATIONS`] times. One entry per invocation.
async fn invoke_until_done(
    handler: &Handler,
    event: &Value,
    budget: Duration,
    n: usize,
) -> Vec<Value> {
    let mut invocations = Vec::new();
    while invocations.len() < MAX_INVOCATIONS {
        let started = Instant::now();
        let result = handler
            .handle(event.clone(), handler.deadline_after(budget))
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let (report, done) = match &result {
            Ok(Response::Group(report)) => (report, true),
            Err(e @ vip_failover::Error::DeadlineReached { .. }) => {
                (e.report().expect("report"), false)
            }
            other => panic!("throttled failover of {n} tables: {other:?}"),
        };
        invocations.push(json!({
            "seconds": seconds,
            "written": report.written_routes(),
            "pending": report.pending_routes().len(),
            "action": report.action,
        }));
        if done {
            break;
        }
    }
    invocations
}

// ---------------------------------------------------------------------------
// 4: churn of events for instances in no group, then the real failover.

/// `n` valid instance ids (`i-` and 17 hex digits), none of them the emulator's.
fn random_instance_ids(n: usize) -> Vec<String> {
    let mut rng = testkit::rng::Rng::from_state(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| format!("i-0{:016x}", rng.next_u64()))
        .collect()
}

async fn churn(emulator: &Emulator, ttl: Duration, settings: &Settings) -> Value {
    emulator.reset();
    let (direct, _) = emulator.client();
    let seed = topology::seed_two_az(&direct).await.expect("seed");
    let active = &seed.server_a;
    let config = Config {
        membership_ttl: ttl,
        ..testkit::patient()
    };
    let (proxy, handler, calls) =
        stopped_behind_throttling(emulator, &direct, active, config).await;
    let t0 = Instant::now();
    for (i, id) in random_instance_ids(settings.churn_events)
        .iter()
        .enumerate()
    {
        let event = events::state_change(id, CHURN_STATES[i % CHURN_STATES.len()], None);
        match handler.handle(event, testkit::deadline()).await {
            Ok(Response::Ignored { .. }) => {}
            other => panic!("a churn event for {id} was not ignored: {other:?}"),
        }
    }
    let churn_time = t0.elapsed();
    let churn_calls = calls.take();
    let event = events::state_change(&active.instance_id, "stopped", None);
    let t1 = Instant::now();
    let result = handler.handle(event, testkit::deadline()).await;
    let failover_time = t1.elapsed();
    check_failover(result, seed.tables.len(), &seed.server_b);
    note(&format!(
        "churn, member list TTL {} s: {} events in {:.0} ms with {} calls, failover served after {:.0} ms",
        ttl.as_secs(),
        settings.churn_events,
        ms(churn_time),
        churn_calls.len(),
        ms(t0.elapsed())
    ));
    json!({
        "membership_ttl_s": ttl.as_secs(),
        "events": settings.churn_events,
        "churn_ms": ms(churn_time),
        "churn_calls": call_summary(&churn_calls),
        "failover_ms": ms(failover_time),
        "failover_calls": call_summary(&calls.take()),
        "served_after_ms": ms(churn_time + failover_time),
        "throttled_total": proxy.throttled(),
    })
}

// ---------------------------------------------------------------------------
// 5: cold start under the kit's local Lambda.

/// `VmHWM` (peak resident set) and `VmRSS` of a process, in MiB.
fn memory_of(pid: u32) -> (Option<f64>, Option<f64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One start of the function, from spawn to its idle poll after one event.
struct Start {
    to_poll: f64,
    to_response: f64,
    hwm_mib: Option<f64>,
    rss_mib: Option<f64>,
    cpu_ms: Option<f64>,
}

/// Spawns the function with `event` queued and follows it until it waits for
/// the next event; its response must name `expect`.
fn start_once(lambda: &LocalLambda, event: &str, expect: &str) -> Start {
    lambda.skip_events();
    lambda.enqueue(event);
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = lambda.spawn();
    let (mut spawned, mut polled, mut responded) = (None, None, None);
    let fail = |why: String| -> ! {
        lambda.kill();
        panic!("{why}\n{}", lambda.log_text())
    };
    loop {
        let Some(next) = lambda.next_event(deadline) else {
            fail("the function did not talk to the runtime API in time".into())
        };
        match next {
            RuntimeEvent::Spawned { at, .. } => spawned = Some(at),
            RuntimeEvent::Next {
                at,
                request_id: Some(_),
            } => polled = Some(at),
            RuntimeEvent::Response { at, body, .. } => {
                if !body.contains(expect) {
                    fail(format!("unexpected status response: {body}"));
                }
                responded = Some(at);
            }
            // Waiting for the next event: read its memory and CPU now.
            RuntimeEvent::Next {
                request_id: None, ..
            } => break,
            RuntimeEvent::Error { body, .. } | RuntimeEvent::InitError { body, .. } => {
                fail(format!("the function reported an error: {body}"))
            }
        }
    }
    let (hwm_mib, rss_mib) = memory_of(pid);
    let cpu_ms = threads_cpu_ns(&format!("/proc/{pid}/task")).map(|ns| ns as f64 / 1e6);
    lambda.kill();
    let spawned = spawned.expect("spawn");
    Start {
        to_poll: ms(polled.expect("poll") - spawned),
        to_response: ms(responded.expect("response") - spawned),
        hwm_mib,
        rss_mib,
        cpu_ms,
    }
}

async fn cold_start(emulator: &Emulator, settings: &Settings) -> Value {
    emulator.reset();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    let log = std::env::temp_dir().join(format!("vip-failover-bench-{}.log", std::process::id()));
    let lambda = LocalLambda::start(
        Function::new("vip-failover", FUNCTION_BIN)
            .envs(emulator_env(&emulator.url()))
            .log(&log),
    );
    let event = json!({"action": "status", "group": GROUP}).to_string();
    // One untimed start first (the binary into the page cache), then the timed ones.
    let starts: Vec<Start> = (0..=settings.cold_runs)
        .map(|_| {
            tokio::task::block_in_place(|| start_once(&lambda, &event, &seed.server_a.instance_id))
        })
        .skip(1)
        .collect();
    drop(lambda);
    let _ = std::fs::remove_file(&log);
    let of = |pick: &dyn Fn(&Start) -> Option<f64>| {
        stats(&starts.iter().filter_map(pick).collect::<Vec<_>>())
    };
    let out = json!({
        "event": event,
        "tables": seed.tables.len(),
        "runs": starts.len(),
        "binary": FUNCTION_BIN,
        "binary_bytes": std::fs::metadata(FUNCTION_BIN).map(|m| m.len()).ok(),
        "spawn_to_first_poll_ms": of(&|s| Some(s.to_poll)),
        "spawn_to_response_ms": of(&|s| Some(s.to_response)),
        "first_poll_to_response_ms": of(&|s| Some(s.to_response - s.to_poll)),
        "peak_rss_mib": of(&|s| s.hwm_mib),
        "rss_after_response_mib": of(&|s| s.rss_mib),
        "cpu_to_idle_ms": of(&|s| s.cpu_ms),
    });
    note(&format!(
        "cold start: median {:.1} ms to the response, peak RSS {:.1} MiB",
        out["spawn_to_response_ms"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
        out["peak_rss_mib"]["median"].as_f64().unwrap_or(f64::NAN)
    ));
    out
}

// ---------------------------------------------------------------------------
// Targets, evaluated on the results: what each one asks, what was measured, met.

#[derive(Default)]
struct Targets(Vec<Value>);

impl Targets {
    fn add(&mut self, target: String, measured: String, met: bool) {
        self.0
            .push(json!({"target": target, "measured": measured, "met": met}));
    }

    /// `at` within `bound` times `base`, both medians in ms.
    fn ratio(&mut self, target: String, at: f64, base: f64, bound: f64) {
        let measured = format!("{at:.1} ms vs {base:.1} ms: {:.2}×", at / base);
        self.add(target, measured, at <= bound * base);
    }
}

/// The result at `tables` (and `latency`) in a list of results.
fn find(list: &Value, tables: usize, latency: Option<u64>) -> Option<&Value> {
    let same = |s: &&Value| s["tables"] == tables && latency.is_none_or(|l| s["latency_ms"] == l);
    list.as_array()?.iter().find(same)
}

fn med(v: &Value, key: &str) -> f64 {
    v[key]["median"].as_f64().unwrap_or(f64::NAN)
}

fn targets(r: &Value, settings: &Settings) -> Vec<Value> {
    let mut t = Targets::default();
    if r["plain"].is_array() {
        plain_targets(&mut t, &r["plain"]);
    }
    for &l in &settings.latencies_ms {
        let largest = settings
            .latency_sizes
            .iter()
            .copied()
            .filter(|&n| n > 1)
            .max();
        let Some(one) = find(&r["latency"], 1, Some(l)) else {
            continue;
        };
        let (f1, floor) = (med(one, "failover_ms"), med(one, "floor_ms"));
        let name = format!("latency {l} ms, 1 table: failover ≤ 2× the floor");
        t.ratio(name, f1, floor, 2.0);
        if let Some(big) = largest.and_then(|n| find(&r["latency"], n, Some(l))) {
            let name = format!(
                "latency {l} ms, {} tables ≤ 1.5× the 1-table time",
                big["tables"]
            );
            t.ratio(name, med(big, "failover_ms"), f1, 1.5);
        }
    }
    for s in r["throttled"]["sizes"].as_array().into_iter().flatten() {
        let seconds = s["seconds"].as_f64().unwrap_or(f64::NAN);
        let limit = s["limit_seconds"].as_f64().unwrap_or(0.0);
        if limit > 0.0 {
            let name = format!(
                "throttled, {} tables: ≥ 90 % of the limit's speed",
                s["tables"]
            );
            let measured = format!(
                "{seconds:.1} s vs {limit:.0} s: {:.0} %",
                100.0 * limit / seconds
            );
            t.add(name, measured, seconds <= limit / 0.9);
        }
    }
    let cached = r["churn"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["membership_ttl_s"] != 0);
    if let Some(c) = cached {
        let calls = c["churn_calls"]["total"].as_u64().unwrap_or(u64::MAX);
        let name = format!(
            "churn: {} events for instances in no group cost ≤ 1 call",
            c["events"]
        );
        let plural = if calls == 1 { "" } else { "s" };
        t.add(name, format!("{calls} call{plural}"), calls <= 1);
    }
    if r["cold_start"].is_object() {
        start_targets(&mut t, &r["cold_start"], settings.zip.as_deref());
    }
    probe::targets(&mut t, r);
    t.0
}

fn plain_targets(t: &mut Targets, plain: &Value) {
    if let Some(one) = find(plain, 1, None) {
        let f1 = med(one, "failover_ms");
        t.ratio(
            "plain, 1 table: failover ≤ 2× the floor".into(),
            f1,
            med(one, "floor_ms"),
            2.0,
        );
        if let Some(hundred) = find(plain, 100, None) {
            let name = "plain, 100 tables ≤ 5× the 1-table time".into();
            t.ratio(name, med(hundred, "failover_ms"), f1, 5.0);
        }
    }
    let (mut ok, mut measured) = (true, Vec::new());
    for p in plain.as_array().into_iter().flatten() {
        let n = p["tables"].as_u64().unwrap_or(0);
        let reads = p["calls"]["ec2_reads"].as_u64().unwrap_or(u64::MAX);
        let writes = p["calls"]["ec2_writes"].as_u64().unwrap_or(u64::MAX);
        ok &= reads <= 4 && writes <= n + 1;
        measured.push(format!("{n}: {reads} + {writes}"));
    }
    let name = "warm failover (by tables): EC2 reads ≤ 4, EC2 writes ≤ tables + 1".into();
    t.add(name, measured.join("; "), ok);
    let ten = find(plain, 10, None);
    if let Some(cli) = ten.map(|p| &p["cli"]).filter(|c| c["wall_ms"].is_object()) {
        let (ours, theirs) = (
            med(ten.unwrap_or(&Value::Null), "failover_ms"),
            med(cli, "wall_ms"),
        );
        let measured = format!("{theirs:.0} ms vs {ours:.1} ms: {:.0}×", theirs / ours);
        t.add(
            "10 tables: ≥ 10× faster than the aws CLI".into(),
            measured,
            theirs >= 10.0 * ours,
        );
    }
}

fn start_targets(t: &mut Targets, cold: &Value, zip: Option<&Path>) {
    let start = med(cold, "spawn_to_response_ms");
    let name = "cold start < 50 ms (spawn to the response of `status`)".into();
    t.add(name, format!("{start:.1} ms"), start < 50.0);
    let rss_mb = med(cold, "peak_rss_mib") * 1.048_576;
    t.add(
        "peak RSS < 40 MB".into(),
        format!("{rss_mb:.1} MB"),
        rss_mb < 40.0,
    );
    if let Some(bytes) = zip.and_then(|z| std::fs::metadata(z).ok()).map(|m| m.len()) {
        let measured = format!("{:.2} MB", bytes as f64 / 1e6);
        t.add("Lambda zip < 5 MB".into(), measured, bytes < 5_000_000);
    }
}
