#!/usr/bin/env bash
# `make demo-probe` (issue 16): kill the service, the VIP moves, with real packets.
#
#   client ── router ──┬── serverA  (VIP on eth0:1, nginx "@serverA!")
#                      └── serverB  (VIP on eth0:1, nginx "@serverB!")
#
# The namespaces of `make demo-network` (scripts/demo-network.sh), with one
# difference: serverA's instance stays `running` in the emulator; only its nginx
# is killed. Nobody tells vip-failover: the in-VPC probe has to notice.
#
# The whole control plane runs in the router namespace (it plays the VPC, where
# the probe function lives): examples/probe_demo starts the EC2 emulator (moto)
# on the namespace's loopback, seeds a VPC whose members have the servers' real
# addresses and the probe tag `http:80/ interval=1s timeout=500ms fall=2 rise=2`,
# runs the failover and probe binaries in the test kit's local Lambda (the probe's
# on-success destination is the failover function) and sends the probe tick. The
# route follower (scripts/route_follower.py) mirrors the emulated table's VIP
# route into the router's kernel table every 20 ms.
#
# The client curls the VIP every 100 ms and pings it every 20 ms (each server
# answers with its own TTL, so each reply names its server). Once curl answers
# serverA, serverA's nginx is killed (SIGKILL; its kernel still answers ping).
# Measured: kill to the first serverB answer of curl, the requests that failed
# in between, and the timeline (probe verdict, decision, routes, router).
#
# usage: scripts/demo-probe.sh [--test]
#   --test  for `cargo test --test network_e2e`: a missing precondition (not root,
#           no namespaces, no .venv) prints `RESULT skipped=1 ...` and exits 0.
# The last line is machine-readable:
#   RESULT ok=1 kill_to_b_ms=NN failed_requests=N ... route_on_b=1 before=serverA after=serverB
# ok=1 when serverB answered within 5 s of the kill and every VIP route points at
# serverB's ENI. Environment: KEEP_WORK=1 keeps the work directory (logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
# Not the variables cargo sets for a test (see scripts/demo-network.sh): a cargo
# started with them rebuilds the TLS stack and the AWS SDK.
while read -r var; do unset "$var" 2>/dev/null || true; done < <(compgen -e | grep -E \
  '^(CARGO_(MANIFEST_[A-Z_]+|PKG_[A-Z_]+|CRATE_NAME|BIN_NAME|BIN_EXE_.*|PRIMARY_PACKAGE|TARGET_TMPDIR)|OUT_DIR)$' || true)

MODE=demo
case "${1:-}" in
  --test) MODE="test" ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

