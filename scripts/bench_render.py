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
