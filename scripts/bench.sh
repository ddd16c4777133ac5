#!/usr/bin/env bash
# `make bench` (issue 6): builds in release, measures against the local EC2
# emulator on loopback, and writes BENCHMARKS.md from that one run.
#
#   scripts/bench.sh          build, package, measure, render BENCHMARKS.md
#   scripts/bench.sh render   render BENCHMARKS.md again from the last run's JSON
#
# Steps:
#   1. `cargo bench --no-run`: the bench binary and the release `vip-failover`
#      binary (release profile: lto, opt-level "s", strip, panic=abort).
#   2. The arm64 Lambda zip with cargo-lambda, in $ARM64_TARGET_DIR (the same
#      target directory as `make build` and `sam build`, so nothing is built
#      twice). If the arm64 build fails, the x86_64 release binary is zipped instead
#      and BENCHMARKS.md says so.
#   3. `cargo bench --bench failover` (benches/failover.rs): latency, floor, EC2
#      calls, cold start, aws CLI baseline -> $BENCH_DIR/results.json.
#   4. Machine, versions and artifact sizes -> $BENCH_DIR/env.json; both JSON
#      files are rendered into BENCHMARKS.md.
#
# Knobs (environment): BENCH_SIZES, BENCH_RUNS, BENCH_COLD_RUNS, BENCH_CLI_RUNS,
# BENCH_CLI_SIZES, BENCH_WATCH=1 (add a cargo lambda watch reference); see
# benches/failover.rs. BENCH_DIR (default target/bench), BENCH_MD (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
FUNCTION=vip-failover
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench}
BENCH_MD=${BENCH_MD:-$ROOT/BENCHMARKS.md}
ARM64_TARGET_DIR=${ARM64_TARGET_DIR:-$ROOT/target/arm64}
RESULTS=$BENCH_DIR/results.json
ENV_JSON=$BENCH_DIR/env.json
export BENCH_OUT=$RESULTS

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
now() { date +%s.%N; }

