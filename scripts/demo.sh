#!/usr/bin/env bash
# `make demo`: the main job, locally. Starts the EC2 emulator, seeds a two-AZ VPC
# (serverA active, serverB standby, three client route tables), runs the Lambda in
# the local runtime (cargo lambda's runtime API, the function built here), fails
# serverA and sends the EC2 state-change event through `cargo lambda invoke`, then
# shows every VIP route moved to serverB. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
TOPOLOGY=("$ROOT/target/debug/examples/topology")
CLI=("$ROOT/target/debug/vip-failover-cli")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vip-failover-demo.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
# Interrupted, the script exits (and so cleans up) instead of going on without them.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
# One build, run below as binaries (no `cargo run`, which checks freshness each
# time). With an example in it, this build resolves the dev-dependencies too, so
# its features are those of `cargo test`: after `cargo test` built the tests it
# builds nothing (after `make test`, whose build goes through clippy's driver, it
# recompiles only our own crates: the wrapper is in their fingerprint, see the
# Makefile). (`cargo lambda watch` without --only-lambda-apis would run
# `cargo run --bin vip-failover`, dev-dependencies off: other features, and
# tokio and the whole AWS SDK compiled a second time, minutes on 2 cores.)
cargo build --locked --example topology --bin vip-failover --bin vip-failover-cli

step "Seeding: VPC 10.0.0.0/16, serverA in us-east-1a, serverB in us-east-1b, VIP 192.168.100.10/32, three client tables tagged vip-failover:group=web"
"${TOPOLOGY[@]}" seed | tee "$WORK/seed.env"
# shellcheck disable=SC1091
source "$WORK/seed.env"

step "Route tables before: the VIP routes to serverA ($SERVER_A_ENI)"
"${TOPOLOGY[@]}" routes "$VPC_ID"

INVOKE_PORT=$(free_port)
step "Local Lambda runtime: cargo lambda's runtime API on 127.0.0.1:$INVOKE_PORT, and the function built above"
# `cargo lambda watch --only-lambda-apis` serves the Lambda APIs (invoke, and the
# runtime API the function polls) without building or starting the function: we
# start the binary built above, with the variables the watcher prints and the
# emulator's endpoint, region and credentials exported above. The runtime API at
# `/.rt` is the function the watcher calls `_`, so invoke must name `_` (any other
# name waits for a function that never comes); the function itself keeps its
# name, which only its metrics show. Logs stay outside the crate directory.
cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" \
  >"$WORK/watch.log" 2>&1 &
PIDS+=($!)
wait_for_port "$INVOKE_PORT" 100 "$!" || { echo "FAILED: cargo lambda watch did not start" >&2; cat "$WORK/watch.log" >&2; exit 1; }
AWS_LAMBDA_FUNCTION_NAME=vip-failover AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=4096 \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$INVOKE_PORT/.rt" \
  "$ROOT/target/debug/vip-failover" >"$WORK/function.log" 2>&1 &
PIDS+=($!)
invoke() { lambda_invoke "$INVOKE_PORT" "$1" 60 _; }

step "Status before, through the Lambda (events/status.json)"
invoke events/status.json | python3 -m json.tool

step "Status before, as an operator sees it (vip-failover-cli status)"
"${CLI[@]}" status --group web

step "Pre-flight check (vip-failover-cli check): the tables are tagged as the template requires"
"${CLI[@]}" check --group web || { echo "FAILED: the pre-flight check did not pass" >&2; exit 1; }

step "serverA fails: its instance stops, EventBridge sends the state-change event"
"${TOPOLOGY[@]}" stop "$SERVER_A"
sed "s/i-0a1b2c3d4e5f60718/$SERVER_A/g" events/eventbridge-ec2-state-change-stopped.json >"$WORK/event.json"
invoke "$WORK/event.json" | tee "$WORK/result.json" | python3 -m json.tool

step "Route tables after: the VIP routes to serverB ($SERVER_B_ENI)"
"${TOPOLOGY[@]}" routes "$VPC_ID" | tee "$WORK/after.txt"

step "Status after (vip-failover-cli status)"
"${CLI[@]}" status --group web

moved=$(grep -c -- "-> $SERVER_B_ENI (serverB)  <- VIP" "$WORK/after.txt" || true)
left=$(grep -c -- "-> $SERVER_A_ENI (serverA)  <- VIP" "$WORK/after.txt" || true)
if [[ "$moved" -eq 3 && "$left" -eq 0 ]]; then
  step "OK: all 3 VIP routes moved from serverA to serverB; other routes untouched"
else
  echo "FAILED: $moved VIP routes on serverB, $left still on serverA" >&2
  echo "--- function log:" >&2; tail -50 "$WORK/function.log" >&2
  exit 1
fi
