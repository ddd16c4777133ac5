# Deployment targets, included by the Makefile (`-include mk/sam.mk`). It relies on
# VENV, SAM_VENV, FUNCTION and EVENT defined there, and on PATH starting with
# $(VENV)/bin (cargo-lambda, cfn-lint). See docs/DEPLOY.md.
#
#   make validate       cfn-lint, sam validate, policy-vs-code check (+ self-test), sam build
#   make build          arm64 release binary with cargo-lambda
#   make deploy         sam build + sam deploy --guided
#   make invoke         run the function locally (cargo lambda watch) with $(EVENT)
#   make remote-invoke  invoke the deployed function with $(EVENT)
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

.PHONY: sam-tools arm64-target build validate deploy invoke remote-invoke logs sam-clean

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

## Everything that can be checked without an AWS account; one arm64 release build.
validate: tools sam-tools arm64-target
	cfn-lint template.yaml
	$(SAM_OFFLINE_ENV) $(SAM) validate --lint
	$(SAM_OFFLINE_ENV) $(SAM) validate $(SAM_LE)
	$(VENV)/bin/python scripts/check_policy.py
	$(VENV)/bin/python scripts/check_policy.py --self-test
	$(SAM_OFFLINE_ENV) $(SAM_BUILD)
	@scripts/sam-tools.sh check-bootstrap $(SAM_BOOTSTRAP)

## Build and deploy to the account/region of your AWS credentials (asks for every
## parameter; answers are saved in samconfig.toml).
deploy: tools sam-tools arm64-target
	$(SAM_BUILD)
	@scripts/sam-tools.sh check-bootstrap $(SAM_BOOTSTRAP)
	$(SAM) deploy --guided --stack-name $(STACK_NAME) $(SAM_LE)

## Local run: `cargo lambda watch` in the background, one `cargo lambda invoke`
## with $(EVENT), watcher stopped afterwards. The function uses your environment
## (AWS_PROFILE/AWS_REGION, or AWS_ENDPOINT_URL for an emulator).
invoke: tools
	scripts/sam-tools.sh invoke $(EVENT) $(FUNCTION)

## Synchronous invoke of the deployed function (no retries, no SNS destination).
remote-invoke: sam-tools
	$(SAM) remote invoke $(FUNCTION_ID) --stack-name $(STACK_NAME) --event-file $(EVENT)

logs: sam-tools
	$(SAM) logs --stack-name $(STACK_NAME) --name $(FUNCTION_ID) --tail

sam-clean:
	rm -rf $(SAM_BUILD_DIR)
