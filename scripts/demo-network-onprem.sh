# shellcheck shell=bash
# Sourced by scripts/demo-network.sh: the on-premises client behind a Transit
# Gateway (issue 20), beside the in-VPC client.
#
#   onprem ── tgw ── router ──┬── serverA
#                             └── serverB
#
# `tgw` plays the Transit Gateway: its kernel route to the VIP is written only by
# scripts/route_follower.py --tgw-table, which mirrors the VIP's static route of
# an emulated Transit Gateway route table (tagged vip-failover:group=web): towards
# the VPC's attachment -> via the router namespace; blackhole or missing ->
# blackhole. The route starts blackholed (TGW_START=missing: absent), so the
# on-premises client cannot reach the VIP until vip-failover, run with
# TRANSIT_ROUTES=true, repairs it. Return path: the servers' default route is the
# router, which routes the on-premises /24 to tgw (the members' subnets route
# on-premises CIDRs to the Transit Gateway).
#
# moto loses a static Transit Gateway route's attachment in its answers and has
# no ReplaceTransitGatewayRoute: the test kit's fault proxy, with its Transit
# Gateway emulation only (`topology transit-proxy`), answers as EC2 does. The
# seeding, the function and the tgw follower go through it; the VPC route
# follower reads moto directly, as before.
#
# Uses the main script's variables and helpers (NS_*, WORK, ROOT, VIP*, TTL_*,
# spawn, nsx, note, step, die, invoke, TOPOLOGY).

TGW_START=${TGW_START:-blackhole}
# shellcheck disable=SC2034 # read by curl_loop (scripts/netns-traffic.sh)
CURL_INTERVAL=0.1

# The proxy in front of moto at 127.0.0.1:$1; sets PROXY_URL.
onprem_proxy() {
  spawn "$WORK/proxy.out" "${TOPOLOGY[@]}" transit-proxy "127.0.0.1:$1"
  for _ in $(seq 100); do grep -qs '^AWS_ENDPOINT_URL=' "$WORK/proxy.out" && break; sleep 0.1; done
  PROXY_URL=$(sed -n 's/^AWS_ENDPOINT_URL=//p' "$WORK/proxy.out")
  [[ -n $PROXY_URL ]] || die "the Transit Gateway proxy did not start"
}

# Namespaces tgw and onprem, their links ($1: tgw <-> router /24 prefix, $2:
# onprem <-> tgw), and the return route in the router.
onprem_network() {
  NS_TGW=$ID-tgw NS_ONPREM=$ID-onprem
  local ns ifc
  for ns in "$NS_TGW" "$NS_ONPREM"; do
    ip netns add "$ns"
    CREATED_NS+=("$ns")
    ip -n "$ns" link set lo up
    nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  nsx "$NS_TGW" sysctl -qw net.ipv4.ip_forward=1
  R_T=$1.1 T_R=$1.2 T_O=$2.1 O_IP=$2.2 NET_ONPREM=$2.0/24
  ip -n "$NS_ROUTER" link add t0 type veth peer name vpc0 netns "$NS_TGW"
  ip -n "$NS_TGW" link add o0 type veth peer name eth0 netns "$NS_ONPREM"
  nsx "$NS_ROUTER" sysctl -qw net.ipv4.conf.t0.rp_filter=0
  for ifc in vpc0 o0; do nsx "$NS_TGW" sysctl -qw "net.ipv4.conf.$ifc.rp_filter=0"; done
  ip -n "$NS_ROUTER" addr add "$R_T/24" dev t0
  ip -n "$NS_TGW" addr add "$T_R/24" dev vpc0
  ip -n "$NS_TGW" addr add "$T_O/24" dev o0
  ip -n "$NS_ONPREM" addr add "$O_IP/24" dev eth0
  ip -n "$NS_ROUTER" link set t0 up
  for ifc in vpc0 o0; do ip -n "$NS_TGW" link set "$ifc" up; done
  ip -n "$NS_ONPREM" link set eth0 up
  ip -n "$NS_ONPREM" route add default via "$T_O"
  # Return path: on-premises CIDRs to the Transit Gateway.
  ip -n "$NS_ROUTER" route add "$NET_ONPREM" via "$T_R"
  # Until the follower writes the VIP route from the emulated TGW table, tgw drops it.
  ip -n "$NS_TGW" route add blackhole "$VIP_CIDR"
  for hop in "$T_O:$NS_ONPREM" "$R_T:$NS_TGW" "$T_R:$NS_ROUTER"; do
    nsx "${hop#*:}" ping -q -c 1 -W 2 "${hop%%:*}" >/dev/null || die "no link to ${hop%%:*}"
  done
  note "onprem $O_IP/24 <-> tgw $T_O | tgw $T_R <-> router $R_T; router: $NET_ONPREM via $T_R (return path)"
}

