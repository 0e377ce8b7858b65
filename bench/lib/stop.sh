#!/usr/bin/env bash
# Stop what setup-anchors.sh started, by the pids it recorded (never by name).
# Usage: stop.sh [DIR]   (default: the dir of the last setup)
# SIGTERM first, then SIGKILL after 5 s for anything still alive.
# Adapted from ../shared/bench/stop.sh: only the default dir note differs
# (bench-weir.current, written by our setup-anchors.sh), and a process that
# was already gone before the stop is named (it died or was killed mid-run).
set -uo pipefail

dir=${1:-$(cat "${TMPDIR:-/tmp}/bench-weir.current" 2>/dev/null)}
[ -n "$dir" ] && [ -f "$dir/pids" ] || { echo "stop: no pid list (dir '$dir')" >&2; exit 1; }

# alive PID NAME: the pid still exists and still runs the program we started
# (guards against a recycled pid).
alive() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case "$exe" in *nginx*|*haproxy*) return 0 ;; *) return 1 ;; esac
}

pids=$(awk '{print $2}' "$dir/pids")
while read -r name pid; do
    alive "$pid" || echo "stop: $name (pid $pid) was already gone" >&2
done <"$dir/pids"
for pid in $pids; do alive "$pid" && kill -TERM "$pid"; done
for _ in $(seq 50); do
    left=""
    for pid in $pids; do alive "$pid" && left="$left $pid"; done
    [ -z "$left" ] && break
    sleep 0.1
done
for pid in $left; do echo "stop: $pid ignored SIGTERM, killing" >&2; kill -KILL "$pid"; done
echo "stop: stopped $(echo $pids | wc -w) processes from $dir" >&2
