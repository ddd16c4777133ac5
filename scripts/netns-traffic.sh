# shellcheck shell=bash
# Sourced by scripts/demo-network.sh (its on-premises part) and scripts/demo-probe.sh:
# the clients' traffic, in one place so both report it alike.
#
# curl_loop NS LOG: from namespace NS, curl the VIP every $CURL_INTERVAL s, one line
# per request in LOG: start, end (epoch seconds), who answered (serverA, serverB) or
# fail:CURL_EXIT. Uses the caller's spawn (which sets LAST_PID), VIP and CURL_INTERVAL.
curl_loop() {
  local ns=$1 log=$2
  # shellcheck disable=SC2016 # expanded by the inner bash
  spawn "$log" ip netns exec "$ns" env LC_ALL=C bash -c 'while :; do
    s=$EPOCHREALTIME; body=$(curl -s --max-time 1 "http://$0/"); rc=$?; e=$EPOCHREALTIME
    case $body in *"@serverA!"*) r=serverA ;; *"@serverB!"*) r=serverB ;; *) r=fail:$rc ;; esac
    echo "$s $e $r"; sleep "$1"; done' "$VIP" "$CURL_INTERVAL"
}