# The Transit Gateway, its tagged route table with the VIP route $TGW_START, the
# VPC attached; then the tgw follower.
onprem_transit() {
  "${TOPOLOGY[@]}" transit-seed "$VPC_ID" "$TGW_START" | tee "$WORK/tgw.env" | sed 's/^/   /'
  # shellcheck disable=SC1091
  source "$WORK/tgw.env"
  spawn "$WORK/tgw-follower.out" env AWS_ENDPOINT_URL="$PROXY_URL" "$ROOT/.venv/bin/python" -u \
    scripts/route_follower.py --netns "$NS_TGW" --tgw-table "$TGW_TABLE" --vip "$VIP_CIDR" \
    --map "$TGW_ATTACHMENT=$R_T" --interval 0.02 --log "$WORK/tgw-follower.log"
  for _ in $(seq 100); do grep -q "^CHANGE" "$WORK/tgw-follower.log" 2>/dev/null && break; sleep 0.1; done
  grep -q "^CHANGE" "$WORK/tgw-follower.log" 2>/dev/null || die "the tgw follower did not apply the initial route"
  note "$TGW_TABLE: VIP route $("${TOPOLOGY[@]}" tgw-route "$TGW_TABLE"); tgw: $(ip -n "$NS_TGW" route show "$VIP_CIDR")"
}

# Milliseconds from epoch time $1 to epoch time $2; -1 when $2 is empty (never).
ms_between() {
  if [[ -z $2 ]]; then echo -1; return; fi
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }'
}

# Before the function runs, the Transit Gateway drops on-premises packets to the
# VIP; a reconcile (TRANSIT_ROUTES=true) repairs the static route and they get
# through. Sets TGW_CUT_OFF_REPLIES (on-premises replies before the reconcile),
# TGW_REPAIRED (the route after it), TGW_ROUTE_MS and TGW_REPAIR_MS (reconcile
# sent -> the tgw follower saw the route to the VPC -> first on-premises reply;
# -1: never). A route left broken does not stop the demo: the report says so.
onprem_repair() {
  local pinger sent first_reply route_seen
  TGW_CUT_OFF_REPLIES=$(nsx "$NS_ONPREM" ping -n -q -c 10 -i 0.1 -w 1 "$VIP" \
    | sed -n 's/.* \([0-9]*\) received.*/\1/p' || true)
  TGW_CUT_OFF_REPLIES=${TGW_CUT_OFF_REPLIES:-0}
  note "onprem pings $VIP before the reconcile: $TGW_CUT_OFF_REPLIES replies" \
    "(tgw: $(ip -n "$NS_TGW" route show "$VIP_CIDR"))"
  spawn "$WORK/repair-ping.log" ip netns exec "$NS_ONPREM" stdbuf -oL ping -D -n -i "$PING_INTERVAL" -W 1 "$VIP"
  pinger=$LAST_PID
  sent=$(date +%s.%N)
  invoke events/reconcile.json >"$WORK/reconcile.json" || die "the reconcile invocation failed"
  python3 - "$WORK/reconcile.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for g in r.get("groups", [r]):
    for t in g.get("transit_routes", []):
        print(f"   vip-failover: {t['route_table_id']} {t['destination']}: "
              f"{t.get('before') or 'missing'} -> {t.get('after')} ({t['result']})")
EOF
  for _ in $(seq 250); do grep -q "icmp_seq=" "$WORK/repair-ping.log" && break; sleep 0.02; done
  kill -INT "$pinger" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pinger" 2>/dev/null || break; sleep 0.1; done
  TGW_REPAIRED=$("${TOPOLOGY[@]}" tgw-route "$TGW_TABLE")
  first_reply=$(sed -n 's/^\[\([0-9.]*\)\] .*icmp_seq=.*/\1/p' "$WORK/repair-ping.log" | head -1)
  route_seen=$(awk -v a="target=$TGW_ATTACHMENT" \
    '/^CHANGE/ && index($0, a) { sub("seen=", "", $3); print $3; exit }' "$WORK/tgw-follower.log")
  TGW_ROUTE_MS=$(ms_between "$sent" "$route_seen")
  TGW_REPAIR_MS=$(ms_between "$sent" "$first_reply")
  note "$TGW_TABLE: VIP route $TGW_REPAIRED; tgw: $(ip -n "$NS_TGW" route show "$VIP_CIDR")"
  if [[ $TGW_REPAIRED == "$TGW_ATTACHMENT" && $TGW_REPAIR_MS -ge 0 ]]; then
    note "reconcile sent -> the tgw follower sees the route to the VPC ${TGW_ROUTE_MS} ms" \
      "-> first on-premises reply ${TGW_REPAIR_MS} ms"
  else
    note "NOT REPAIRED: the on-premises client cannot reach the VIP (Transit Gateway route: $TGW_REPAIRED)"
  fi
}

