#!/usr/bin/env bash
# Start the benchmark anchors on loopback, each in the foreground of its own
# background job so that we know and record its pid:
#
#   backends  nginx answering "ok\n" (and /1k, /64k files) on 127.0.0.1:9001-9003,
#             pinned to LOAD_CPU (the load generator's CPU)
#   direct    the same backend on 127.0.0.1:9000, pinned to PROXY_CPU: the
#             "no proxy" reference, on the same core a proxy would get
#   haproxy   127.0.0.1:8081 HTTP, 127.0.0.1:8443 TLS 1.3   (PROXY_CPU)
#   nginx     127.0.0.1:8082 HTTP, 127.0.0.1:8444 TLS 1.3   (PROXY_CPU)
#
# Configs, the self-signed ECDSA P-256 certificate, logs and the pid list go to
# a fresh temp dir, printed on the last line; `stop.sh DIR` stops what started.
# Env: PROXY_CPU (0), LOAD_CPU (1), PIN (1; 0 = no taskset), BENCH_DIR (new
# mktemp dir), NGINX_PROXY_EXTRA (directives added to the nginx proxy's
# location, e.g. "proxy_buffers 8 16k;" for a sensitivity run).
# Needs: nginx haproxy openssl curl taskset (util-linux).
#
# Adapted from ../shared/bench/setup-anchors.sh (the shared anchor harness).
# Changes: refuses to start when a bench port is already taken (otherwise
# wait_up would succeed against someone else's server and run.sh, which finds
# the process under test by its listening port, would measure the wrong
# process); its "current dir" note is bench-weir.current, so it never points
# the shared harness's stop.sh at our dir (or the other way round).
# The anchor configs are unchanged.
set -euo pipefail

PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PIN=${PIN:-1}
[ "$(nproc)" -ge 2 ] || PIN=0          # pinning two roles on one CPU means nothing
for port in 8081 8082 8443 8444 9000 9001 9002 9003; do
    if [ -n "$(ss -Hltn "sport = :$port")" ]; then
        echo "setup: port $port is already in use ($(ss -Hltnp "sport = :$port" | grep -o 'users:.*'));" \
             "stop that first (another bench run? scripts/demo?)" >&2
        exit 1
    fi
done
dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")}
mkdir -p "$dir/www" "$dir/tmp"
chmod 755 "$dir" "$dir/www"    # nginx workers run as nobody and must read www/
: >"$dir/pids"
echo "$dir" >"${TMPDIR:-/tmp}/bench-weir.current"   # stop.sh's default

# The fd hard limit bounds the idle-connection test; nginx/haproxy inherit it.
ulimit -n "$(ulimit -Hn)"

# On any failure, stop whatever already started.
trap 'echo "setup: failed; stopping what started" >&2; "$(dirname "$0")/stop.sh" "$dir"' ERR

# start NAME CPU CMD...: run CMD in the background pinned to CPU; record its pid.
# taskset execs CMD, so $! is CMD's own pid.
start() {
    local name=$1 cpu=$2; shift 2
    if [ "$PIN" = 1 ]; then
        taskset -c "$cpu" "$@" </dev/null >"$dir/$name.out" 2>&1 &
    else
        "$@" </dev/null >"$dir/$name.out" 2>&1 &
    fi
    echo "$name $!" >>"$dir/pids"
}

# wait_up URL: poll until URL answers (bounded: 10 s), else fail loudly.
wait_up() {
    local i
    for i in $(seq 100); do
        curl -sk -o /dev/null -m 1 "$1" && return 0
        sleep 0.1
    done
    echo "setup: $1 did not come up; see $dir/*.out" >&2
    return 1
}

# --- certificate: self-signed ECDSA P-256, valid for 127.0.0.1/localhost ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
cat "$dir/server.crt" "$dir/server.key" >"$dir/server.pem"   # haproxy wants one file
chmod 600 "$dir/server.key" "$dir/server.pem"

# --- bodies for the 1 KiB / 64 KiB modes ---
head -c 1024 /dev/zero | tr '\0' x >"$dir/www/1k"
head -c 65536 /dev/zero | tr '\0' x >"$dir/www/64k"

# nginx keeps its temp files under the prefix, not in /var/lib/nginx.
nginx_common="
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;   # default 1000 would reconnect clients mid-run
    keepalive_timeout 120s;"

# --- backends: one nginx instance (1 worker) per port ---
for port in 9000 9001 9002 9003; do
    cat >"$dir/backend-$port.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/backend-$port.pid;
error_log $dir/backend-$port.err warn;
events { worker_connections 19000; }
http {
    $nginx_common
    sendfile on;
    open_file_cache max=16;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $dir/www;
        location = / { return 200 "ok\n"; }
    }
}
EOF
    cpu=$LOAD_CPU; [ "$port" = 9000 ] && cpu=$PROXY_CPU
    start "backend-$port" "$cpu" nginx -p "$dir" -e "$dir/backend-$port.err" -c "$dir/backend-$port.conf"
done

# --- HAProxy: leastconn, safe reuse, keep-alive both sides, 1 thread, no log ---
# Headers as Weir's contract adds them (XFF, X-Forwarded-Proto, X-Request-Id),
# so every proxy does the same work per request.
cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 10200
    # Use the fd limit we have rather than fail to raise it to 2*maxconn: the
    # idle test needs 10k client conns; idle server conns stay under 25% of fds.
    ulimit-n $(ulimit -Hn)
    no strict-limits
    stats socket $dir/haproxy.sock mode 600 level admin
defaults
    mode http
    option http-keep-alive
    http-reuse safe
    option forwardfor
    maxconn 10200
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s
frontend fe
    bind 127.0.0.1:8081
    bind 127.0.0.1:8443 ssl crt $dir/server.pem ssl-min-ver TLSv1.3 alpn http/1.1
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request set-header X-Forwarded-Proto http unless { ssl_fc }
    unique-id-format %[uuid()]
    unique-id-header X-Request-Id
    default_backend be
backend be
    balance leastconn
    server s1 127.0.0.1:9001
    server s2 127.0.0.1:9002
    server s3 127.0.0.1:9003
EOF
start haproxy "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"

# --- nginx reverse proxy: least_conn, 64 idle upstream conns, HTTP/1.1 upstream ---
cat >"$dir/nginx-proxy.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx-proxy.pid;
error_log $dir/nginx-proxy.err warn;
events { worker_connections 19000; }
http {
    $nginx_common
    upstream be {
        least_conn;
        server 127.0.0.1:9001;
        server 127.0.0.1:9002;
        server 127.0.0.1:9003;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:8082 backlog=4096;
        listen 127.0.0.1:8444 ssl backlog=4096;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
        ssl_protocols TLSv1.3;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Request-Id \$request_id;
            ${NGINX_PROXY_EXTRA:-}
        }
    }
}
EOF
start nginx "$PROXY_CPU" nginx -p "$dir" -e "$dir/nginx-proxy.err" -c "$dir/nginx-proxy.conf"

for url in http://127.0.0.1:900{0,1,2,3}/ http://127.0.0.1:808{1,2}/ https://127.0.0.1:844{3,4}/; do
    wait_up "$url"
done
# nginx workers are children of the recorded masters; note them for stop.sh too.
while read -r name pid; do
    for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
        echo "$name-worker $child" >>"$dir/pids"
    done
done < <(cat "$dir/pids")
echo "setup: pinned=$PIN proxy_cpu=$PROXY_CPU load_cpu=$LOAD_CPU" >&2
echo "$dir"
