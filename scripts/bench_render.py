#!/usr/bin/env python3
"""Usage: scripts/bench_render.py RESULTS_JSON ENV_JSON MARKDOWN

Renders a `make bench` run (RESULTS_JSON from benches/failover.rs, ENV_JSON from
scripts/bench.sh) into the blocks between `<!-- bench:NAME -->` and `<!-- /bench -->`
of MARKDOWN; the hand-written prose around them is left alone.
"""
import json, os, re, sys  # noqa: E401


def num(x, unit="", nd=None):
    if x is None:
        return "n/a"
    x = float(x)
    nd = (0 if abs(x) >= 100 else 1) if nd is None else nd
    return f"{x:,.{nd}f}{unit}"


def ms(x):
    return num(x, " ms")


def times(x):
    return num(x, "×", 2)


def spread(s, f=ms):
    return f"{f(s['median'])} ({f(s['min'])} to {f(s['max'])})" if s else "n/a"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def by_action(counts):
    return ", ".join(f"{a} {k}" for a, k in counts.items()) or "none"


def run_block(R, E):
    out = []
    if R["profile"] == "debug":
        out += ["**Debug smoke run: placeholder numbers.** A debug build with small sizes and few runs; "
                "`make bench` replaces them with a release run.", ""]
    changed = f" with uncommitted changes in {E['changed']}" if E.get("changed") else ""
    out.append(f"Measured on {E['date']} at commit `{E['commit']}`{changed}; results in `{E['results']}`.")
    if E.get("total_s"):
        out.append(f"The run took {E['total_s']} s: build {E['build_s']} s, package {E['package_s']} s, "
                   f"measurements {E['measure_s']} s.")
    return out + [f"Load average before / after the measurements: {E['load_before']} / {E['load_after']} "
                  f"on {E['nproc']} CPUs."]


def targets_block(R, E):
    return table(["target", "measured", "verdict"], [[t["target"], t["measured"], "**met**" if t["met"]
                                                      else "**missed**"] for t in R["targets"]])


def plain_block(R, E):
    rows = []
    for s in R.get("plain", []):
        cli = (s.get("cli") or {}).get("wall_ms")
        rows.append([s["tables"], spread(s["failover_ms"]), ms(s["floor_ms"]["median"]), times(s["ratio_to_floor"]),
                     ms(s["first_invocation"]["ms"]), s["runs"], spread(cli),
                     num(cli["median"] / s["failover_ms"]["median"], "×", 0) if cli else ""])
    return table(["tables", "failover: median (min to max)", "floor", "÷ floor", "first invocation", "runs",
                  "aws CLI: median (min to max)", "aws CLI ÷ failover"], rows)


def calls_block(R, E):
    calls = lambda c: f"{c['ec2_reads']} + {c['ec2_writes']}, {c['cloudwatch']}"  # noqa: E731
    return table(["tables", "first invocation", "warm", "variants", "warm, by action"],
                 [[s["tables"], calls(s["first_invocation"]["calls"]), calls(s["calls"]), s["calls_variants"],
                   by_action(s["calls"]["by_action"])] for s in R.get("plain", [])])


def phases_block(R, E):
    plain = R.get("plain", [])
    PHASES = ["read", "record", "writes", "verify", "in_calls", "outside_calls", "total"]
    ACTIONS = ["DescribeInstances", "DescribeInstanceStatus", "DescribeRouteTables", "DescribeAlarms",
               "CreateTags", "ReplaceRoute"]
    rows = [[s["tables"]] + [num(s["phases_median_ms"][k]) for k in PHASES]
            + [num(s["cpu_ms"]["ours"]), num(s["cpu_ms"]["emulator"])] for s in plain]
    means = [[s["tables"]] + [num(s["phases_median_ms"]["per_call_mean"].get(a)) for a in ACTIONS] for s in plain]
    return (table(["tables", "read", "record", "writes", "verify", "in calls", "outside calls", "total",
                   "CPU: ours", "CPU: emulator"], rows)
            + ["", "Mean time of one call, in ms:", ""] + table(["tables"] + ACTIONS, means))


def latency_block(R, E):
    rows = []
    for s in R.get("latency", []):
        one = [o for o in R["latency"] if o["tables"] == 1 and o["latency_ms"] == s["latency_ms"]]
        p = s["phases_median_ms"]
        rows.append([f"{s['latency_ms']} ms", s["tables"], spread(s["failover_ms"]), ms(s["floor_ms"]["median"]),
                     times(s["ratio_to_floor"]),
                     times(s["failover_ms"]["median"] / one[0]["failover_ms"]["median"]) if one else "n/a"]
                    + [num(p[k]) for k in ["read", "record", "writes", "verify", "outside_calls"]]
                    + [num(s["cpu_ms"]["emulator"]), s["runs"]])
    return table(["latency", "tables", "failover: median (min to max)", "floor", "÷ floor", "÷ 1 table", "read",
                  "record", "writes", "verify", "outside calls", "emulator CPU", "runs"], rows)


