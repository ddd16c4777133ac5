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

.PHONY: all tools check test test-serial lint fmt clippy test-linted test-run demo clean

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
## sam validate, IAM policy, an arm64 sam build with the optimiser off).
##
## Clippy lints while the tests build: its driver compiles the workspace's own
## crates (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` does, but building instead
## of only checking), so the dependency tree is compiled once for both, not twice.
## The arm64 proof compiles it for aarch64 beside that, at low priority, filling
## the cores the test build and run leave idle (cargo shares make's job slots).
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-linted validate

## The same checks, one after the other (a smaller machine, or readable output).
test-serial: lint test-run validate

lint: fmt clippy

fmt:
	cargo fmt --all --check

clippy: fmt
	cargo clippy --workspace --all-targets --locked -- -D warnings

## `cargo clippy`'s own way to hand lint flags to its driver (`-D warnings`). A
## plain `cargo test` after `make test` recompiles our crates (not the
## dependencies): the wrapper is part of their fingerprint.
CLIPPY_DRIVER := $(shell rustc --print sysroot 2>/dev/null)/bin/clippy-driver
LINTED := RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) \
	CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

## Every target linted and built (benches too: built, not run), then the tests; the
## namespace demos' `cargo build` inherits the wrapper, so it finds all fresh.
test-linted: tools fmt
	$(LINTED) cargo test --workspace --all-targets --locked --no-run
	$(LINTED) cargo test $(TEST_TARGETS)

test-run: tools
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