VIP=192.168.100.10
VIP_CIDR=$VIP/32
TTL_A=64
TTL_B=128
PING_INTERVAL=0.02
CURL_INTERVAL=0.1
BOUND_MS=5000
DEMO=$ROOT/target/debug/examples/probe_demo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
skip() {
  if [[ $MODE == test ]]; then
    echo "SKIP: demo-probe: $*"
    echo "RESULT skipped=1 reason=\"$*\""
    exit 0
  fi
  echo "demo-probe: cannot run: $*" >&2
  exit 1
}
die() { echo "demo-probe: FAILED: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, veth pairs); try: sudo make demo-probe"
[[ -x $ROOT/.venv/bin/moto_server && -x $ROOT/.venv/bin/python ]] \
  || skip ".venv/bin/moto_server is missing: run 'make tools' first"
"$ROOT/.venv/bin/python" -c 'import boto3' 2>/dev/null || skip "boto3 is missing from .venv: run 'make tools'"

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v curl >/dev/null || missing+=(curl)
command -v nginx >/dev/null || missing+=(nginx-light)
if ((${#missing[@]})); then
  step "Installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || note "apt-get install failed"
fi
for tool in ip ping curl nginx; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done

# --- Names, work directory, teardown ---------------------------------------------
ID=vp$$
while ip netns list | grep -q "^$ID-"; do ID=vp$$x$RANDOM; done
NS_CLIENT=$ID-client NS_ROUTER=$ID-router NS_A=$ID-serverA NS_B=$ID-serverB
ALL_NS=("$NS_CLIENT" "$NS_ROUTER" "$NS_A" "$NS_B")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vip-failover-probedemo.XXXXXX")
chmod 755 "$WORK" # nginx's workers (an unprivileged user) read the pages under it
PIDS=() CREATED_NS=() PING_PID=""
cleanup() {
  local rc=$?
  trap '' INT TERM
  trap - EXIT
  set +e
  [[ -n $PING_PID ]] && kill -INT "$PING_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  wait 2>/dev/null
  for ns in "${CREATED_NS[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086 # one pid per word
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
  done
  for ns in "${CREATED_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 130 ]]; then
    for f in demo.out failover.log probe.log follower.log curl.log nginx-serverA/error.log; do
      [[ -s $WORK/$f ]] && { echo "--- $f (last 30 lines)" >&2; tail -30 "$WORK/$f" >&2; }
    done
  fi
  if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "(work directory kept: $WORK)"; else rm -rf "$WORK"; fi
  echo "(torn down: ${#CREATED_NS[@]} namespaces ${CREATED_NS[*]}, ${#PIDS[@]} process groups)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background in its own process group, remembered for cleanup.
spawn() {
  local out=$1; shift
  setsid "$@" >"$out" 2>&1 </dev/null &
  PIDS+=($!)
  LAST_PID=$!
}
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# shellcheck source=scripts/netns-traffic.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns-traffic.sh"
# wait_for SECONDS COMMAND...: polls every 0.05 s until COMMAND succeeds.
wait_for() {
  local tries=$(($1 * 20)); shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.05; done
  return 1
}

step "Building (first run compiles the AWS SDK: a few minutes)"
cargo build --locked --example probe_demo --example topology --bin vip-failover --bin vip-failover-probe

# --- Network ----------------------------------------------------------------------
step "Network namespaces ($ID-*)"
ip netns add "$NS_CLIENT" 2>"$WORK/netns.err" || skip "cannot create network namespaces: $(cat "$WORK/netns.err")"
CREATED_NS+=("$NS_CLIENT")
for ns in "$NS_ROUTER" "$NS_A" "$NS_B"; do ip netns add "$ns"; CREATED_NS+=("$ns"); done
# A /22 no host route or address overlaps: the VPC; its first three /24s are the links.
read -r BLOCK NET_C NET_A NET_B < <(python3 - <<'EOF'
import ipaddress, json, subprocess, sys
used = []
for cmd in (["ip", "-4", "-j", "route", "show", "table", "all"], ["ip", "-4", "-j", "addr"]):
    for entry in json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout or "[]"):
        nets = [entry.get("dst")] if "dst" in entry else [
            f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", [])]
        for net in nets:
            try:
                used.append(ipaddress.ip_network(net, strict=False))
            except (ValueError, TypeError):
                pass
for block in list(ipaddress.ip_network("10.201.0.0/16").subnets(new_prefix=22)) + \
             list(ipaddress.ip_network("172.31.224.0/20").subnets(new_prefix=22)):
    if not any(block.overlaps(u) for u in used):
        links = list(block.subnets(new_prefix=24))[:3]
        print(block, " ".join(str(l.network_address).rsplit(".", 1)[0] for l in links))
        sys.exit(0)
sys.exit("no free private range")
EOF
)
C_IP=$NET_C.10 R_C=$NET_C.1
A_IP=$NET_A.10 R_A=$NET_A.1
B_IP=$NET_B.10 R_B=$NET_B.1
note "VPC $BLOCK: client $C_IP | router $R_C, $R_A, $R_B | serverA $A_IP | serverB $B_IP"
for ns in "${ALL_NS[@]}"; do
  ip -n "$ns" link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
for link in "c0:$NS_CLIENT:$R_C" "a0:$NS_A:$R_A" "b0:$NS_B:$R_B"; do
  IFS=: read -r ifc peer addr <<<"$link"
  ip -n "$NS_ROUTER" link add "$ifc" type veth peer name eth0 netns "$peer"
  nsx "$NS_ROUTER" sysctl -qw "net.ipv4.conf.$ifc.rp_filter=0"
  ip -n "$NS_ROUTER" addr add "$addr/24" dev "$ifc"
  ip -n "$NS_ROUTER" link set "$ifc" up
done
ip -n "$NS_CLIENT" addr add "$C_IP/24" dev eth0
ip -n "$NS_CLIENT" link set eth0 up
ip -n "$NS_CLIENT" route add default via "$R_C"
for side in "$NS_A:$A_IP:$R_A:$TTL_A" "$NS_B:$B_IP:$R_B:$TTL_B"; do
  IFS=: read -r ns ip_ gw ttl <<<"$side"
  ip -n "$ns" addr add "$ip_/24" dev eth0
  ip -n "$ns" addr add "$VIP_CIDR" dev eth0 label eth0:1
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$gw"
  nsx "$ns" sysctl -qw "net.ipv4.ip_default_ttl=$ttl"
done
ip -n "$NS_ROUTER" route add blackhole "$VIP_CIDR"
for hop in "$R_C:$NS_CLIENT" "$A_IP:$NS_ROUTER" "$B_IP:$NS_ROUTER"; do
  nsx "${hop#*:}" ping -q -c 1 -W 2 "${hop%%:*}" >/dev/null || die "no link to ${hop%%:*}"
done

step "nginx in serverA and serverB, on port 80 of every address (the VIP, and eth0 for the probe)"
for name in serverA serverB; do
  if [[ $name == serverA ]]; then ns=$NS_A; else ns=$NS_B; fi
  dir=$WORK/nginx-$name
  mkdir -p "$dir/html"
  printf '<!DOCTYPE html>\n<html><head><title>Welcome to nginx @%s!</title></head>\n<body><h1>Welcome to nginx @%s!</h1></body></html>\n' \
    "$name" "$name" >"$dir/html/index.html"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server { listen 80; root $dir/html; index index.html; }
}
EOF
  spawn "$dir/stdout.log" ip netns exec "$ns" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
  if [[ $name == serverA ]]; then NGINX_A=$LAST_PID; fi
done
for ns in "$NS_A" "$NS_B"; do
  wait_for 10 nsx "$ns" curl -sf -o /dev/null --max-time 1 "http://$VIP/" || die "nginx in $ns does not answer"
done

# --- Control plane ------------------------------------------------------------------
step "Control plane in the router namespace: emulator, seed, both functions, the probe tick"
spawn "$WORK/demo.out" ip netns exec "$NS_ROUTER" "$DEMO" run --server-a "$A_IP" --server-b "$B_IP" \
  --vpc-cidr "$BLOCK" --work "$WORK"
wait_for 60 test -s "$WORK/seed.env" || die "the control plane did not seed the emulator"
set -a
# shellcheck disable=SC1091
source "$WORK/seed.env"
set +a
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
# shellcheck disable=SC2153 # TABLES comes from seed.env
read -r TABLE _ <<<"$TABLES"
note "emulator $AWS_ENDPOINT_URL (router's loopback); serverA $SERVER_A ($SERVER_A_ENI), serverB $SERVER_B ($SERVER_B_ENI)"
wait_for 90 grep -q '"event":"ready"' "$WORK/demo.out" || die "the first probe round never saw both members up"
note "probe loop running: $(grep -m1 '"event":"round"' "$WORK/demo.out")"

step "Route follower: emulated table $TABLE -> router's kernel route"
spawn "$WORK/follower.out" ip netns exec "$NS_ROUTER" "$ROOT/.venv/bin/python" -u scripts/route_follower.py \
  --netns "$NS_ROUTER" --table "$TABLE" --vip "$VIP_CIDR" \
  --map "$SERVER_A_ENI=$A_IP" --map "$SERVER_B_ENI=$B_IP" --interval 0.02 --log "$WORK/follower.log"
wait_for 10 grep -qs "target=$SERVER_A_ENI" "$WORK/follower.log" || die "the follower did not apply the initial route"
note "router: $(ip -n "$NS_ROUTER" route show "$VIP_CIDR")"

# --- Traffic, the kill, the measurement -------------------------------------------
step "Client: ping every 20 ms, curl every 100 ms"
spawn "$WORK/ping.log" ip netns exec "$NS_CLIENT" stdbuf -oL ping -D -n -i "$PING_INTERVAL" -W 1 "$VIP"
PING_PID=$LAST_PID
curl_loop "$NS_CLIENT" "$WORK/curl.log"
CURL_LOOP=$LAST_PID
steady() { [[ $(tail -n 5 "$WORK/curl.log" | grep -c ' serverA$') -eq 5 ]]; }
wait_for 20 steady || die "curl does not answer serverA steadily"
# 1 s more, plus a random part of the probe's 1 s interval: how soon the probe
# sees the death depends on where in its interval the service dies.
sleep "$(printf '1.%03d' $((RANDOM % 1000)))"
note "steady: curl answers serverA; $(grep -c icmp_seq "$WORK/ping.log") ping replies so far"

step "serverA's nginx is killed (SIGKILL); its instance stays running, nobody tells vip-failover"
KILL_AT=$EPOCHREALTIME
# (wait: bash would report the killed job on stderr.)
{ kill -KILL -- "-$NGINX_A" && wait "$NGINX_A"; } 2>/dev/null || true
note "killed at $KILL_AT"
refused_a() { ! nsx "$NS_ROUTER" curl -s -o /dev/null --max-time 1 "http://$A_IP/"; }
wait_for 2 refused_a || die "serverA's nginx still answers"
served_b() { awk -v k="$KILL_AT" '$2 > k && $3 == "serverB"' "$WORK/curl.log" | grep -q .; }
wait_for 20 served_b || note "curl never answered serverB"
wait_for 5 grep -q '"all_on":"serverB"' "$WORK/demo.out" || note "the VIP routes did not all move"
sleep 1
kill -TERM -- "-$CURL_LOOP" 2>/dev/null || true
kill -INT "$PING_PID"
for _ in $(seq 50); do kill -0 "$PING_PID" 2>/dev/null || break; sleep 0.1; done
PING_PID=""

step "What happened after the kill (examples/probe_demo's lines)"
awk -v k="$KILL_AT" -F'"at":' 'NF > 1 { split($2, a, /[,}]/); if (a[1] > k) print "   " $0 }' "$WORK/demo.out" | head -20

step "Route tables now"
nsx "$NS_ROUTER" "$ROOT/target/debug/examples/topology" routes "$VPC_ID"
note "router: $(ip -n "$NS_ROUTER" route show "$VIP_CIDR")"
note "serverA's instance in the emulator: $(nsx "$NS_ROUTER" "$ROOT/.venv/bin/python" -c '
import sys, boto3
r = boto3.client("ec2").describe_instances(InstanceIds=[sys.argv[1]])
print(r["Reservations"][0]["Instances"][0]["State"]["Name"])' "$SERVER_A")"

step "Measurements"
"$DEMO" report --work "$WORK" --kill-at "$KILL_AT" --eni-b "$SERVER_B_ENI" \
  --ttl-a $((TTL_A - 1)) --ttl-b $((TTL_B - 1)) --bound-ms "$BOUND_MS"