def throttled_block(R, E):
    T = R.get("throttled")
    if not T:
        return ["Not measured in this run."]
    rows = [[s["tables"], num(s["seconds"], " s", 1), num(s["limit_seconds"], " s", 0),
             num(100 * s["share_of_limit_speed"], " %", 0) if s["share_of_limit_speed"] else "n/a",
             times(s.get("ratio_to_1_table")), num(s["write_span_seconds"], " s", 1),
             f"{s['throttled_total']} ({by_action(s['throttled_by_action'])})", len(s["invocations"]),
             f"{s['tables_moved']} of {s['tables']}"] for s in T["sizes"]]
    ref = T["reference"]
    rows.append([f"{ref['name']}: {ref['routes']} routes", num(ref["seconds"], " s", 0)] + [""] * 7)
    b = T["replace_route_bucket"]
    return [f"ReplaceRoute bucket: {b['capacity']} tokens, {b['refill_per_second']} added per second; "
            f"deadline of each invocation: {T['deadline_s']} s.", ""] + table(
        ["tables", "time", "limit", "share of the limit's speed", "÷ 1-table time",
         "route writes: first to last accepted", "throttled calls", "invocations", "moved"], rows)


def churn_block(R, E):
    return table(["member list TTL", "events", "time for the events", "calls for the events", "throttled calls",
                  "failover", "failover served after"],
                 [[f"{c['membership_ttl_s']} s", c["events"], ms(c["churn_ms"]), c["churn_calls"]["total"],
                   c["throttled_total"], ms(c["failover_ms"]), ms(c["served_after_ms"])] for c in R.get("churn", [])])


def cold_block(R, E):
    c = R.get("cold_start")
    if not c:
        return ["Not measured in this run."]
    rows = [[label, spread(c[key], ms if key.endswith("ms") else lambda x: num(x, " MiB")), c["runs"]]
            for label, key in [("spawn to first poll of the runtime API", "spawn_to_first_poll_ms"),
                               ("first poll to response (the first `status`)", "first_poll_to_response_ms"),
                               ("spawn to response", "spawn_to_response_ms"),
                               ("peak RSS (VmHWM), idle after the response", "peak_rss_mib"),
                               ("CPU time up to then", "cpu_to_idle_ms")]]
    return table(["measurement", "median (min to max)", "runs"], rows) + [
        "", f"`{os.path.basename(c['binary'])}`: {num((c['binary_bytes'] or 0) / 1e6, ' MB', 2)}, "
            f"{R['profile']} build, x86_64; the seed has {c['tables']} route tables."]


def artifact_block(R, E):
    if not E.get("zip_bytes"):
        return ["Not packaged in this run."]
    rows = [[f"`{name}`", f"{int(E[key]):,}", num(int(E[key]) / 1e6, " MB", 2)] for name, key in
            [("bootstrap.zip", "zip_bytes"), ("bootstrap", "bootstrap_bytes"), ("bootstrap, gzip -9", "gzip_bytes")]]
    return [f"{E['arch']}: `{E['artifact_cmd']}`. {E['artifact_note']}".rstrip(), ""] + table(
        ["file", "bytes", "size"], rows)


def machine_block(R, E):
    s = R["settings"]
    return [f"- {E['nproc']} CPUs ({E['cpu_model']}), {E['mem_total']} memory, Linux {E['kernel']}",
            f"- {E['rustc']}; {E['cargo_lambda']}",
            f"- aws-sdk-ec2 {E['aws_sdk_ec2']}, aws-config {E['aws_config']}, lambda_runtime "
            f"{E['lambda_runtime']}, tokio {E['tokio']} (Cargo.lock); moto {E['moto']}; {E['awscli']}",
            f"- function defaults: write concurrency {s['write_concurrency']}, member list TTL "
            f"{s['membership_ttl_s']} s, deadline reserve {s['deadline_reserve_s']} s"]


def probe_detect_block(R, E):
    D = R.get("probe_detect")
    if not D:
        return ["Not measured in this run."]
    rows = [[f"`{s['options']}`", num(s["fall"] * s["interval_ms"], " ms"), spread(s["kill_to_record_ms"]),
             spread(s["decision_ms"]), spread(s["kill_to_routes_ms"]), s["runs"]] for s in D["settings"]]
    return table(["probe settings", "fall × interval", "kill to the round's record", "decision (failover function)",
                  "kill to every VIP route moved", "runs"], rows) + [
        "", f"Per round in steady state, the failover function handles one record that changes nothing: "
            f"{spread(D['record_no_change_ms'])}; a tick while the loop is alive takes {spread(D['tick_alive_ms'])}. "
            f"Routes polled every {D['route_poll_ms']} ms."]


