# vip-failover: `make demo` and `make test` work from a fresh clone; they install
# what they need (Python tools into .venv, Debian packages when root).

SHELL := /bin/bash
VENV := .venv
SAM_VENV := .venv-sam
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The event of `make invoke` and `make remote-invoke`: a status read, which changes
# nothing; a failover is asked for by name (EVENT=events/failover.json).
EVENT ?= events/status.json
FUNCTION := vip-failover
# Everything cargo can test; the examples are built for the namespace demos.
TEST_TARGETS := --workspace --lib --bins --tests --examples --locked

.PHONY: all tools check test test-serial lint fmt clippy test-build test-run demo clean

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

## fmt, clippy, every test (unit, contract, emulator scenarios, the namespace demos
## when root, the test kit's own), then the offline deployment checks (cfn-lint,
## sam validate, IAM policy, an arm64 sam build of the unoptimised profile).
##
## A fresh clone compiles the dependency tree three times (clippy's check, the test
## build, the arm64 proof). They run side by side, the arm64 one at low priority:
## on 2 cores one huge crate (aws-sdk-ec2) compiling alone leaves a core idle, and
## the others fill it. cargo shares make's job slots, so the cores are never
## oversubscribed by much (peak memory about 12 GB).
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-run clippy validate

## The same checks, one after the other (a smaller machine, or readable output).
test-serial: lint test-run validate

lint: fmt clippy

fmt:
	cargo fmt --all --check

## Its own target directory: it does not wait on cargo's lock behind the test
## build, which runs at the same time under `make test`.
clippy: fmt
	CARGO_TARGET_DIR=$(CURDIR)/target/clippy cargo clippy --workspace --all-targets --locked -- -D warnings

test-build: fmt
	cargo test $(TEST_TARGETS) --no-run

test-run: tools test-build
	cargo test $(TEST_TARGETS)

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
