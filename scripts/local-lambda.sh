# Sourced by the demos and `make invoke`: the pieces of running the function in
# cargo-lambda's local runtime that they all need.

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT TRIES [PID]: polls every 0.2 s until PORT accepts connections;
# gives up after TRIES polls, or as soon as PID (the server) has exited.
wait_for_port() {
  local port=$1 tries=$2 pid=${3:-}
  for _ in $(seq "$tries"); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}

# lambda_invoke PORT EVENT_FILE TIMEOUT_SECONDS [FUNCTION]: one `cargo lambda
# invoke` (of vip-failover by default). Bounded: a wrong function name would hang
# forever.
lambda_invoke() {
  timeout "$3" cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$1" \
    --data-file "$2" "${4:-vip-failover}"
}
