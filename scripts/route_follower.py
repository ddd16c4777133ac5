#!/usr/bin/env python3
"""Route follower for `make demo-network`: the emulated VPC router's data plane.

Polls one emulated route table (EC2 API at AWS_ENDPOINT_URL, i.e. moto) for the
VIP route every ~20 ms and mirrors its target into a real router, a network
namespace: the ENI the route points at is mapped to that server's next hop and
written with `ip netns exec ROUTER ip route replace VIP via NEXTHOP`. So what
vip-failover writes through the EC2 API is what carries the packets.

A missing route, or a target with no mapping (say a stopped instance's ENI that
is not in the map), becomes a blackhole route, as in a VPC.

With --tgw-table instead of --table it plays a Transit Gateway instead: it
follows the VIP's static route of an emulated Transit Gateway route table
(SearchTransitGatewayRoutes; moto loses the attachments in its answers, so
AWS_ENDPOINT_URL must be the test kit's fault proxy with its Transit Gateway
emulation, see `examples/topology.rs transit-proxy`), and maps the attachment
the route points at to a next hop. A blackhole or missing route is a blackhole.

Each change is logged as one line, flushed at once:

    CHANGE ts=1732493456.123456 seen=1732493456.119001 from=eni-... target=eni-... via=10.200.1.2 lookup_ms=3.1

`ts` is the wall-clock time (seconds since the epoch, as `ping -D` prints) just
after the kernel route was replaced; `seen` is when the poll that saw the new
target returned. The first line (initial state) is a CHANGE
from `none`, so a caller can wait for it before sending traffic.

usage: route_follower.py --netns ROUTER --table rtb-... --vip 192.168.100.10/32 \
           --map eni-aaa=10.200.1.2 --map eni-bbb=10.200.2.2 [--interval 0.02] [--log FILE]
       route_follower.py --netns TGW --tgw-table tgw-rtb-... --vip 192.168.100.10/32 \
           --map tgw-attach-...=10.200.4.1 [--interval 0.02] [--log FILE]
"""

import argparse
import signal
import subprocess
import sys
import time

import boto3
from botocore.config import Config


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--netns", required=True, help="namespace of the router")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", help="emulated VPC route table id to follow")
    which.add_argument("--tgw-table", help="emulated Transit Gateway route table id to follow")
    p.add_argument("--vip", required=True, help="VIP destination CIDR, e.g. 192.168.100.10/32")
    p.add_argument("--map", action="append", default=[], metavar="TARGET=NEXTHOP",
                   help="ENI (or attachment) id to next-hop address in the namespace (repeatable)")
    p.add_argument("--interval", type=float, default=0.02, help="poll period in seconds")
    p.add_argument("--log", help="append change lines here (default: stdout)")
    return p.parse_args()


def vpc_target(ec2, table, vip):
    """The VIP route's target in a VPC route table: an ENI id, or `missing`."""
    tables = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    for route in tables[0]["Routes"] if tables else []:
        if route.get("DestinationCidrBlock") == vip:
            return (route.get("NetworkInterfaceId") or route.get("InstanceId")
                    or route.get("GatewayId") or "unknown")
    return "missing"


def tgw_target(ec2, table, vip):
    """The VIP's static route in a Transit Gateway route table: the attachment
    id, `blackhole` or `missing`."""
    routes = ec2.search_transit_gateway_routes(
        TransitGatewayRouteTableId=table,
        Filters=[{"Name": "type", "Values": ["static"]}])["Routes"]
    for route in routes:
        if route.get("DestinationCidrBlock") == vip:
            if route.get("State") == "blackhole":
                return "blackhole"
            attachments = route.get("TransitGatewayAttachments") or [{}]
            return attachments[0].get("TransitGatewayAttachmentId") or "unknown"
    return "missing"


def main():
    args = parse_args()
    mapping = {}
    for item in args.map:
        eni, sep, hop = item.partition("=")
        if not sep or not eni or not hop:
            sys.exit(f"route_follower: bad --map {item!r}, want ENI=NEXTHOP")
        mapping[eni] = hop
    out = open(args.log, "a", buffering=1) if args.log else sys.stdout

    def log(line):
        out.write(line + "\n")
        out.flush()

    stop = False

    def on_signal(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Endpoint, region and dummy credentials come from the environment
    # (AWS_ENDPOINT_URL, AWS_REGION/AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID ...).
    ec2 = boto3.client(
        "ec2",
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=1, read_timeout=2),
    )

    if args.tgw_table:
        table, lookup = args.tgw_table, tgw_target
    else:
        table, lookup = args.table, vpc_target
    current = "none"
    errors = 0
    log(f"START ts={time.time():.6f} table={table} vip={args.vip} netns={args.netns} "
        f"map={','.join(f'{k}={v}' for k, v in mapping.items())}")
    while not stop:
        started = time.monotonic()
        try:
            target = lookup(ec2, table, args.vip)
        except Exception as exc:  # emulator hiccup: keep the last route, say so
            errors += 1
            if errors <= 5 or errors % 100 == 0:
                log(f"ERROR ts={time.time():.6f} count={errors} {type(exc).__name__}: {exc}")
            time.sleep(args.interval)
            continue
        seen = time.time()
        lookup_ms = (time.monotonic() - started) * 1000
        if target != current:
            hop = mapping.get(target)
            if hop:
                cmd = ["ip", "netns", "exec", args.netns, "ip", "route", "replace", args.vip, "via", hop]
            else:
                cmd = ["ip", "netns", "exec", args.netns, "ip", "route", "replace", "blackhole", args.vip]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                log(f"ERROR ts={time.time():.6f} {' '.join(cmd)}: {result.stderr.strip()}")
            else:
                log(f"CHANGE ts={time.time():.6f} seen={seen:.6f} from={current} target={target} "
                    f"via={hop or 'blackhole'} lookup_ms={lookup_ms:.1f}")
                current = target
        elapsed = time.monotonic() - started
        if elapsed < args.interval:
            time.sleep(args.interval - elapsed)
    log(f"STOP ts={time.time():.6f} errors={errors}")


if __name__ == "__main__":
    main()
