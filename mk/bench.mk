# Benchmarks (issue 6), included by the Makefile (`-include mk/bench.mk`). It relies
# on VENV, PATH (with $(VENV)/bin: moto, cargo-lambda) and `tools` from the
# Makefile, and on `arm64-target` from mk/sam.mk.
#
#   make bench          release build, measurements against the local emulator,
#                       BENCHMARKS.md written from that run (scripts/bench.sh)
#   make bench-render   BENCHMARKS.md again from the last run (target/bench/*.json)
#   make bench-tools    the aws CLI for the baseline, in its own venv

BENCH_VENV := .venv-bench

.PHONY: bench bench-render bench-tools

## The aws CLI (baseline of the benchmark) in its own venv: awscli pins a botocore
## that must not replace moto's in $(VENV).
bench-tools: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: requirements-bench.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

## Failover latency vs the API floor, EC2 calls, cold start, RSS, zip size, aws CLI
## baseline; writes BENCHMARKS.md. The first run builds the SDK with LTO (minutes).
bench: tools bench-tools arm64-target
	scripts/bench.sh

bench-render:
	scripts/bench.sh render
