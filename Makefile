# vip-failover: `make demo` and `make test` work from a fresh clone; they install
# what they need (Python tools into .venv, Debian packages when root).

SHELL := /bin/bash
VENV := .venv
SAM_VENV := .venv-sam
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Fast-failing defaults for local runs against the emulator; real AWS uses its own chain.
EVENT ?= events/failover.json
FUNCTION := vip-failover

.PHONY: all tools check test lint demo clean

all: test

## Python tools (moto, cargo-lambda, cfn-lint) in .venv; re-run when the pins change.
tools: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## The inner loop, a minute or two once built: fmt, clippy, and the unit tests of
## the pure parts (decision, health, tag contract, triggers, reports, pacing), no
## emulator.
check: lint
	cargo test --lib --bins --locked

## fmt, clippy, every test (unit, contract, emulator scenarios, the test kit's own),
## then the offline deployment checks (cfn-lint, sam validate, IAM policy, one
## arm64 sam build).
test: tools lint
	cargo test --workspace --lib --bins --tests --examples --locked
	$(MAKE) --no-print-directory validate

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Local end-to-end: emulated two-AZ VPC, a real failover through the Lambda runtime.
demo: tools
	scripts/demo.sh

clean:
	cargo clean
	rm -rf $(VENV) $(SAM_VENV) .aws-sam

# Deployment targets (build, validate, deploy, invoke, remote-invoke, logs).
-include mk/sam.mk
# Failover shown with real packets in network namespaces (root).
-include mk/network.mk
# Benchmarks: latency vs the API floor, API calls, cold start, size (writes BENCHMARKS.md).
-include mk/bench.mk
