# Failover with real packets on one machine (issue 7): network namespaces client,
# router, serverA, serverB; the router follows the emulated VPC route tables
# (scripts/route_follower.py); the client pings and curls the VIP across the switch.
# `demo-probe`: the same namespaces, but only serverA's nginx dies (its instance
# keeps running); the in-VPC probe notices and the VIP moves (issue 16).
# Needs root. Included by the main Makefile (`-include mk/network.mk`), which
# defines VENV, PATH and `tools`; also usable alone once .venv exists:
# `make -f mk/network.mk demo-network`.

.PHONY: demo-network demo-probe test-network

## Real packets across a failover: ping loss and time to the first serverB reply.
demo-network: $(if $(VENV),tools)
	scripts/demo-network.sh

## Kill serverA's nginx only: the probe notices, the VIP moves; time from the kill
## to the client's first serverB answer, and the requests that failed meanwhile.
demo-probe: $(if $(VENV),tools)
	scripts/demo-probe.sh

## Only the namespace end-to-end tests, demo-network and demo-probe (they skip when not root).
test-network: $(if $(VENV),tools)
	cargo test --locked --test network_e2e -- --nocapture
