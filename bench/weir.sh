#!/usr/bin/env bash
# Run Weir as a benchmark target beside the anchors of lib/setup-anchors.sh.
#
# Usage: bench/weir.sh init BUILD_DIR   make a state dir (printed): a copy of
#                                       BUILD_DIR/weir and the bench config
#        bench/weir.sh start|stop|restart   (state dir from $WEIR_BENCH_STATE)
#
# Weir listens on 127.0.0.1:8080 (HTTP) and 127.0.0.1:8445 (TLS 1.3; the
# anchors hold 8443/8444) and proxies to the anchors' nginx backends on
# 127.0.0.1:9001-9003. It runs pinned to PROXY_CPU (0), the anchors' core.
# `start` waits until both listeners answer 200 through a backend and checks
# that the process listening on 8080 is the one it started; `stop` sends
# SIGTERM to the recorded pid only (after checking it still runs our copy of
# weir), SIGKILL after 10 s.
#
# The binary is copied into the state dir at `init` so that a rebuild of
# build/ by someone else during a 20-minute run cannot change what is measured
# between two restarts.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
PROXY_CPU=${PROXY_CPU:-0}
PIN=${PIN:-1}
[ "$(nproc)" -ge 2 ] || PIN=0

init() {
    local build=$1 state files
    state=$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-weir.XXXXXX")
    cp "$build/weir" "$state/weir"
    files="$root/tests/data/config/files"
    [ -f "$files/server-a.crt" ] && [ -f "$files/server-a.key" ] || "$files/make-certs.sh" >/dev/null
    # Equivalent to the anchors: least-connections, keep-alive both sides
    # (Weir always pools idle upstream connections), one event loop, no access
    # log. Differences that the anchors do not have are switched off
    # (affinity) or made harmless (health checks every 10 s on "/", which the
    # nginx backends answer 200; the default /health would be a 404 there and
    # take every backend out).
    cat >"$state/weir.yaml" <<EOF
# Weir bench config, written by bench/weir.sh init.
listeners:
  - name: http
    bind: 127.0.0.1:8080
  - name: https
    bind: 127.0.0.1:8445
    tls:
      certificates:
        - cert: $files/server-a.crt      # ECDSA P-256, like the anchors'
          key: $files/server-a.key
      min_version: "1.3"
      alpn: [http/1.1]
backends:
  - name: agent-1
    address: 127.0.0.1:9001
  - name: agent-2
    address: 127.0.0.1:9002
  - name: agent-3
    address: 127.0.0.1:9003
load_balancer:
  algorithm: least-connections
  health_check:
    path: /
    interval: 10s
  session_affinity:
    enabled: false
timeouts:
  client_idle: 120s          # as the nginx anchor's keepalive_timeout
limits:
  max_connections: 10000
admin:
  socket: $state/admin.sock
workers: 1
logging:
  level: warn
  access_log: off
EOF
    "$state/weir" -t -c "$state/weir.yaml" >/dev/null
    echo "$state"
}

state() {
    state=${WEIR_BENCH_STATE:?set WEIR_BENCH_STATE to the dir printed by 'weir.sh init'}
    [ -x "$state/weir" ] || { echo "weir.sh: no weir in $state" >&2; exit 1; }
}

# ours PID: PID is alive and runs the weir copy of this state dir.
ours() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$state/weir" ]; }

start() {
    local port pid i
    for port in 8080 8445; do
        if [ -n "$(ss -Hltn "sport = :$port")" ]; then
            echo "weir.sh: port $port is already in use ($(ss -Hltnp "sport = :$port" | grep -o 'users:.*'))" >&2
            exit 1
        fi
    done
    ulimit -n "$(ulimit -Hn)"     # weir raises its soft limit up to this
    local pin=(); [ "$PIN" = 1 ] && pin=(taskset -c "$PROXY_CPU")
    "${pin[@]}" "$state/weir" -c "$state/weir.yaml" </dev/null >>"$state/weir.out" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"
    for i in $(seq 100); do
        ours "$pid" || { echo "weir.sh: weir exited; see $state/weir.out:" >&2; tail -5 "$state/weir.out" >&2; exit 1; }
        if curl -sf -o /dev/null -m 1 http://127.0.0.1:8080/ &&
           curl -skf -o /dev/null -m 1 https://127.0.0.1:8445/; then
            ss -Hltnp "sport = :8080" | grep -q "pid=$pid," ||
                { echo "weir.sh: something else answers on 8080" >&2; exit 1; }
            echo "weir.sh: weir pid $pid up (cpu ${pin[*]:-unpinned})" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "weir.sh: weir did not answer within 10 s; see $state/weir.out" >&2
    exit 1
}

stop() {
    local pid i
    [ -f "$state/pid" ] || return 0
    pid=$(cat "$state/pid")
    if ours "$pid"; then
        kill -TERM "$pid"
        for i in $(seq 100); do ours "$pid" || break; sleep 0.1; done
        if ours "$pid"; then echo "weir.sh: $pid ignored SIGTERM, killing" >&2; kill -KILL "$pid"; fi
    fi
    rm -f "$state/pid"
}

case ${1:-} in
    init) [ $# -eq 2 ] || { echo "usage: weir.sh init BUILD_DIR" >&2; exit 2; }; init "$2" ;;
    start) state; start ;;
    stop) state; stop ;;
    restart) state; stop; start ;;
    *) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2 ;;
esac
