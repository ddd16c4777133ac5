#!/usr/bin/env bash
# The baseline of `make bench`: a failover the way the cluster agents do it today,
# with the aws CLI, one route table at a time: describe the table, and replace
# the VIP route when it does not already point at the target ENI.
#
#   scripts/cli_baseline.sh ENDPOINT VIP TARGET_ENI TABLE_ID...
#
# ENDPOINT is the EC2 endpoint (the bench passes its local emulator). AWS_CLI
# names the aws executable (default: .venv-bench/bin/aws, from requirements-bench.txt);
# credentials and region come from the environment.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AWS=${AWS_CLI:-$ROOT/.venv-bench/bin/aws}
[[ $# -ge 4 ]] || { echo "usage: $0 ENDPOINT VIP TARGET_ENI TABLE_ID..." >&2; exit 2; }
endpoint=$1 vip=$2 eni=$3
shift 3

for table in "$@"; do
    current=$("$AWS" ec2 describe-route-tables --endpoint-url "$endpoint" \
        --route-table-ids "$table" \
        --query "RouteTables[0].Routes[?DestinationCidrBlock=='$vip'].NetworkInterfaceId | [0]" \
        --output text)
    if [[ $current != "$eni" ]]; then
        "$AWS" ec2 replace-route --endpoint-url "$endpoint" --route-table-id "$table" \
            --destination-cidr-block "$vip" --network-interface-id "$eni" >/dev/null
    fi
done
