#!/usr/bin/env bash
# Helpers for mk/sam.mk (deployment targets). Run from the crate root.
#
#   scripts/sam-tools.sh arm64-target           add the aarch64 Rust target if missing
#   scripts/sam-tools.sh check-bootstrap FILE   FILE must be an aarch64 Linux ELF executable
#   scripts/sam-tools.sh invoke EVENT FUNCTION  run FUNCTION locally under `cargo lambda watch`
#                                               and send it EVENT (a JSON file)
#
# invoke honours INVOKE_TIMEOUT (seconds, default 900: the first call compiles the
# function) and passes the caller's environment (AWS_REGION, AWS_PROFILE,
# AWS_ENDPOINT_URL for an emulator, TAG_PREFIX ...) on to the function.
set -euo pipefail

ARM64_TARGET=aarch64-unknown-linux-gnu

die() { echo "sam-tools: $*" >&2; exit 1; }

arm64_target() {
    if ! command -v rustup >/dev/null 2>&1; then
        echo "sam-tools: WARNING: rustup not found; cannot add $ARM64_TARGET." >&2
        echo "sam-tools: the arm64 build needs the $ARM64_TARGET standard library (install rustup, or a toolchain that ships it)." >&2
        return 0
    fi
    if rustup target list --installed 2>/dev/null | grep -qx "$ARM64_TARGET"; then
        return 0
    fi
    echo "sam-tools: adding Rust target $ARM64_TARGET (one-time download)"
    if ! rustup target add "$ARM64_TARGET"; then
        echo "sam-tools: WARNING: 'rustup target add $ARM64_TARGET' failed (offline? proxy?)." >&2
        echo "sam-tools: the arm64 build will fail until it is installed; retry with network access." >&2
    fi
    return 0
}

check_bootstrap() {
    local file=${1:?usage: check-bootstrap FILE}
    [[ -f $file ]] || die "$file does not exist: the build did not produce the function binary"
    python3 - "$file" <<'PY'
import struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    head = f.read(20)
if len(head) < 20 or head[:4] != b"\x7fELF":
    sys.exit(f"sam-tools: {path} is not an ELF file (first bytes {head[:4]!r})")
ei_class, ei_data = head[4], head[5]
if ei_class != 2 or ei_data != 1:
    sys.exit(f"sam-tools: {path} is not a 64-bit little-endian ELF (class {ei_class}, data {ei_data})")
e_type, e_machine = struct.unpack_from("<HH", head, 16)
machines = {183: "aarch64", 62: "x86_64", 3: "x86", 40: "arm"}
if e_machine != 183:
    sys.exit(f"sam-tools: {path} is built for {machines.get(e_machine, e_machine)}, not aarch64 (arm64 Lambda)")
if e_type not in (2, 3):
    sys.exit(f"sam-tools: {path} is not an executable (ELF type {e_type})")
import os
print(f"sam-tools: {path}: ELF 64-bit LSB aarch64 executable, {os.path.getsize(path)} bytes")
PY
}

# shellcheck source=scripts/local-lambda.sh
source "$(dirname "${BASH_SOURCE[0]}")/local-lambda.sh"

invoke() {
    local event=${1:?usage: invoke EVENT FUNCTION} function=${2:?usage: invoke EVENT FUNCTION}
    [[ -f $event ]] || die "event file $event not found (see events/)"
    command -v cargo-lambda >/dev/null 2>&1 || die "cargo-lambda is not on PATH: run 'make tools' (it lives in .venv/bin)"
    local port logdir watch_pid status=0
    port=$(free_port)
    # Logs outside the crate: a file the watcher can see would restart it in a loop.
    logdir=$(mktemp -d "${TMPDIR:-/tmp}/vip-failover-invoke.XXXXXX")
    echo "sam-tools: starting 'cargo lambda watch' on 127.0.0.1:$port (log: $logdir/watch.log)"
    # Own process group, so the watcher and the function it spawns stop together.
    setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
        >"$logdir/watch.log" 2>&1 &
    watch_pid=$!
    stop_watcher() {
        if kill -0 "$watch_pid" 2>/dev/null; then
            kill -TERM -- "-$watch_pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL -- "-$watch_pid" 2>/dev/null || true
        fi
    }
    trap stop_watcher EXIT INT TERM
    if ! wait_for_port "$port" 300 "$watch_pid"; then
        tail -n 30 "$logdir/watch.log" >&2 || true
        die "the watcher did not start listening on 127.0.0.1:$port"
    fi
    echo "sam-tools: invoking $function with $event (first call compiles the function; timeout ${INVOKE_TIMEOUT:-900}s)"
    lambda_invoke "$port" "$event" "${INVOKE_TIMEOUT:-900}" "$function" || status=$?
    if [[ $status != 0 ]]; then
        [[ $status == 124 ]] && echo "sam-tools: invoke timed out after ${INVOKE_TIMEOUT:-900}s" >&2
        echo "sam-tools: last lines of $logdir/watch.log:" >&2
        tail -n 30 "$logdir/watch.log" >&2 || true
    fi
    stop_watcher
    trap - EXIT INT TERM
    echo "sam-tools: watcher stopped; its log is $logdir/watch.log"
    return "$status"
}

case "${1:-}" in
    arm64-target) arm64_target ;;
    check-bootstrap) shift; check_bootstrap "$@" ;;
    invoke) shift; invoke "$@" ;;
    *) die "usage: $0 {arm64-target|check-bootstrap FILE|invoke EVENT FUNCTION}" ;;
esac
