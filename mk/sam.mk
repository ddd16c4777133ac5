# Deployment targets, included by the Makefile (`-include mk/sam.mk`). It relies on
# VENV, SAM_VENV, FUNCTION and EVENT defined there, and on PATH starting with
# $(VENV)/bin (cargo-lambda, cfn-lint). See docs/DEPLOY.md.
#
#   make validate       cfn-lint, sam validate, policy-vs-code check (+ self-test), and
#                       the arm64 proof: sam build with the optimiser off (see arm64-proof)
#   make build          arm64 release binary with cargo-lambda (LTO, as deployed)
#   make deploy-guided  first deploy: sam build + sam deploy --guided (saves samconfig.toml)
#   make deploy         upgrades: sam build + sam deploy with the saved answers; the
#                       change set is shown and must be confirmed
#   make invoke         run the function locally (cargo lambda watch) with $(EVENT)
#   make remote-invoke  invoke the deployed function with $(EVENT) (default: status)
#   make logs           tail the deployed function's logs

STACK_NAME ?= vip-failover
# Logical id of the function in template.yaml: sam build writes
# $(SAM_BUILD_DIR)/build/$(FUNCTION_ID)/bootstrap.
FUNCTION_ID := VipFailoverFunction
SAM := $(CURDIR)/$(SAM_VENV)/bin/sam
SAM_BUILD_DIR := .aws-sam
SAM_BOOTSTRAP := $(SAM_BUILD_DIR)/build/$(FUNCTION_ID)/bootstrap
# arm64 release builds (make build, sam build) use their own target directory: they
# never wait on cargo's lock behind test builds, and never overwrite (or pick up)
# the x86_64 target/lambda/$(FUNCTION)/bootstrap that local runs produce.
ARM64_TARGET_DIR ?= $(CURDIR)/target/arm64
# Offline sam commands still want a region and credentials.
SAM_OFFLINE_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export SAM_CLI_TELEMETRY := 0
# The template uses Fn::ForEach (AWS::LanguageExtensions); sam expands it locally
# only with this flag.
SAM_LE := --language-extensions
# sam build runs `cargo lambda build --release --arm64 --bin $(FUNCTION)` in the crate.
SAM_BUILD = CARGO_TARGET_DIR=$(ARM64_TARGET_DIR) $(SAM) build $(SAM_LE)
# The arm64 proof: the release profile with the optimiser, LTO and single codegen
# unit switched off through cargo's environment (no file changes), in a target and
# sam build directory of its own, so `sam deploy` can never pick its binaries up.
ARM64_PROOF_DIR := $(CURDIR)/target/arm64-proof
ARM64_PROOF_ENV := CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=false \
	CARGO_PROFILE_RELEASE_INCREMENTAL=false CARGO_TARGET_DIR=$(ARM64_PROOF_DIR)

.PHONY: sam-tools arm64-target arm64-proof validate-template build validate deploy \
	deploy-guided invoke remote-invoke logs sam-clean

## AWS SAM CLI in its own venv: it pins an older boto3 than moto (in $(VENV)) needs.
sam-tools: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed: requirements-sam.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

## Rust standard library for aarch64 (warns, does not fail, when it cannot be added).
arm64-target:
	@scripts/sam-tools.sh arm64-target

## The Lambda binary for arm64 (Graviton), release profile: the same build sam runs.
build: tools arm64-target
	CARGO_TARGET_DIR=$(ARM64_TARGET_DIR) cargo lambda build --release --arm64 --bin $(FUNCTION)
	@scripts/sam-tools.sh check-bootstrap $(ARM64_TARGET_DIR)/lambda/$(FUNCTION)/bootstrap

## Everything that can be checked without an AWS account.
validate: validate-template arm64-proof

validate-template: tools sam-tools
	cfn-lint template.yaml
	$(SAM_OFFLINE_ENV) $(SAM) validate --lint
	$(SAM_OFFLINE_ENV) $(SAM) validate $(SAM_LE)
	$(VENV)/bin/python scripts/check_policy.py
	$(VENV)/bin/python scripts/check_policy.py --self-test

## The arm64 build proven the way deploy builds it: sam reads the template's build
## metadata, runs cargo lambda for aarch64, zig cross-links, aws-lc's C and assembly
## are compiled for aarch64, and each function gets an aarch64 ELF bootstrap. What
## it does not prove is the optimised, LTO code (release-only miscompiles, the zip
## size): `make build` and `make bench` build that. Alone it took 318 s on 2 cores
## (553 CPU-seconds, 7.2 GB peak) where the LTO release took up to 17 minutes; at
## low priority, it fills the gaps of the test build and run beside it.
arm64-proof: tools sam-tools arm64-target
	nice -n 10 env $(ARM64_PROOF_ENV) $(SAM_OFFLINE_ENV) $(SAM) build $(SAM_LE) \
		--build-dir $(ARM64_PROOF_DIR)/sam
	@for f in $(ARM64_PROOF_DIR)/sam/*/bootstrap; do scripts/sam-tools.sh check-bootstrap "$$f" || exit 1; done

## Upgrades: the answers saved in samconfig.toml by deploy-guided; the change set
## is shown and waits for a yes (samconfig.toml: confirm_changeset).
deploy: tools sam-tools arm64-target
	$(SAM_BUILD)
	@scripts/sam-tools.sh check-bootstrap $(SAM_BOOTSTRAP)
	$(SAM) deploy --stack-name $(STACK_NAME) $(SAM_LE) --confirm-changeset

## First deploy: asks for every parameter and saves the answers in samconfig.toml.
deploy-guided: tools sam-tools arm64-target
	$(SAM_BUILD)
	@scripts/sam-tools.sh check-bootstrap $(SAM_BOOTSTRAP)
	$(SAM) deploy --guided --stack-name $(STACK_NAME) $(SAM_LE)

## Local run: `cargo lambda watch` in the background, one `cargo lambda invoke`
## with $(EVENT), watcher stopped afterwards. The function uses your environment
## (AWS_PROFILE/AWS_REGION, or AWS_ENDPOINT_URL for an emulator).
invoke: tools
	scripts/sam-tools.sh invoke $(EVENT) $(FUNCTION)

## Synchronous invoke of the deployed function (no retries, no SNS destination);
## $(EVENT) defaults to a status read, which changes nothing.
remote-invoke: sam-tools
	$(SAM) remote invoke $(FUNCTION_ID) --stack-name $(STACK_NAME) --event-file $(EVENT)

logs: sam-tools
	$(SAM) logs --stack-name $(STACK_NAME) --name $(FUNCTION_ID) --tail

sam-clean:
	rm -rf $(SAM_BUILD_DIR)
