#!/usr/bin/env bash
# `make demo`: the main job, locally. Starts the EC2 emulator, seeds a two-AZ VPC
# (serverA active, serverB standby, three client route tables), runs the Lambda in
# the local runtime (`cargo lambda watch`), fails serverA and sends the EC2
# state-change event through `cargo lambda invoke`, then shows every VIP route
# moved to serverB. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vip-failover-demo.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/local-lambda.sh
source scripts/local-lambda.sh
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

MOTO_PORT=$(free_port)
step "EC2 emulator (moto_server) on 127.0.0.1:$MOTO_PORT"
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$MOTO_PORT/moto-api/reset" >/dev/null

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test

step "Building (first run compiles the AWS SDK: a few minutes)"
cargo build --quiet --example topology --bin vip-failover --bin vip-failover-cli

step "Seeding: VPC 10.0.0.0/16, serverA in us-east-1a, serverB in us-east-1b, VIP 192.168.100.10/32, three client tables tagged vip-failover:group=web"
cargo run --quiet --example topology -- seed | tee "$WORK/seed.env"
# shellcheck disable=SC1091
source "$WORK/seed.env"

step "Route tables before: the VIP routes to serverA ($SERVER_A_ENI)"
cargo run --quiet --example topology -- routes "$VPC_ID"

INVOKE_PORT=$(free_port)
step "Local Lambda runtime: cargo lambda watch on 127.0.0.1:$INVOKE_PORT"
# Logs stay outside the crate directory, or the watcher restarts in a loop.
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" >"$WORK/watch.log" 2>&1 &
PIDS+=($!)
invoke() { lambda_invoke "$INVOKE_PORT" "$1" 300; }
wait_for_port "$INVOKE_PORT" 600 || true

step "Status before, through the Lambda (events/status.json)"
invoke events/status.json | python3 -m json.tool

step "Status before, as an operator sees it (vip-failover-cli status)"
target/debug/vip-failover-cli status --group web

step "Pre-flight check (vip-failover-cli check): the tables are tagged as the template requires"
target/debug/vip-failover-cli check --group web || { echo "FAILED: the pre-flight check did not pass" >&2; exit 1; }

step "serverA fails: its instance stops, EventBridge sends the state-change event"
cargo run --quiet --example topology -- stop "$SERVER_A"
sed "s/i-0a1b2c3d4e5f60718/$SERVER_A/g" events/eventbridge-ec2-state-change-stopped.json >"$WORK/event.json"
invoke "$WORK/event.json" | tee "$WORK/result.json" | python3 -m json.tool

step "Route tables after: the VIP routes to serverB ($SERVER_B_ENI)"
cargo run --quiet --example topology -- routes "$VPC_ID" | tee "$WORK/after.txt"

step "Status after (vip-failover-cli status)"
target/debug/vip-failover-cli status --group web

moved=$(grep -c -- "-> $SERVER_B_ENI (serverB)  <- VIP" "$WORK/after.txt" || true)
left=$(grep -c -- "-> $SERVER_A_ENI (serverA)  <- VIP" "$WORK/after.txt" || true)
if [[ "$moved" -eq 3 && "$left" -eq 0 ]]; then
  step "OK: all 3 VIP routes moved from serverA to serverB; other routes untouched"
else
  echo "FAILED: $moved VIP routes on serverB, $left still on serverA" >&2
  echo "--- function log:" >&2; tail -50 "$WORK/watch.log" >&2
  exit 1
fi