render() {
    [[ -f $RESULTS && -f $ENV_JSON ]] || { echo "bench: no results in $BENCH_DIR: run 'make bench'" >&2; exit 1; }
    python3 - "$RESULTS" "$ENV_JSON" "$BENCH_MD" <<'PY'
import json, sys

results_path, env_path, md_path = sys.argv[1:4]
R = json.load(open(results_path))
E = json.load(open(env_path))
sizes = R["sizes"]
by_n = {s["tables"]: s for s in sizes}
cold = R["cold_start"]
art = E.get("artifact", {})
out = []
w = out.append


def f(x, unit=" ms", nd=None):
    if x is None:
        return "n/a"
    if nd is None:
        nd = 1 if abs(x) < 100 else 0
    return f"{x:,.{nd}f}{unit}"


def st(s, unit=" ms"):
    return (f(s["median"], unit), f(s["min"], unit), f(s["max"], unit)) if s else ("n/a",) * 3


def ratio(x, base):
    return f"{x / base:.2f}x" if x and base else "n/a"


def calls(c):
    return f"{c['reads']} + {c['writes']}" if c else "n/a"


def verdict(ok):
    return "**met**" if ok else "**missed**"


floor1 = by_n.get(1, sizes[0])["floor_ms"]["median"] if sizes else None
w("# Benchmarks")
w("")
w(f"Measured by `make bench` on {E['date']} at commit `{E['git']['commit']}`"
  + ((" with uncommitted changes in " + ", ".join(f"`{c}`" for c in E["git"].get("changed", [])))
     if E["git"].get("changed") else " with uncommitted changes" if E["git"]["dirty"] else "")
  + f". Every number below comes from that one run (`{E['paths']['results']}`); "
  "`scripts/bench.sh render` re-renders this file from it without measuring again.")
w("")
w("All EC2 calls go to one `moto_server` (the EC2 emulator of the tests) on 127.0.0.1, "
  "so absolute times are the emulator's, not AWS's: moto answers one call in a few "
  "milliseconds and is slower than EC2 with many tables (it is Python). What carries over "
  "to AWS is the shape: how many calls, how many sequential round trips, and what our "
  "process adds on top of them.")
w("")
if E.get("timing"):
    t = E["timing"]
    total = f"{t['total_s']:.0f} s" if "total_s" in t else "(total not recorded)"
    w(f"This `make bench` took {total}: build {t['build_s']:.0f} s "
      f"(`cargo bench --no-run`, release profile with LTO), arm64 package {t['package_s']:.0f} s, "
      f"measurements {t['measure_s']:.0f} s. Load average before/after the measurements: "
      f"{E['load_before']} / {E['load_after']} on {E['machine']['nproc']} CPUs.")
    w("")

# -- Results -------------------------------------------------------------------
w("## Results")
w("")
w("| scenario | median | min | max | ratio to floor | EC2 calls (reads + writes) | runs |")
w("|---|---:|---:|---:|---:|---|---:|")
for s in sizes:
    m, lo, hi = st(s["floor_ms"])
    w(f"| floor: DescribeInstances + ReplaceRoute ({s['tables']} table{'s' if s['tables'] != 1 else ''}) "
      f"| {m} | {lo} | {hi} | 1.00x | 1 + 1 | {s['runs']} |")
for s in sizes:
    m, lo, hi = st(s["latency_ms"])
    n = s["tables"]
    w(f"| failover, {n} table{'s' if n != 1 else ''} (warm) | {m} | {lo} | {hi} "
      f"| {ratio(s['latency_ms']['median'], s['floor_ms']['median'])} "
      f"| {calls(s['calls_warm'])} (first in a process: {calls(s['calls_cold'])}) | {s['runs']} |")
for s in sizes:
    n = s["tables"]
    w(f"| failover, {n} table{'s' if n != 1 else ''}, first invocation of a fresh handler "
      f"| {f(s['first_invocation_ms'])} | | | {ratio(s['first_invocation_ms'], s['floor_ms']['median'])} "
      f"| {calls(s['calls_cold'])} | 1 |")
for s in sizes:
    c = s.get("cli")
    if not c or "wall_ms" not in c:
        continue
    n = s["tables"]
    m, lo, hi = st(c["wall_ms"])
    w(f"| baseline: aws CLI, {n} table{'s' if n != 1 else ''} (describe + replace per table) "
      f"| {m} | {lo} | {hi} | {ratio(c['wall_ms']['median'], s['floor_ms']['median'])} "
      f"| {n} + {n} ({c['cli_calls_per_run']} CLI processes) | {c['wall_ms']['n']} |")
m, lo, hi = st(cold["spawn_to_response_ms"])
w(f"| cold start: spawn to response, `status` event ({cold['tables']} tables) | {m} | {lo} | {hi} "
  f"| | 4 + 0 | {cold['runs']} |")
m, lo, hi = st(cold["spawn_to_first_poll_ms"])
w(f"| cold start: spawn to first poll of the runtime API (init only) | {m} | {lo} | {hi} | | 0 | {cold['runs']} |")
m, lo, hi = st(cold["first_poll_to_response_ms"])
w(f"| cold start: first poll to response (the first `status`, 4 EC2 calls) | {m} | {lo} | {hi} | | 4 + 0 | {cold['runs']} |")
m, lo, hi = st(cold["peak_rss_mib"], " MiB")
w(f"| peak RSS (VmHWM) after the first event | {m} | {lo} | {hi} | | | {cold['runs']} |")
if art.get("zip_bytes"):
    w(f"| {art['arch']} `bootstrap.zip` | {art['zip_bytes'] / 1e6:.2f} MB ({art['zip_bytes']:,} bytes) | | | | | 1 |")
    w(f"| {art['arch']} `bootstrap` (unzipped) | {art['bootstrap_bytes'] / 1e6:.2f} MB ({art['bootstrap_bytes']:,} bytes) | | | | | 1 |")
    w(f"| {art['arch']} `bootstrap`, gzip -9 | {art['gzip_bytes'] / 1e6:.2f} MB ({art['gzip_bytes']:,} bytes) | | | | | 1 |")
w("")
w("The ratio to the floor divides by the floor measured at the same table count, in the same "
  "run (each timed failover follows one floor measurement, with the same SDK client). "
  "Failovers alternate direction: serverA to serverB, then back. A failover is timed from "
  "`Handler::handle(event)` to its return, so it includes the handler's own verification read; "
  "every run is checked: all routes `replaced` and verified on the target ENI. "
  "\"Warm\" runs follow one untimed failover on the same handler (the warm Lambda container); "
  "\"first in a process\" is the first invocation of a fresh handler (no cached VPC CIDRs, no "
  "open connection).")
notes = [s["runs_note"] for s in sizes if s.get("runs_note")]
for note in notes:
    w("")
    w(f"Fewer runs: {note}.")
w("")

# -- Targets -------------------------------------------------------------------
w("## Targets")
w("")
w("| target | measured | verdict |")
w("|---|---|---|")
s1 = by_n.get(1)
if s1:
    r1 = s1["latency_ms"]["median"] / s1["floor_ms"]["median"]
    w(f"| 1 table within 2x the floor | {f(s1['latency_ms']['median'])} vs {f(s1['floor_ms']['median'])}: "
      f"{r1:.2f}x | {verdict(r1 <= 2)} |")
s100 = by_n.get(100)
if s1 and s100:
    r = s100["latency_ms"]["median"] / s1["latency_ms"]["median"]
    w(f"| 100 tables within 5x the 1-table time | {f(s100['latency_ms']['median'])} vs "
      f"{f(s1['latency_ms']['median'])}: {r:.2f}x | {verdict(r <= 5)} |")
ok_calls = True
parts = []
for s in sizes:
    n = s["tables"]
    c = s["calls_warm"]
    ba = c["by_action"]
    route_writes = ba.get("ReplaceRoute", 0) + ba.get("CreateRoute", 0)
    verify = 1
    bookkeeping = ba.get("CreateTags", 0)
    core_reads = c["reads"] - verify
    core_writes = c["writes"] - bookkeeping
    ok = core_reads <= 3 and core_writes <= n
    ok_calls &= ok
    cc = s["calls_cold"]
    parts.append(f"{n}: warm {c['reads']} + {c['writes']}, first {cc['reads']} + {cc['writes']}")
w(f"| EC2 calls: 3 reads + 1 write per table or fewer, plus the verification read and the "
  f"CreateTags of the hold-down | {'; '.join(parts)} | {verdict(ok_calls)} when warm; the first "
  f"invocation in a process adds DescribeVpcs (then cached) |")
cs = cold["spawn_to_response_ms"]["median"]
w(f"| cold start under 50 ms (spawn to response of `status`, x86_64 here) | {f(cs)} "
  f"(init alone {f(cold['spawn_to_first_poll_ms']['median'])}) | {verdict(cs < 50)} |")
rss = cold["peak_rss_mib"]["median"]
w(f"| peak RSS under 40 MB | {f(rss, ' MiB')} = {rss * 1.048576:.1f} MB | {verdict(rss * 1.048576 < 40)} |")
if art.get("zip_bytes"):
    w(f"| zip under 5 MB | {art['zip_bytes'] / 1e6:.2f} MB ({art['arch']}) | {verdict(art['zip_bytes'] < 5e6)} |")
s10 = by_n.get(10)
if s10 and s10.get("cli") and "wall_ms" in s10["cli"]:
    sp = s10["cli"]["wall_ms"]["median"] / s10["latency_ms"]["median"]
    w(f"| at least 10x faster than the aws CLI at 10 tables | {f(s10['cli']['wall_ms']['median'])} vs "
      f"{f(s10['latency_ms']['median'])}: {sp:.0f}x | {verdict(sp >= 10)} |")
if s1 and s1.get("cli") and "wall_ms" in s1["cli"]:
    sp = s1["cli"]["wall_ms"]["median"] / s1["latency_ms"]["median"]
    w(f"| (for reference) speedup over the aws CLI at 1 table | {f(s1['cli']['wall_ms']['median'])} vs "
      f"{f(s1['latency_ms']['median'])}: {sp:.0f}x | |")
w("")

# -- EC2 calls -----------------------------------------------------------------
w("## EC2 calls per failover")
w("")
w("From the test harness's `CallLog` interceptor (every action sent on the wire, retries included).")
w("")
w("| tables | first in a process: reads + writes | warm: reads + writes | warm, by action |")
w("|---:|---|---|---|")
for s in sizes:
    c = s["calls_warm"]
    by = ", ".join(f"{a} {k}" for a, k in sorted(c["by_action"].items()))
    extra = "" if s.get("calls_warm_variants", 1) == 1 else f" ({s['calls_warm_variants']} different counts across runs)"
    w(f"| {s['tables']} | {calls(s['calls_cold'])} | {calls(c)}{extra} | {by} |")
w("")
w("Reads when warm: DescribeInstances (the group), DescribeInstanceStatus and DescribeRouteTables "
  "(one concurrent round), DescribeRouteTables again to verify the written tables. Writes: one "
  "ReplaceRoute per table and one CreateTags (all tables in one call) that records the move for "
  "the anti-flap hold-down. The first invocation in a process also reads DescribeVpcs (the VPC "
  "CIDRs, cached for 5 minutes afterwards).")
w("")

# -- Phases --------------------------------------------------------------------
w("## Where the time goes")
w("")
w("A second interceptor timestamps every EC2 call (request sent, answer parsed). Medians per "
  "phase over the warm runs, in ms. A phase runs from its first request to its last parsed "
  "answer; \"between calls\" is the rest of the failover: our code (event parsing, decision, "
  "report, logs) and task scheduling.")
w("")
w("| tables | DescribeInstances | read round | route writes | CreateTags | verify | in EC2 calls | between calls | total |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in sizes:
    p = s["phases_median_ms"]
    w("| " + " | ".join([str(s["tables"])] + [f(p.get(k), "") for k in
      ["describe_instances", "read_round", "route_writes", "create_tags", "verify", "in_calls",
       "between_calls", "total"]]) + " |")
w("")
w("Mean time of one call, per action (warm runs, ms; concurrent calls overlap):")
w("")
actions = ["DescribeInstances", "DescribeInstanceStatus", "DescribeRouteTables", "ReplaceRoute", "CreateTags"]
w("| tables | " + " | ".join(actions) + " | floor: DescribeInstances | floor: ReplaceRoute |")
w("|---:|" + "---:|" * (len(actions) + 2))
for s in sizes:
    pc = s["phases_median_ms"].get("per_call", {})
    cells = [f(pc.get(a, {}).get("mean_ms"), "") for a in actions]
    w(f"| {s['tables']} | " + " | ".join(cells)
      + f" | {f(s['floor_describe_instances_ms']['median'], '')} | {f(s['floor_replace_route_ms']['median'], '')} |")
w("")
w("CPU time per run (ms): our process (handler, SDK, runtime; summed over its threads) and the "
  "emulator (moto_server's utime + stime, 10 ms ticks, averaged over the runs):")
w("")
w("| tables | failover: ours | failover: emulator | floor: ours | floor: emulator |")
w("|---:|---:|---:|---:|---:|")
for s in sizes:
    c = s.get("cpu_ms", {})
    w(f"| {s['tables']} | {f(c.get('failover_ours'), '')} | {f(c.get('failover_emulator'), '')} "
      f"| {f(c.get('floor_ours'), '')} | {f(c.get('floor_emulator'), '')} |")
w("")

# -- Cold start ----------------------------------------------------------------
w("## Cold start")
w("")
w(f"The release `vip-failover` binary ({f((cold.get('binary_bytes') or 0) / 1e6, ' MB', 2)}, x86_64: the arm64 "
  "build cannot run on this machine) is started with a Lambda environment "
  "(`AWS_LAMBDA_RUNTIME_API` served by the bench on 127.0.0.1, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, "
  "dummy credentials, `AWS_ENDPOINT_URL` = the emulator). The bench hands it one "
  f"`{json.dumps(cold['event'])}` event against the {cold['tables']}-table seed and times spawn to the "
  "first `GET /runtime/invocation/next` (init: tracing, configuration, SDK client) and spawn to the "
  "response POST (init + the first invocation, 4 EC2 calls on a new connection). Peak RSS is "
  "VmHWM from `/proc/PID/status` once the function polls for its next event; then it is killed. "
  f"Median of {cold['runs']} starts after one untimed start. Lambda's own cold start (fetching the "
  "zip, the micro-VM, the runtime) comes on top and is not measured here.")
w("")
wr = R.get("cargo_lambda_watch") or {}
w("For reference, one `cargo lambda watch` session (a debug build, and `cargo lambda invoke` "
  "processes in the path), `status` event:")
w("")
if "first_invoke_ms" in wr:
    w(f"- watcher listening after {f(wr['watch_listening_ms'])}; first invoke (build check, function start, "
      f"invocation) {f(wr['first_invoke_ms'])}; next invokes median {f(wr['warm_invoke_ms']['median'])} "
      f"(min {f(wr['warm_invoke_ms']['min'])}, max {f(wr['warm_invoke_ms']['max'])}).")
else:
    w(f"- not measured in this run: {wr.get('skipped') or wr.get('failed') or 'no result'}. "
      "`cargo lambda watch` builds the function in debug with its own flags, so its first build "
      "compiles the whole AWS SDK again (minutes on 2 cores), and it restarts on every change "
      "in the crate; that is not a measurement of the function.")
w("")

# -- Artifact ------------------------------------------------------------------
w("## Artifact")
w("")
if art:
    w(f"`{art['command']}` ({art['arch']}). {art.get('note', '')}".rstrip())
    w("")
    w(f"- `bootstrap`: {art['bootstrap_bytes']:,} bytes ({art['bootstrap_bytes'] / 1e6:.2f} MB, "
      f"{art['bootstrap_bytes'] / 2**20:.2f} MiB)")
    w(f"- `bootstrap.zip`: {art['zip_bytes']:,} bytes ({art['zip_bytes'] / 1e6:.2f} MB, {art['zip_bytes'] / 2**20:.2f} MiB)")
    w(f"- `bootstrap`, gzip -9: {art['gzip_bytes']:,} bytes ({art['gzip_bytes'] / 1e6:.2f} MB)")
w("")

# -- Analysis ------------------------------------------------------------------
def pc(s, action):
    return s["phases_median_ms"].get("per_call", {}).get(action, {}).get("mean_ms")


def ph(s, key):
    return s["phases_median_ms"].get(key)


w("## Analysis: what is ours, what is the emulator's")
w("")
if s1:
    c1 = s1.get("cpu_ms", {})
    wi = s1.get("what_if_tags_with_verify") or {}
    extra = s1["latency_ms"]["median"] - s1["floor_ms"]["median"]
    w(f"**1 table: {s1['latency_ms']['median'] / s1['floor_ms']['median']:.2f}x the floor.** A warm failover makes "
      "6 EC2 calls in 5 sequential steps (DescribeInstances; DescribeInstanceStatus and DescribeRouteTables "
      "together; ReplaceRoute; CreateTags; DescribeRouteTables to verify) where the floor makes 2, so it pays "
      f"4 more emulator calls: {f(extra)} above the floor. Our code between the calls takes "
      f"{f(ph(s1, 'between_calls'))} of {f(ph(s1, 'total'))}. Per failover our process used "
      f"{f(c1.get('failover_ours'))} of CPU (handler, SDK, runtime) and moto {f(c1.get('failover_emulator'))}: "
      "the wall time is the emulator's. moto is one Python process that effectively serves one request at "
      f"a time, so the concurrent read round costs {f(ph(s1, 'read_round'))} (DescribeInstanceStatus "
      f"{f(pc(s1, 'DescribeInstanceStatus'))} and DescribeRouteTables {f(pc(s1, 'DescribeRouteTables'))} "
      "per call). 2x would need the 4 extra calls to cost no more than the floor's 2. On an emulator "
      "that serializes calls only fewer calls can get there: not faster code (it is already under "
      "1 ms per failover between calls), and not more concurrency.")
    w("")
    if wi.get("sequential_ms"):
        w(f"Measured what-if: CreateTags and the verification read need only the list of written tables, "
          f"but the handler runs them one after the other. Timed with the same client: "
          f"{f(wi['sequential_ms']['median'])} in sequence, {f(wi['joined_ms']['median'])} joined at 1 table"
          + (f"; {f(by_n[100]['what_if_tags_with_verify']['sequential_ms']['median'])} and "
             f"{f(by_n[100]['what_if_tags_with_verify']['joined_ms']['median'])} at 100 tables"
             if 100 in by_n and by_n[100].get("what_if_tags_with_verify") else "")
          + ". moto serializes the pair, so joining them gains little here; against EC2, where the two "
          "calls should run in parallel, it would take one round trip off every failover.")
        w("")
if s1 and s100:
    c100 = s100.get("cpu_ms", {})
    writes = ph(s100, "route_writes")
    w(f"**100 tables: {s100['latency_ms']['median'] / s1['latency_ms']['median']:.1f}x the 1-table time.** "
      f"The 100 ReplaceRoute calls take {f(writes)}, {f(writes / 100, ' ms', 2)} per write, about what one "
      f"ReplaceRoute costs alone in the floor ({f(s100['floor_replace_route_ms']['median'])}): with 16 writes "
      "in flight, moto still executes them one after the other, and each write waits "
      f"{f(pc(s100, 'ReplaceRoute'))} on average, mostly in moto's queue. Each DescribeRouteTables grows "
      f"with the VPC: {f(pc(s1, 'DescribeRouteTables'))} at 1 table, {f(pc(s100, 'DescribeRouteTables'))} at 100"
      + (f", {f(pc(by_n[250], 'DescribeRouteTables'))} at 250" if 250 in by_n else "")
      + " (the load and the verification both read every table). moto burned "
      f"{f(c100.get('failover_emulator'))} of CPU per 100-table failover, "
      f"{(c100.get('failover_emulator') or 0) / s1['latency_ms']['median']:.0f} times the whole 1-table "
      "failover: 5x is out of reach on this emulator whatever the client does. Our process used "
      f"{f(c100.get('failover_ours'))} of CPU (building, signing and sending 105 requests, parsing two "
      f"100-table answers), overlapped with moto's work; between calls {f(ph(s100, 'between_calls'))}. "
      "Against EC2, which is not one Python process, writes to different tables should proceed in "
      "parallel: with 16 in flight the write phase would be about 7 round trips for 100 tables, and a "
      "DescribeRouteTables of 100 tables stays one call.")
    w("")
if cold.get("cpu_to_first_response_ms"):
    cc = cold["cpu_to_first_response_ms"]["median"]
    w(f"**Cold start.** Init (tracing, configuration, SDK client) takes {f(cold['spawn_to_first_poll_ms']['median'])}; "
      f"the rest of the {f(cold['spawn_to_response_ms']['median'])} is the first `status`: 4 EC2 calls on a new "
      f"connection, about {f(cold['first_poll_to_response_ms']['median'])}. The process used {f(cc)} of CPU up to "
      f"its first response and peaks at {f(cold['peak_rss_mib']['median'], ' MiB')} resident.")
    w("")
if s1 and s100:
    w("**CPU at 128 MB.** The template gives the function 128 MB; Lambda allocates CPU in proportion to "
      "memory (one vCPU at 1,769 MB), so about 7% of a vCPU. The CPU time measured here on a full core, "
      f"{f(s1['cpu_ms'].get('failover_ours'))} per warm 1-table failover and {f(s100['cpu_ms'].get('failover_ours'))} "
      "at 100 tables, can stretch by up to 14x in wall time when the function is CPU-bound at 128 MB. "
      "These numbers cannot show that (the bench runs on full cores); a deployed test at 128 MB and at a "
      "larger memory size would.")
    w("")

w("## What would move the numbers (not applied: src/ is outside the bench)")
w("")
w("- `src/handler.rs`, `Handler::run`: `record_move` (CreateTags) is awaited before the verification "
  "`route_tables(None, Some(written))`; both need only `written`. Joining them (`tokio::join!`) takes one "
  "EC2 round trip off every failover that moves the VIP. On moto the what-if above shows no gain, "
  "because moto serializes the two calls.")
w("- `Handler::load`: DescribeRouteTables waits for DescribeInstances only to learn the VPC. A warm "
  "container could remember the group's VPC (as `Ec2::vpc_cidrs` caches CIDRs) and start reading "
  "its tables together with DescribeInstances, discarding the read if the VPC changed. That takes "
  "DescribeRouteTables off the critical path on warm invocations; DescribeInstanceStatus still "
  "needs the member ids, unless those are remembered too.")
w("- 100+ tables on moto are bound by moto (serial writes, DescribeRouteTables linear in tables); "
  "nothing on our side changes that. On EC2, WRITE_CONCURRENCY bounds the write phase at "
  "ceil(n/16) round trips; EC2's request throttling, not our CPU, would be the next limit.")
w("- Memory size: see \"CPU at 128 MB\" above; worth a measurement on AWS before changing the template.")
w("")

# -- Machine -------------------------------------------------------------------
m = E["machine"]
v = E["versions"]
w("## Machine and versions")
w("")
w(f"- {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total']} memory, Linux {m['kernel']}")
w(f"- {v['rustc']}; {v['cargo_lambda']}")
w(f"- aws-sdk-ec2 {v['aws-sdk-ec2']}, aws-config {v['aws-config']}, lambda_runtime {v['lambda_runtime']}, "
  f"tokio {v['tokio']} (Cargo.lock)")
w(f"- moto {v['moto']} (`.venv`), {v['awscli']} (`.venv-bench`)")
w(f"- release profile: opt-level \"s\", lto, codegen-units 1, strip, panic=abort; "
  f"WRITE_CONCURRENCY {R['settings']['write_concurrency']}")
w("")
w("## How to reproduce")
w("")
w("```sh")
w("make bench                      # build, package, measure, write BENCHMARKS.md")
w("scripts/bench.sh render         # re-render from target/bench/*.json")
w("BENCH_SIZES=1,10 BENCH_RUNS=7 make bench   # a shorter run")
w("```")
w("")
w("`make bench` installs moto and cargo-lambda (`.venv`) and the aws CLI (`.venv-bench`, "
  "`requirements-bench.txt`), builds `cargo bench --bench failover --no-run` (release profile; "
  "cargo also builds the release `vip-failover` binary the bench starts), packages the arm64 zip "
  "in `target/arm64` with cargo-lambda, then runs `benches/failover.rs`. Knobs: `BENCH_SIZES` "
  "(1,10,100,250), `BENCH_RUNS` (15), `BENCH_SIZE_BUDGET_S` (60 s of runs per table count at most), "
  "`BENCH_COLD_RUNS` (15), `BENCH_CLI_RUNS` (5), `BENCH_CLI_SIZES` (1,10), `BENCH_WATCH` (0). "
  "Nothing leaves 127.0.0.1. The numbers are noisy when other builds run on the machine: "
  "compare the load averages above.")
open(md_path, "w").write("\n".join(out) + "\n")
print(f"bench: wrote {md_path}", file=sys.stderr)
PY
}

# Machine, versions, artifact sizes and timings -> $ENV_JSON. Reads T0..T3,
# LOAD_BEFORE, LOAD_AFTER, ZIP and ARTIFACT_* from the environment.
collect_env() {
    export RESULTS ENV_JSON ROOT
    python3 - <<'PY'
import datetime, gzip, json, os, re, subprocess, tomllib, zipfile

env = os.environ
root = env["ROOT"]


def run(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=root)
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[0]
    except Exception as e:  # a missing tool is reported, not fatal
        return f"unavailable ({e})"


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def mem_total():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            kb = int(line.split()[1])
            return f"{kb / 2**20:.1f} GiB"
    return "unknown"


lock = tomllib.load(open(os.path.join(root, "Cargo.lock"), "rb"))
def locked(name):
    return ", ".join(sorted({p["version"] for p in lock["package"] if p["name"] == name})) or "?"


zip_path = env["ZIP"]
with zipfile.ZipFile(zip_path) as z:
    info = z.getinfo("bootstrap")
    data = z.read("bootstrap")
artifact = {
    "arch": env["ARTIFACT_ARCH"],
    "command": env["ARTIFACT_CMD"],
    "note": env["ARTIFACT_NOTE"],
    "zip": os.path.relpath(zip_path, root),
    "zip_bytes": os.path.getsize(zip_path),
    "bootstrap_bytes": info.file_size,
    "gzip_bytes": len(gzip.compress(data, compresslevel=9)),
}
status = subprocess.run(
    ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--",
     "src", "Cargo.toml", "Cargo.lock"],
    capture_output=True, text=True, cwd=root).stdout
t0, t1, t2, t3 = (float(env[k]) for k in ("T0", "T1", "T2", "T3"))
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "git": {"commit": run("git", "rev-parse", "--short", "HEAD"), "dirty": bool(status.strip()),
            "changed": [line[3:] for line in status.splitlines() if line.strip()]},
    "machine": {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "mem_total": mem_total(),
                "kernel": open("/proc/sys/kernel/osrelease").read().strip()},
    "versions": {
        "rustc": run("rustc", "-V"),
        "cargo_lambda": run("cargo", "lambda", "--version"),
        "moto": run(os.path.join(root, ".venv/bin/python"), "-c", "import moto; print(moto.__version__)"),
        "awscli": run(os.path.join(root, ".venv-bench/bin/aws"), "--version").split(" Python")[0],
        "aws-sdk-ec2": locked("aws-sdk-ec2"), "aws-config": locked("aws-config"),
        "lambda_runtime": locked("lambda_runtime"), "tokio": locked("tokio"),
    },
    "artifact": artifact,
    "load_before": env["LOAD_BEFORE"], "load_after": env["LOAD_AFTER"],
    "timing": {"build_s": t1 - t0, "package_s": t2 - t1, "measure_s": t3 - t2},
    "paths": {"results": os.path.relpath(env["RESULTS"], root)},
}
json.dump(doc, open(env["ENV_JSON"], "w"), indent=2)
PY
}

