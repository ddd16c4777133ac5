# Failover with real packets on one machine (issue 7): network namespaces client,
# router, serverA, serverB; the router follows the emulated VPC route tables
# (scripts/route_follower.py); the client pings and curls the VIP across the switch.
# Needs root. Included by the main Makefile (`-include mk/network.mk`), which
# defines VENV, PATH and `tools`; also usable alone once .venv exists:
# `make -f mk/network.mk demo-network`.

.PHONY: demo-network test-network

## Real packets across a failover: ping loss and time to the first serverB reply.
demo-network: $(if $(VENV),tools)
	scripts/demo-network.sh

## Only the namespace end-to-end test (skips when not root).
test-network: $(if $(VENV),tools)
	cargo test --locked --test network_e2e -- --nocapture