# On-premises traffic across the failover: ping every 20 ms, curl every 100 ms.
onprem_traffic_start() {
  TGW_BEFORE=$("${TOPOLOGY[@]}" tgw-route "$TGW_TABLE")
  spawn "$WORK/onprem-ping.log" ip netns exec "$NS_ONPREM" stdbuf -oL ping -D -n -i "$PING_INTERVAL" -W 1 "$VIP"
  ONPREM_PING=$LAST_PID
  curl_loop "$NS_ONPREM" "$WORK/onprem-curl.log"
  ONPREM_CURL=$LAST_PID
  # Up to 2 s for the first answers; none (a broken path) is for the report to say.
  for _ in $(seq 40); do
    grep -q "icmp_seq=" "$WORK/onprem-ping.log" && grep -q "serverA" "$WORK/onprem-curl.log" && break
    sleep 0.05
  done
  note "onprem: pings every 20 ms, curls every 100 ms; curl -> $(tail -1 "$WORK/onprem-curl.log" | cut -d' ' -f3)"
}

onprem_traffic_stop() {
  kill -TERM -- "-$ONPREM_CURL" 2>/dev/null || true
  kill -INT "$ONPREM_PING" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$ONPREM_PING" 2>/dev/null || break; sleep 0.1; done
  TGW_AFTER=$("${TOPOLOGY[@]}" tgw-route "$TGW_TABLE")
}

# The on-premises client's measurements into $WORK/onprem.fields, and the
# Transit Gateway route's: cut off before the reconcile, repaired by it, then
# unchanged by the failover inside the VPC. (The proxy answers a replace as a
# delete and a create in moto, so the tgw follower may see the route `missing`
# for one poll during the repair; real EC2 replaces atomically. Only changes
# after the repair count.)
onprem_report() {
  local rc=0 changes repaired=0 stable=0
  python3 scripts/ping_report.py --ping "$WORK/onprem-ping.log" --follower "$WORK/follower.log" \
    --eni-b "$SERVER_B_ENI" --event-ts "$EVENT_TS" --invoked-ts "$INVOKED_TS" \
    --ttl-a $((TTL_A - 2)) --ttl-b $((TTL_B - 2)) --curl "$WORK/onprem-curl.log" \
    --prefix onprem_ --label "onprem: " --fields "$WORK/onprem.fields" || rc=$?
  changes=$(awk -v a="target=$TGW_ATTACHMENT" '/^CHANGE/ { if (n) c++; if (index($0, a)) n = 1 }
    END { print n ? c + 0 : -1 }' "$WORK/tgw-follower.log")
  if [[ $TGW_CUT_OFF_REPLIES -eq 0 && $TGW_REPAIRED == "$TGW_ATTACHMENT" && $TGW_REPAIR_MS -ge 0 ]]; then
    repaired=1
  fi
  if [[ $TGW_BEFORE == "$TGW_ATTACHMENT" && $TGW_AFTER == "$TGW_ATTACHMENT" && $changes -eq 0 ]]; then
    stable=1
  fi
  note "onprem: $TGW_TABLE VIP route $TGW_START, then $TGW_REPAIRED after the reconcile" \
    "($TGW_CUT_OFF_REPLIES replies before it)$([[ $repaired == 1 ]] || echo ' (NOT REPAIRED)');" \
    "before the failover $TGW_BEFORE, after $TGW_AFTER; tgw route changes after the repair:" \
    "$changes$([[ $stable == 1 ]] || echo ' (NOT STABLE)')"
  printf ' %s' "tgw_start=$TGW_START" "tgw_cut_off_replies=$TGW_CUT_OFF_REPLIES" \
    "tgw_route_seen_ms=$TGW_ROUTE_MS" "tgw_repair_ms=$TGW_REPAIR_MS" "tgw_repaired=$repaired" \
    "tgw_route_before=$TGW_BEFORE" "tgw_route_after=$TGW_AFTER" \
    "tgw_changes_after_repair=$changes" "tgw_route_stable=$stable" >>"$WORK/onprem.fields"
  echo >>"$WORK/onprem.fields"
  [[ $rc -eq 0 && $repaired -eq 1 && $stable -eq 1 ]]
}
