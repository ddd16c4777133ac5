# Benchmarks (issues 6 and 12), included by the Makefile (`-include mk/bench.mk`). It
# relies on VENV, PATH (with $(VENV)/bin: moto, cargo-lambda) and `tools` from the
# Makefile, and on `arm64-target` from mk/sam.mk.
#
#   make bench          release build, Lambda zip, measurements against the local
#                       emulator, tables of BENCHMARKS.md from that run (scripts/bench.sh)
#   make bench-render   the tables of BENCHMARKS.md again from the last run (target/bench/*.json)
#   make bench-smoke    a debug run with small sizes: checks the bench, placeholder numbers
#   make bench-tools    the aws CLI for the baseline, in its own venv

BENCH_VENV := .venv-bench

.PHONY: bench bench-render bench-smoke bench-tools

## The aws CLI (baseline of the benchmark) in its own venv: awscli pins a botocore
## that must not replace moto's in $(VENV).
bench-tools: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: requirements-bench.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

## Failover latency vs the API floor, fixed latency, scale under EC2's throttling,
## event churn, cold start, RSS, zip size, aws CLI baseline; renders BENCHMARKS.md.
## Two release builds (x86_64 for the bench, arm64 for the zip; BENCH_ARM64=0: one).
bench: tools bench-tools arm64-target
	scripts/bench.sh

bench-render:
	scripts/bench.sh render

bench-smoke: tools
	scripts/bench.sh smoke
