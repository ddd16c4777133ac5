#!/usr/bin/env python3
"""What one client of `make demo-network` saw across the failover, from its logs.

- --ping: `ping -D` output (each reply's receive time, epoch seconds, and TTL:
  the TTL names the server, e.g. 63 from serverA and 127 from serverB one hop
  away, 62 and 126 for the on-premises client behind the Transit Gateway);
- --follower: the VPC route follower's log; its `CHANGE ... target=ENI_B` line
  says when the router saw (`seen`) and applied (`ts`) the route to serverB;
- --curl (optional): a curl loop's log, one line per request, `START END
  RESULT` (epoch seconds; `serverA`, `serverB` or `fail:CODE`): then `before`
  is the last answer before the event, `after` the last answer, and the first
  serverB answer is timed. Without it, --before and --after say what single
  curls answered.

Prints the human lines, and writes the fields (`key=value ...`, each key
prefixed with --prefix) to --fields. Exit status 0 when the client lost no echo
request, curl answered serverA then serverB, and serverB alone answered after
its first reply; 3 otherwise.
"""

import argparse
import re
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ping", required=True)
    p.add_argument("--follower", required=True)
    p.add_argument("--eni-b", required=True, help="serverB's ENI, as the follower logs it")
    p.add_argument("--event-ts", type=float, required=True, help="when the event was sent")
    p.add_argument("--invoked-ts", type=float, required=True, help="when the invoke returned")
    p.add_argument("--ttl-a", type=int, required=True, help="TTL of serverA's replies here")
    p.add_argument("--ttl-b", type=int, required=True)
    p.add_argument("--before", default="", help="what curl answered before the event")
    p.add_argument("--after", default="", help="what curl answered after the switch")
    p.add_argument("--curl", help="a curl loop's log (START END RESULT lines)")
    p.add_argument("--prefix", default="", help="prefix of every field name, e.g. onprem_")
    p.add_argument("--label", default="", help="prefix of every printed line, e.g. 'onprem: '")
    p.add_argument("--fields", required=True, help="write the key=value fields here")
    return p.parse_args()


def replies_of(text, ttl_a, ttl_b):
    """seq -> (receive time, server), and the duplicate and unknown-TTL counts."""
    replies, dups, other = {}, 0, 0
    pattern = r"^\[(\d+\.\d+)\] \d+ bytes from [\d.]+: icmp_seq=(\d+) ttl=(\d+)[^\n]*$"
    for m in re.finditer(pattern, text, re.M):
        ts, seq, ttl = float(m[1]), int(m[2]), int(m[3])
        server = {ttl_a: "serverA", ttl_b: "serverB"}.get(ttl, f"ttl{ttl}")
        if server.startswith("ttl"):
            other += 1
        if seq in replies or "DUP!" in m[0]:
            dups += 1
            continue
        replies[seq] = (ts, server)
    return replies, dups, other


def route_change(follower_log, eni_b):
    """When the router applied (ts) and saw (seen) the route to serverB."""
    for line in open(follower_log):
        if line.startswith("CHANGE") and f"target={eni_b}" in line:
            return (float(re.search(r"ts=([\d.]+)", line)[1]),
                    float(re.search(r"seen=([\d.]+)", line)[1]))
    return None, None


def curl_of(curl_log, event_ts):
    """Before, after, the first serverB answer's end time, requests, failures."""
    requests = []
    for line in open(curl_log):
        parts = line.split()
        if len(parts) == 3:
            requests.append((float(parts[0]), float(parts[1]), parts[2]))
    before = [r for _, end, r in requests if end < event_ts and not r.startswith("fail")]
    answered = [r for _, _, r in requests if not r.startswith("fail")]
    first_b = min((end for _, end, r in requests if r == "serverB"), default=None)
    failed = sum(1 for _, _, r in requests if r.startswith("fail"))
    return (before[-1] if before else "", answered[-1] if answered else "", first_b,
            len(requests), failed)


def write_fields(path, prefix, ok, fields):
    with open(path, "w") as out:
        out.write(f"{prefix}ok={int(ok)} " + " ".join(f"{prefix}{k}={v}" for k, v in fields) + "\n")