if [[ ${1:-} == render ]]; then
    render
    exit 0
fi

command -v cargo-lambda >/dev/null 2>&1 || { echo "bench: cargo-lambda is not on PATH: run 'make tools'" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
t0=$(now)

step "build: cargo bench --bench failover --no-run (release profile, LTO; the first build takes ~10 min or more)"
cargo bench --bench failover --no-run --locked
t1=$(now)

step "package: cargo lambda build --release --arm64 --output-format zip (CARGO_TARGET_DIR=$ARM64_TARGET_DIR)"
ARTIFACT_ARCH=arm64
ARTIFACT_NOTE=""
ARTIFACT_CMD="CARGO_TARGET_DIR=target/arm64 cargo lambda build --release --arm64 --bin $FUNCTION --output-format zip"
ZIP=$ARM64_TARGET_DIR/lambda/$FUNCTION/bootstrap.zip
rm -f "$ZIP"
if ! CARGO_TARGET_DIR=$ARM64_TARGET_DIR cargo lambda build --release --arm64 --bin "$FUNCTION" \
        --output-format zip || [[ ! -f $ZIP ]]; then
    echo "bench: WARNING: the arm64 build failed; measuring the x86_64 release binary instead" >&2
    ARTIFACT_ARCH=x86_64
    ARTIFACT_NOTE="The arm64 build failed on this machine, so this is the x86_64 release binary built by cargo bench, zipped as bootstrap with zip -9."
    ARTIFACT_CMD="cargo build --release --bin $FUNCTION; zip -9 bootstrap.zip bootstrap"
    pkg=$BENCH_DIR/x86_64
    rm -rf "$pkg" && mkdir -p "$pkg"
    cp "$ROOT/target/release/$FUNCTION" "$pkg/bootstrap"
    (cd "$pkg" && zip -q -9 bootstrap.zip bootstrap)
    ZIP=$pkg/bootstrap.zip
fi
t2=$(now)

step "measure: cargo bench --bench failover (emulator on 127.0.0.1)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# The handler prints one EMF metrics line per decision on stdout, as in Lambda.
cargo bench --bench failover --locked >"$BENCH_DIR/handler-stdout.log"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
t3=$(now)

step "machine, versions, artifact sizes"
export T0=$t0 T1=$t1 T2=$t2 T3=$t3 LOAD_BEFORE=$load_before LOAD_AFTER=$load_after \
    ZIP ARTIFACT_ARCH ARTIFACT_NOTE ARTIFACT_CMD RESULTS ENV_JSON ROOT
collect_env
t4=$(now)
python3 - "$ENV_JSON" "$t0" "$t4" <<'PY'
import json, sys
path, t0, t4 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
doc = json.load(open(path))
doc["timing"]["total_s"] = t4 - t0
json.dump(doc, open(path, "w"), indent=2)
PY
render
python3 -c "import sys; print(f'bench: done in {float(sys.argv[2]) - float(sys.argv[1]):.0f} s', file=sys.stderr)" "$t0" "$(now)"