def probe_round_block(R, E):
    P = R.get("probe_round")
    if not P:
        return ["Not measured in this run."]
    rows = [[s["members"], spread(s["wall_ms"]), spread(s["overhead_ms"]), spread(s["cpu_ms"]),
             spread(s["cpu_per_sweep_ms"]), num(s["init_cpu_ms"], " ms"), num(s["peak_rss_mib"], " MiB"), s["rounds"]]
            for s in P["sizes"]]
    return table(["members", "wall time", "beyond the round's length", "CPU per round", "CPU per sweep",
                  "CPU at start", "peak RSS", "rounds"], rows) + [
        "", f"Rounds of {num(P['round_ms'] / 1000, ' s', 0)} at an interval of {num(P['interval_ms'], ' ms')} "
            f"({int(P['sizes'][0]['sweeps_per_round']) if P['sizes'] else 0} sweeps each), every member up; "
            f"`{os.path.basename(P['binary'])}`: {num((P['binary_bytes'] or 0) / 1e6, ' MB', 2)}, {R['profile']} build."]


# Lambda prices, arm64, us-east-1 (per GB-second, per request); a month of 730 hours.
PRICE_GB_S, PRICE_REQUEST, MONTH_S = 0.0000133334, 0.20 / 1e6, 730 * 3600


def template_memory():
    """MemorySize (MB) of the failover and probe functions in template.yaml."""
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "template.yaml")).read()
    sizes = {}
    for name in ("VipFailoverFunction", "ProbeFunction"):
        m = re.search(rf"^  {name}:\n(?:(?!^  \S).*\n)*?\s+MemorySize: (\d+)", text, re.M)
        sizes[name] = int(m.group(1)) if m else None
    return sizes


def probe_cost_block(R, E):
    D, P = R.get("probe_detect"), R.get("probe_round")
    if not (D and P and P["sizes"]):
        return ["Not measured in this run (needs probe_detect and probe_round)."]
    mem = template_memory()
    if None in mem.values():
        return [f"MemorySize not found in template.yaml: {mem}"]
    round_s = D["probe_round_s"]
    rounds = MONTH_S / round_s
    # Billed: the probe function probes for the whole round; the failover function handles its record;
    # the tick runs every minute whatever the loop does.
    items = [("probe function: one round", rounds, round_s + P["sizes"][0]["overhead_ms"]["median"] / 1000,
              mem["ProbeFunction"]),
             ("failover function: the round's record", rounds, D["record_no_change_ms"]["median"] / 1000,
              mem["VipFailoverFunction"]),
             ("failover function: probe tick, every minute", MONTH_S / 60, D["tick_alive_ms"]["median"] / 1000,
              mem["VipFailoverFunction"])]
    rows, total_req, total_gbs = [], 0, 0
    for label, count, seconds, mb in items:
        gbs = count * seconds * mb / 1024
        total_req, total_gbs = total_req + count, total_gbs + gbs
        rows.append([label, f"{count:,.0f}", num(seconds * 1000, " ms"), f"{mb} MB", f"{gbs:,.0f}",
                     f"${gbs * PRICE_GB_S + count * PRICE_REQUEST:.2f}"])
    total = total_gbs * PRICE_GB_S + total_req * PRICE_REQUEST
    rows.append(["**total**", f"{total_req:,.0f}", "", "", f"{total_gbs:,.0f}", f"**${total:.2f}**"])
    return table(["per month (730 h), one probed group", "invocations", "billed duration each", "memory",
                  "GB-s", "cost"], rows) + [
        "", f"A round of {round_s} s: {rounds:,.0f} rounds a month, each one probe invocation and one failover "
            f"invocation. Durations from this run (probe: the round plus the median time beyond it at "
            f"{P['sizes'][0]['members']} members; failover: medians of probe_detect). arm64 in us-east-1: "
            f"${PRICE_GB_S:.10f} per GB-s, $0.20 per million requests; free tier not deducted. Memory sizes read "
            f"from template.yaml."]


BLOCKS = {name[:-6]: fn for name, fn in globals().items() if name.endswith("_block")}


def main(results, env, markdown):
    R = json.load(open(results))
    E = json.load(open(env))
    text = open(markdown).read()
    seen = set()

    def render(m):
        if m.group(1) not in BLOCKS:
            sys.exit(f"bench_render: unknown block {m.group(1)!r} in {markdown}")
        seen.add(m.group(1))
        return f"<!-- bench:{m.group(1)} -->\n" + "\n".join(BLOCKS[m.group(1)](R, E)) + "\n<!-- /bench -->"

    text = re.sub(r"<!-- bench:(\w+) -->\n.*?<!-- /bench -->", render, text, flags=re.S)
    for name in sorted(set(BLOCKS) - seen):
        print(f"bench_render: {markdown} has no block {name!r}", file=sys.stderr)
    open(markdown, "w").write(text)
    print(f"bench_render: wrote {markdown}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
