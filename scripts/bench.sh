#!/usr/bin/env bash
# `make bench`: release build, Lambda zip, measurements against the local emulator
# (benches/failover.rs), machine/versions/artifact sizes, then the tables of
# BENCHMARKS.md (scripts/bench_render.py). `scripts/bench.sh render` renders the last
# run again; `scripts/bench.sh smoke` is a debug run with small sizes, rendered.
# Knobs: BENCH_* of benches/failover.rs; BENCH_ARM64=0 zips the x86_64 release binary
# instead of building for arm64 (one release build instead of two); BENCH_DIR, BENCH_MD.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD FUNCTION=vip-failover
export PATH="$ROOT/.venv/bin:$PATH"
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench} BENCH_MD=${BENCH_MD:-$ROOT/BENCHMARKS.md}
ARM64_TARGET_DIR=${ARM64_TARGET_DIR:-$ROOT/target/arm64} ENV_JSON=$BENCH_DIR/env.json
export BENCH_OUT=$BENCH_DIR/results.json
ZIP="" TIMING=() LOAD_BEFORE="" LOAD_AFTER=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
render() { python3 scripts/bench_render.py "$BENCH_OUT" "$ENV_JSON" "$BENCH_MD"; }
first_line() { local out; out=$("$@" 2>&1) && head -n1 <<<"$out" || echo unavailable; }
locked() { awk -v n="name = \"$1\"" '$0 == n { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock; }
to_json() { python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:]), indent=1))' "$@"; }

# The Lambda zip: arm64 with cargo-lambda, else the x86_64 release binary zipped.
package() {
    ZIP=$ARM64_TARGET_DIR/lambda/$FUNCTION/bootstrap.zip ARCH=arm64 NOTE=""
    CMD="CARGO_TARGET_DIR=${ARM64_TARGET_DIR#"$ROOT"/} cargo lambda build --release --arm64 --bin $FUNCTION --output-format zip"
    rm -f "$ZIP"
    [[ ${BENCH_ARM64:-1} != 0 ]] && CARGO_TARGET_DIR=$ARM64_TARGET_DIR \
        cargo lambda build --release --arm64 --bin "$FUNCTION" --output-format zip && [[ -f $ZIP ]] && return
    echo "bench: packaging the x86_64 release binary instead of an arm64 build" >&2
    ZIP=$BENCH_DIR/x86_64/bootstrap.zip ARCH=x86_64 CMD="zip -9 bootstrap.zip bootstrap"
    NOTE="Not the arm64 build: the x86_64 release binary built by cargo bench, zipped."
    rm -rf "$BENCH_DIR/x86_64" && mkdir -p "$BENCH_DIR/x86_64"
    cp "target/release/$FUNCTION" "$BENCH_DIR/x86_64/bootstrap"
    (cd "$BENCH_DIR/x86_64" && zip -q -9 bootstrap.zip bootstrap)
}

# Machine, versions, load, timings and artifact sizes -> $ENV_JSON (flat strings).
collect_env() {
    local artifact=()
    [[ -z $ZIP ]] || artifact=(arch="$ARCH" artifact_cmd="$CMD" artifact_note="$NOTE"
        zip_bytes="$(stat -c %s "$ZIP")" bootstrap_bytes="$(unzip -p "$ZIP" bootstrap | wc -c)"
        gzip_bytes="$(unzip -p "$ZIP" bootstrap | gzip -9 | wc -c)")
    to_json date="$(date -u '+%Y-%m-%d %H:%M UTC')" commit="$(git rev-parse --short HEAD)" \
        changed="$(git --no-optional-locks status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock | cut -c4- | paste -sd' ')" \
        nproc="$(nproc)" cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
        mem_total="$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" kernel="$(uname -r)" \
        rustc="$(first_line rustc -V)" cargo_lambda="$(first_line cargo lambda --version)" \
        moto="$(first_line .venv/bin/python -c 'import moto; print(moto.__version__)')" \
        awscli="$(first_line .venv-bench/bin/aws --version | cut -d' ' -f1)" \
        aws_sdk_ec2="$(locked aws-sdk-ec2)" aws_config="$(locked aws-config)" \
        lambda_runtime="$(locked lambda_runtime)" tokio="$(locked tokio)" \
        load_before="$LOAD_BEFORE" load_after="$LOAD_AFTER" results="${BENCH_OUT#"$ROOT"/}" \
        "${TIMING[@]}" "${artifact[@]}" >"$ENV_JSON"
}

# cargo bench (or cargo test for a debug run); the handler's EMF lines go to a log.
measure() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    "$@" --bench failover --locked >"$BENCH_DIR/handler-stdout.log"
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
}

mkdir -p "$BENCH_DIR"
case ${1:-} in
render) render && exit 0 ;;
smoke)
    export BENCH_FORCE=1 BENCH_SIZES=${BENCH_SIZES:-1,10} BENCH_RUNS=${BENCH_RUNS:-3} \
        BENCH_LATENCY_SIZES=${BENCH_LATENCY_SIZES:-1,10} BENCH_LATENCY_RUNS=${BENCH_LATENCY_RUNS:-3} \
        BENCH_THROTTLE_SIZES=${BENCH_THROTTLE_SIZES:-1,50} BENCH_CHURN_EVENTS=${BENCH_CHURN_EVENTS:-100} \
        BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-3} BENCH_CLI_RUNS=${BENCH_CLI_RUNS:-1} BENCH_CLI_SIZES=${BENCH_CLI_SIZES:-1}
    step "smoke: debug build, small sizes (cargo test --bench failover)"
    measure cargo test && collect_env && render && exit 0 ;;
esac

command -v cargo-lambda >/dev/null || { echo "bench: cargo-lambda is not on PATH: run 'make tools'" >&2; exit 1; }
step "build: cargo bench --bench failover --no-run (release profile with LTO)"
cargo bench --bench failover --no-run --locked
t1=$SECONDS && step "package the Lambda zip" && package
t2=$SECONDS && step "measure: cargo bench --bench failover (emulator on 127.0.0.1)"
BENCH_ZIP=$ZIP measure cargo bench
TIMING=(build_s=$t1 package_s=$((t2 - t1)) measure_s=$((SECONDS - t2)) total_s=$SECONDS)
collect_env && render
echo "bench: done in $SECONDS s" >&2
