#!/usr/bin/env bash
# `make demo-network` (issues 7 and 20): the failover with real packets, on one machine.
#
#            client ──┐
#   onprem ── tgw ──── router ──┬── serverA  (VIP 192.168.100.10/32 on eth0:1, nginx "@serverA!")
#                               └── serverB  (VIP 192.168.100.10/32 on eth0:1, nginx "@serverB!")
#
# Six network namespaces joined by veth pairs (none of it touches the host's
# network: the namespaces have no link to it). The router namespace plays the VPC
# router: its route to the VIP is written only by scripts/route_follower.py, which
# mirrors the VIP route of an emulated route table (moto) every ~20 ms. So when
# vip-failover, run in the local Lambda runtime (cargo lambda's runtime API),
# rewrites the route tables through the EC2 API, the packets follow.
#
# The client pings the VIP every 20 ms and curls it; then serverA "fails" (its
# instance stops in the emulator only: in the network it stays up, so this is a
# planned switch and no ping may be lost), the EC2 state-change event goes through
# `cargo lambda invoke`, and the client's next curl lands on serverB.
#
# Issue 20, the on-premises client (scripts/demo-network-onprem.sh): `onprem`
# reaches the VIP through `tgw`, which plays the Transit Gateway. What is
# emulated: the Transit Gateway's data plane is that namespace, whose VIP route is
# written only by the route follower (--tgw-table) from the VIP static route of an
# emulated Transit Gateway route table; its API is moto behind the test kit's
# fault proxy (Transit Gateway emulation only: moto loses a static route's
# attachment and has no ReplaceTransitGatewayRoute). The route starts blackholed
# (or missing), so onprem is cut off until the function (TRANSIT_ROUTES=true)
# repairs it on its first reconcile; then onprem pings every 20 ms and curls
# every 100 ms across the same failover, which must leave that route alone.
#
# Which server answered each ping: the servers' namespaces send with different
# default TTLs (serverA 64, serverB 128; net.ipv4.ip_default_ttl is per
# namespace), so each echo reply in `ping -D` output names its server by its ttl
# (63 or 127 after the router's hop, 62 or 126 for onprem behind tgw), with the
# time ping received it.
#
# usage: scripts/demo-network.sh [--test]
#   --test  also for `cargo test --test network_e2e`: a missing precondition (not
#           root, no namespaces, no .venv) prints `RESULT skipped=1 ...` and exits 0.
# The last line is machine-readable (the in-VPC client's fields, then the
# on-premises client's, prefixed onprem_, then the Transit Gateway route's):
#   RESULT ok=1 loss_percent=0 transmitted=N received=N ... first_b_reply_ms=NN
#          route_to_first_b_ms=NN before=serverA after=serverB onprem_ok=1
#          onprem_loss_percent=0 ... onprem_first_b_reply_ms=NN onprem_after=serverB
#          onprem_first_b_curl_ms=NN ... tgw_repair_ms=NN ... tgw_route_stable=1
# Environment: KEEP_WORK=1 keeps the work directory (logs) after the run;
# TGW_START=missing starts the Transit Gateway route missing instead of blackholed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
# Run from `cargo test`, this script inherits the variables cargo sets for a test
# (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...). Build scripts of the TLS stack watch
# those names (rerun-if-env-changed), so a cargo started with them rebuilds it and
# the whole AWS SDK above it, and the next plain `cargo build` does it again. The
# clippy wrapper `make test` sets (RUSTC_WORKSPACE_WRAPPER) is kept: the build
# below must see what the test build saw.
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

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
# A precondition is missing: the test passes with a skip, the demo fails.
skip() {
  if [[ $MODE == test ]]; then
    echo "SKIP: demo-network: $*"
    echo "RESULT skipped=1 reason=\"$*\""
    exit 0
  fi
  echo "demo-network: cannot run: $*" >&2
  exit 1
}
die() { echo "demo-network: FAILED: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, veth pairs); try: sudo make demo-network"
[[ -x $ROOT/.venv/bin/moto_server && -x $ROOT/.venv/bin/python ]] \
  || skip ".venv/bin/moto_server is missing: run 'make tools' first"
"$ROOT/.venv/bin/python" -c 'import boto3' 2>/dev/null || skip "boto3 is missing from .venv: run 'make tools'"
command -v cargo-lambda >/dev/null || skip "cargo-lambda is missing from .venv: run 'make tools'"

# --- Debian packages --------------------------------------------------------------
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v curl >/dev/null || missing+=(curl)
command -v nginx >/dev/null || missing+=(nginx-light)
if ((${#missing[@]})); then
  step "Installing Debian packages: ${missing[*]}"
  if command -v apt-get >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # Debian's nginx package starts the system nginx (port 80 of the host):
    # nothing here needs it, the demo runs its own in the namespaces.
    :
  else
    note "apt-get install failed"
  fi
fi
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v ping >/dev/null || skip "iputils-ping is not installed"
command -v curl >/dev/null || skip "curl is not installed"

# --- Names and addresses ------------------------------------------------------------
# Unique per run, so parallel runs (or other users) never collide.
ID=vf$$
while ip netns list | grep -q "^$ID-"; do ID=vf$$x$RANDOM; done
NS_CLIENT=$ID-client NS_ROUTER=$ID-router NS_A=$ID-serverA NS_B=$ID-serverB
ALL_NS=("$NS_CLIENT" "$NS_ROUTER" "$NS_A" "$NS_B") # onprem and tgw: onprem_network
TOPOLOGY=("$ROOT/target/debug/examples/topology")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vip-failover-netdemo.XXXXXX")
chmod 755 "$WORK" # nginx's workers (an unprivileged user) read the pages under it
PIDS=()         # process-group leaders we started (setsid), killed as groups
CREATED_NS=()   # namespaces we created
PING_PID=""
cleanup() {
  local rc=$?
  # A second Ctrl-C (or one arriving now) must not cut the teardown short; it is
  # bounded (5 s per process group at most).
  trap '' INT TERM
  trap - EXIT
  set +e
  if [[ -n $PING_PID ]]; then kill -INT "$PING_PID" 2>/dev/null; fi
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  wait 2>/dev/null
  # Anything still inside our namespaces (web servers, ping) was started by us.
  for ns in "${CREATED_NS[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086 # one pid per word
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
  done
  # Deleting a namespace deletes its veth ends, and so the pairs.
  for ns in "${CREATED_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 130 ]]; then
    for f in watch.log function.log follower.log tgw-follower.log proxy.out moto.log nginx-serverA/error.log nginx-serverB/error.log; do
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

# shellcheck source=scripts/local-lambda.sh
source "$(dirname "${BASH_SOURCE[0]}")/local-lambda.sh"
# shellcheck source=scripts/netns-traffic.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns-traffic.sh"
# shellcheck source=scripts/demo-network-onprem.sh
source "$(dirname "${BASH_SOURCE[0]}")/demo-network-onprem.sh"

# `cargo lambda watch --only-lambda-apis` serves the Lambda APIs (invoke, and the
# runtime API the function polls) without building or starting the function: we
# start the binary built above, with the variables the watcher prints and ours
# (endpoint, region, credentials, TRANSIT_ROUTES). The runtime API at `/.rt` is
# the function the watcher calls `_`, so invoke must name `_` (any other name
# waits for a function that never comes); the function itself keeps its name,
# which only its metrics show. Logs stay outside the crate directory.
start_function() {
  local watcher
  INVOKE_PORT=$(free_port)
  spawn "$WORK/watch.log" cargo lambda watch --only-lambda-apis \
    --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT"
  watcher=$LAST_PID
  wait_for_port "$INVOKE_PORT" 100 "$watcher" || die "cargo lambda watch did not start"
  spawn "$WORK/function.log" env AWS_LAMBDA_FUNCTION_NAME=vip-failover AWS_LAMBDA_FUNCTION_VERSION=1 \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=4096 AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$INVOKE_PORT/.rt" \
    "$ROOT/target/debug/vip-failover"
  note "runtime API on 127.0.0.1:$INVOKE_PORT; the function runs as pid $LAST_PID"
}
invoke() { lambda_invoke "$INVOKE_PORT" "$1" 60 _; }

step "Network namespaces ($ID-*)"
ip netns add "$NS_CLIENT" 2>"$WORK/netns.err" || skip "cannot create network namespaces: $(cat "$WORK/netns.err")"
CREATED_NS+=("$NS_CLIENT")
for ns in "$NS_ROUTER" "$NS_A" "$NS_B"; do
  ip netns add "$ns"
  CREATED_NS+=("$ns")
done

# Five /24 links in a private range that no host route or address overlaps
# (read from the host's routing tables; nothing is sent). The VIP must not be
# routed specifically on the host either (the host's default route is fine: the
# namespaces have no link to the host at all).
read -r NET_C NET_A NET_B NET_T NET_O < <(python3 - <<'EOF'
import ipaddress, json, subprocess, sys
used = []
for cmd in (["ip", "-4", "-j", "route", "show", "table", "all"], ["ip", "-4", "-j", "addr"]):
    data = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout or "[]")
    for entry in data:
        nets = [entry.get("dst")] if "dst" in entry else [
            f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", [])]
        for net in nets:
            if not net or net == "default":
                continue
            try:
                used.append(ipaddress.ip_network(net, strict=False))
            except ValueError:
                pass
candidates = list(ipaddress.ip_network("10.200.0.0/16").subnets(new_prefix=21)) + \
             list(ipaddress.ip_network("172.31.240.0/20").subnets(new_prefix=21))
for block in candidates:
    if not any(block.overlaps(u) for u in used):
        links = list(block.subnets(new_prefix=24))[:5]
        print(" ".join(str(l.network_address).rsplit(".", 1)[0] for l in links))
        sys.exit(0)
sys.exit("no free private range")
EOF
)
VIP_ROUTED=$(ip -4 route show table all | awk '$1 != "default" {print $1}' | python3 -c '
import ipaddress, sys
vip = ipaddress.ip_address(sys.argv[1])
for line in sys.stdin:
    try:
        if vip in ipaddress.ip_network(line.strip(), strict=False): print(line.strip())
    except ValueError: pass' "$VIP")
[[ -z $VIP_ROUTED ]] || note "warning: the host routes $VIP via $VIP_ROUTED; the namespaces are isolated from it"
C_IP=$NET_C.2 R_C=$NET_C.1
A_IP=$NET_A.2 R_A=$NET_A.1
B_IP=$NET_B.2 R_B=$NET_B.1
note "links: client $C_IP/24 <-> router $R_C | router $R_A <-> serverA $A_IP/24 | router $R_B <-> serverB $B_IP/24"

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
for ns in "${ALL_NS[@]}"; do
  ip -n "$ns" link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
# The veth pairs are created inside the namespaces, so no name ever exists on the host.
ip -n "$NS_ROUTER" link add c0 type veth peer name eth0 netns "$NS_CLIENT"
ip -n "$NS_ROUTER" link add a0 type veth peer name eth0 netns "$NS_A"
ip -n "$NS_ROUTER" link add b0 type veth peer name eth0 netns "$NS_B"
for ifc in c0 a0 b0; do nsx "$NS_ROUTER" sysctl -qw "net.ipv4.conf.$ifc.rp_filter=0"; done
ip -n "$NS_ROUTER" addr add "$R_C/24" dev c0
ip -n "$NS_ROUTER" addr add "$R_A/24" dev a0
ip -n "$NS_ROUTER" addr add "$R_B/24" dev b0
for ifc in c0 a0 b0; do ip -n "$NS_ROUTER" link set "$ifc" up; done
ip -n "$NS_CLIENT" addr add "$C_IP/24" dev eth0
ip -n "$NS_CLIENT" link set eth0 up
ip -n "$NS_CLIENT" route add default via "$R_C"
for side in A B; do
  if [[ $side == A ]]; then ns=$NS_A ip_=$A_IP gw=$R_A ttl=$TTL_A; else ns=$NS_B ip_=$B_IP gw=$R_B ttl=$TTL_B; fi
  ip -n "$ns" addr add "$ip_/24" dev eth0
  ip -n "$ns" addr add "$VIP_CIDR" dev eth0 label eth0:1
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$gw"
  # Replies from this server carry its own TTL: how the client tells who answered.
  nsx "$ns" sysctl -qw "net.ipv4.ip_default_ttl=$ttl"
done
# Until the follower writes the VIP route from the emulator, the router drops it.
ip -n "$NS_ROUTER" route add blackhole "$VIP_CIDR"
# Links up and ARP resolved, so the switch is not slowed by the first ARP.
for hop in "$R_C:$NS_CLIENT" "$A_IP:$NS_ROUTER" "$B_IP:$NS_ROUTER"; do
  nsx "${hop#*:}" ping -q -c 1 -W 2 "${hop%%:*}" >/dev/null || die "no link to ${hop%%:*}"
done
note "router: forwarding on, rp_filter off; serverA replies with ttl $TTL_A, serverB with ttl $TTL_B"
onprem_network "$NET_T" "$NET_O"

step "Web servers on $VIP:80 in serverA and serverB"
for name in serverA serverB; do
  if [[ $name == serverA ]]; then ns=$NS_A; else ns=$NS_B; fi
  dir=$WORK/nginx-$name
  mkdir -p "$dir/html"
  cat >"$dir/html/index.html" <<EOF
<!DOCTYPE html>
<html><head><title>Welcome to nginx @$name!</title></head>
<body><h1>Welcome to nginx @$name!</h1></body></html>
EOF
  if command -v nginx >/dev/null; then
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
  server {
    listen $VIP:80;
    root $dir/html;
    index index.html;
  }
}
EOF
    spawn "$dir/stdout.log" ip netns exec "$ns" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
  else
    note "(nginx missing: python3 -m http.server instead)"
    spawn "$dir/stdout.log" ip netns exec "$ns" python3 -m http.server 80 --bind "$VIP" --directory "$dir/html"
  fi
done
for ns in "$NS_A" "$NS_B"; do
  for _ in $(seq 100); do nsx "$ns" curl -sf -o /dev/null --max-time 1 "http://$VIP/" && break; sleep 0.1; done
  nsx "$ns" curl -sf -o /dev/null --max-time 2 "http://$VIP/" || die "web server in $ns does not answer"
done
note "serverA: $(nsx "$NS_A" curl -s "http://$VIP/" | sed -n 's:.*<h1>\(.*\)</h1>.*:\1:p')"
note "serverB: $(nsx "$NS_B" curl -s "http://$VIP/" | sed -n 's:.*<h1>\(.*\)</h1>.*:\1:p')"

MOTO_PORT=$(free_port)
step "EC2 emulator (moto_server) on 127.0.0.1:$MOTO_PORT"
spawn "$WORK/moto.log" moto_server -H 127.0.0.1 -p "$MOTO_PORT"
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$MOTO_PORT/moto-api/reset" >/dev/null || die "moto_server did not start"
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL=$MOTO_URL AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test

step "Building (first run compiles the AWS SDK: a few minutes)"
# One build, run below as binaries (no `cargo run`, which checks freshness each
# time). With an example in it, this build resolves the dev-dependencies too, so
# its features are those of `cargo test`: after `make test` built the tests it
# builds nothing. (`cargo lambda watch` without --only-lambda-apis would run
# `cargo run --bin vip-failover`, dev-dependencies off: other features, and
# tokio and the whole AWS SDK compiled a second time, minutes on 2 cores.)
cargo build --locked --example topology --bin vip-failover

onprem_proxy "$MOTO_PORT"
step "Transit Gateway emulation (test kit's fault proxy) on $PROXY_URL, in front of moto"
note "moto loses a static TGW route's attachment and has no ReplaceTransitGatewayRoute: the proxy"
note "answers as EC2 does. The seeding and the function go through it (TRANSIT_ROUTES=true)."
export AWS_ENDPOINT_URL=$PROXY_URL TRANSIT_ROUTES=true

step "Seeding: serverA and serverB, three route tables with the VIP route to serverA's ENI"
"${TOPOLOGY[@]}" seed | tee "$WORK/seed.env"
# shellcheck disable=SC1091
source "$WORK/seed.env"
# shellcheck disable=SC2153 # TABLES comes from seed.env
read -r TABLE _ <<<"$TABLES"

step "Route follower: emulated table $TABLE -> router namespace"
note "$SERVER_A_ENI (serverA) -> via $A_IP;  $SERVER_B_ENI (serverB) -> via $B_IP"
spawn "$WORK/follower.out" env AWS_ENDPOINT_URL="$MOTO_URL" "$ROOT/.venv/bin/python" -u scripts/route_follower.py \
  --netns "$NS_ROUTER" --table "$TABLE" --vip "$VIP_CIDR" \
  --map "$SERVER_A_ENI=$A_IP" --map "$SERVER_B_ENI=$B_IP" \
  --interval 0.02 --log "$WORK/follower.log"
for _ in $(seq 100); do grep -q "target=$SERVER_A_ENI" "$WORK/follower.log" 2>/dev/null && break; sleep 0.1; done
grep -q "target=$SERVER_A_ENI" "$WORK/follower.log" 2>/dev/null || die "the follower did not apply the initial route"
note "router: $(ip -n "$NS_ROUTER" route show "$VIP_CIDR")"

step "Transit Gateway: a route table tagged vip-failover:group=web, the VPC attached; tgw follows it"
onprem_transit

step "Local Lambda runtime: cargo lambda's runtime API, and the function built above"
start_function
# The first invocation sets the function's clients up: do it now, not on the
# failure path.
invoke events/status.json >"$WORK/status.json" || die "warm-up invocation failed"
note "function warm (status answered)"

step "On premises: the Transit Gateway drops the VIP until vip-failover's reconcile repairs its route"
onprem_repair

curl_vip() {
  nsx "$NS_CLIENT" curl -s --max-time 5 "http://$VIP/" | sed -n 's:.*<h1>Welcome to nginx @\(server[AB]\)!</h1>.*:\1:p'
}

step "Client pings $VIP every 20 ms (ping -D, timestamps) and curls it"
PING_LOG=$WORK/ping.log
spawn "$PING_LOG" ip netns exec "$NS_CLIENT" stdbuf -oL ping -D -n -i "$PING_INTERVAL" -W 1 "$VIP"
PING_PID=$LAST_PID
for _ in $(seq 100); do grep -q "icmp_seq=" "$PING_LOG" && break; sleep 0.05; done
grep -q "icmp_seq=" "$PING_LOG" || die "no ping reply from the VIP"
BEFORE=$(curl_vip)
note "curl http://$VIP/ -> Welcome to nginx @${BEFORE:-?}!"
onprem_traffic_start
sleep 1

step "serverA fails: its instance stops (emulator only), EventBridge sends the state-change event"
"${TOPOLOGY[@]}" stop "$SERVER_A"
sed "s/i-0a1b2c3d4e5f60718/$SERVER_A/g" events/eventbridge-ec2-state-change-stopped.json >"$WORK/event.json"
EVENT_TS=$(date +%s.%N)
invoke "$WORK/event.json" >"$WORK/result.json" || die "the failover invocation failed"
INVOKED_TS=$(date +%s.%N)
python3 - "$WORK/result.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"   vip-failover: {r.get('action')}: {r.get('reason')}")
for t in r.get("route_tables", []) + r.get("transit_routes", []):
    print(f"     {t.get('route_table_id')} {t.get('destination')}: {t.get('before')} -> {t.get('after')} ({t.get('result')})")
EOF
for _ in $(seq 250); do grep -q "target=$SERVER_B_ENI" "$WORK/follower.log" && break; sleep 0.02; done
grep -q "target=$SERVER_B_ENI" "$WORK/follower.log" || die "the router never got the VIP route to serverB"
note "router: $(ip -n "$NS_ROUTER" route show "$VIP_CIDR")"
sleep 0.5
AFTER=$(curl_vip)
note "curl http://$VIP/ -> Welcome to nginx @${AFTER:-?}!"
sleep 1

kill -INT "$PING_PID" # ping prints its statistics and exits
onprem_traffic_stop
for _ in $(seq 50); do kill -0 "$PING_PID" 2>/dev/null || break; sleep 0.1; done
PING_PID=""

step "Route tables after"
"${TOPOLOGY[@]}" routes "$VPC_ID"
note "Transit Gateway route table $TGW_TABLE: $VIP_CIDR -> $TGW_AFTER"

step "Ping statistics"
grep -E "packets transmitted|rtt " "$PING_LOG" | sed 's/^/   /'
grep -E "packets transmitted|rtt " "$WORK/onprem-ping.log" | sed 's/^/   onprem: /'

# Analysis (scripts/ping_report.py): which server answered each echo request (by
# reply TTL), loss, the switch time; for each client, then the Transit Gateway route.
ok=1
python3 scripts/ping_report.py --ping "$PING_LOG" --follower "$WORK/follower.log" \
  --eni-b "$SERVER_B_ENI" --event-ts "$EVENT_TS" --invoked-ts "$INVOKED_TS" \
  --ttl-a $((TTL_A - 1)) --ttl-b $((TTL_B - 1)) --before "$BEFORE" --after "$AFTER" \
  --fields "$WORK/client.fields" || ok=0
onprem_report || ok=0
echo "RESULT ok=$ok $(sed 's/^ok=[01] //' "$WORK/client.fields") $(tr '\n' ' ' <"$WORK/onprem.fields" | tr -s ' ' | sed 's/ $//')"
[[ $ok == 1 ]] || exit 3