def main():
    a = parse_args()
    text = open(a.ping).read()
    replies, dups, other = replies_of(text, a.ttl_a, a.ttl_b)
    stats = re.search(r"(\d+) packets transmitted, (\d+) received(?:, \+(\d+) duplicates)?"
                      r"(?:, \+(\d+) errors)?, ([\d.]+)% packet loss", text)
    if not stats:
        sys.exit(f"{a.label}no ping statistics in {a.ping}")
    transmitted, received = int(stats[1]), int(stats[2])
    missing = [s for s in range(1, transmitted + 1) if s not in replies]
    # Stopping ping with SIGINT may catch the last request in flight (sent < 1 ms
    # before): it is not a loss of the switch; count it apart.
    inflight = 1 if missing == [transmitted] else 0
    lost = len(missing) - inflight
    counted = transmitted - inflight
    loss = 100.0 * lost / counted if counted else 100.0
    route_ts, seen_ts = route_change(a.follower, a.eni_b)
    first_b = min((ts for ts, srv in replies.values() if srv == "serverB"), default=None)
    last_a = max((ts for ts, srv in replies.values() if srv == "serverA"), default=None)
    a_after_b = sum(1 for ts, srv in replies.values()
                    if srv == "serverA" and first_b and ts > first_b)
    count_a = sum(1 for _, srv in replies.values() if srv == "serverA")
    count_b = sum(1 for _, srv in replies.values() if srv == "serverB")
    ordered = sorted(ts for ts, _ in replies.values())
    max_gap = max((y - x for x, y in zip(ordered, ordered[1:])), default=0) * 1000

    def ms(x, y):
        return round((y - x) * 1000) if x is not None and y is not None else -1

    before, after = a.before, a.after
    curl = None
    if a.curl:
        before, after, curl_b, curl_n, curl_failed = curl_of(a.curl, a.event_ts)
        curl = (ms(a.event_ts, curl_b), curl_n, curl_failed)
    first_b_ms, route_ms = ms(a.event_ts, first_b), ms(a.event_ts, route_ts)
    # The follower saw the emulated route change (seen), then replaced the kernel
    # route (route_ts): the router cannot have switched before `seen`.
    route_to_b = ms(seen_ts, first_b)
    say = lambda line: print(f"   {a.label}{line}")  # noqa: E731
    say(f"{transmitted} echo requests, {received} replies ({count_a} from serverA, {count_b} "
        f"from serverB, {other} unknown), {dups} duplicates, lost {lost}"
        + (" (+1 in flight at stop)" if inflight else ""))
    say(f"loss {loss:.2f}%; longest gap between replies {max_gap:.1f} ms (ping interval 20 ms)")
    say(f"event sent -> invoke returned {ms(a.event_ts, a.invoked_ts)} ms; -> router route to "
        f"serverB {route_ms} ms (emulated route seen {ms(a.event_ts, seen_ts)} ms)")
    say(f"event sent -> first reply from serverB {first_b_ms} ms; route change seen -> first "
        f"serverB reply {route_to_b} ms; last serverA reply {ms(last_a, first_b)} ms before it; "
        f"serverA replies after it: {a_after_b}")
    if curl:
        say(f"curl every 100 ms: {curl[1]} requests, {curl[2]} failed; first serverB answer "
            f"{curl[0]} ms after the event; before {before or '?'}, after {after or '?'}")
    ok = (lost == 0 and before == "serverA" and after == "serverB" and first_b is not None
          and a_after_b == 0 and other == 0)
    if ok:
        say(f"OK: planned switch, {lost} of {counted} echo requests lost; serverB answered "
            f"{first_b_ms} ms after the event was sent, {route_to_b} ms after the router saw "
            "the new route")
    else:
        say("FAILED: expected no loss, curl serverA then serverB, and serverB alone answering "
            "after the switch")
    fields = [("loss_percent", f"{loss:g}"), ("transmitted", transmitted),
              ("received", received), ("lost", lost), ("inflight_at_stop", inflight),
              ("replies_a", count_a), ("replies_b", count_b), ("duplicates", dups),
              ("event_to_route_ms", route_ms), ("first_b_reply_ms", first_b_ms),
              ("route_to_first_b_ms", route_to_b), ("max_gap_ms", f"{max_gap:.0f}"),
              ("before", before or "none"), ("after", after or "none")]
    if curl:
        fields += [("first_b_curl_ms", curl[0]), ("curl_requests", curl[1]),
                   ("curl_failed", curl[2])]
    write_fields(a.fields, a.prefix, ok, fields)
    sys.exit(0 if ok else 3)


if __name__ == "__main__":
    main()
