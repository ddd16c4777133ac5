#!/usr/bin/env bash
# Runs the test binaries `cargo test <args>` would run, TEST_JOBS (default 3) at
# a time instead of one after another, and fails when any of them fails.
#
# Why: most of a binary's time is spent waiting (on moto_server, a Python
# process, and on the scenarios' own pauses), so one binary at a time leaves
# about 40% of two cores idle; three at a time keep them busy (`make test`'s run
# phase went from 214 to 160 s). Why not cargo-nextest: it runs each test in a
# process of its own, and each would start its own moto zygote (about 1.5
# CPU-seconds, testkit::zygote), where one binary shares one.
#
# Each binary's output is printed whole when it ends, under cargo's own
# "Running" line, so the `test result:` lines total as they did (.ci/run).
set -euo pipefail

jobs=${TEST_JOBS:-3}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# The executables, with the package folder cargo would run each in and the
# source cargo names; the slowest first, so that they do not start last.
cargo test "$@" --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
slow = ["network_e2e", "scale", "trust", "cli", "local_lambda"]
found = []
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = m["target"]["name"]
        rank = slow.index(name) if name in slow else len(slow)
        folder = m["manifest_path"].rsplit("/", 1)[0]
        found.append((rank, name, m["executable"], folder, m["target"]["src_path"]))
for _, _, exe, folder, source in sorted(found):
    print(exe, folder, source)
' >"$logs/binaries"

run_one() {
    local exe=$1 folder=$2 source=$3 logs=$4 name rc=0
    name=$(basename "$exe")
    (cd "$folder" && "$exe") >"$logs/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$logs/$name.rc"
    # One binary's output at a time.
    flock "$logs/binaries" sh -c 'printf "     Running %s (%s)\n" "$0" "$1"; cat "$2"' \
        "${source#"$PWD"/}" "${exe#"$PWD"/}" "$logs/$name.log"
}
export -f run_one

xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1" "$2" "'"$logs"'"' <"$logs/binaries"

failed=$(grep -L '^0$' "$logs"/*.rc | xargs -r -n1 basename | sed 's/\.rc$//')
if [ -n "$failed" ]; then
    echo "failed test binaries:" $failed >&2
    exit 1
fi
