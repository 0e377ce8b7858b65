#!/usr/bin/env bash
# Run one benchmark scenario against several targets and print a table of
# medians [min-max]. Repetitions are interleaved (rep 1: A B C, rep 2: B C A,
# rep 3: C A B) so that drift on a shared machine hits every target alike.
#
# Usage: run.sh [options] NAME=URL...
#   NAME=URL    e.g. haproxy=http://127.0.0.1:8081  weir=https://127.0.0.1:8443
#               (a bare HOST:PORT means http://HOST:PORT)
#   -s SCEN     ka     keep-alive load: wrk -t1 -cCONNS -dSECS --latency (default)
#               close  the same with "Connection: close": a new TCP connection
#                      per request. Over https wrk RESUMES the TLS session on
#                      each reconnect (PSK + ECDHE, no certificate signature).
#               stime  full TLS 1.3 handshakes (no resumption): CONNS parallel
#                      `openssl s_time -new -tls1_3 -www PATH`, each one
#                      handshake + one HTTP/1.0 request per connection
#               idle   proxy RSS with N idle keep-alive client connections
#   -r REPS     repetitions per target (3)      -d SECS   seconds per run (8)
#   -c CONNS    wrk connections / s_time processes (64)  -p PATH  request path (/)
#   -n N        idle connections (10000)        -b NAME   ratio column is vs NAME (first target)
#   -o FILE     append raw per-run CSV lines to FILE
#   -a NAMES    comma-separated anchors (default haproxy,nginx): adds columns
#               "vs best anchor" (rate / the highest anchor rate; for idle, KiB
#               / the lowest anchor KiB) and "us/req vs best" (us/req / the
#               lowest anchor us/req); anchors absent from the run are ignored
#   -m FILE     append one summary line per target (medians) to FILE, for
#               bench/lib/goals.py
# Env: LOAD_CPU (1) pins wrk/s_time/the idle client (PIN=0: no pinning);
#      BACKEND_PORTS ("9001 9002 9003") are counted as backend CPU;
#      COOLDOWN (1) seconds of rest between runs; NOISE_MAX (15), NOISE_RETRIES
#      (3), NOISE_PAUSE (20 s): see "other" below.
# The process under test is found as whoever listens on the target's port, so a
# new target needs no registration: start it, pass NAME=URL.
# "target us/req" is the target's CPU time per request (or handshake): the
# fairest efficiency figure when the load generator, not the target, saturates.
# CPU columns are % of one CPU over the run (2 CPUs = 200%), user+system
# including the softirq (loopback network) work done in each task's context.
# "kthreads" is kernel threads (ksoftirqd, kworkers); "other" is the remaining
# busy time: processes that are not the load generator, the target or the
# backends, i.e. noise from whatever else runs on the box; "steal" is time the
# hypervisor gave to other guests. A run whose other% + steal% exceeds
# NOISE_MAX is redone (up to NOISE_RETRIES times, after a pause); only the last
# attempt counts (flagged "noisy" in the table if still over); the raw CSV
# keeps every attempt.
#
# Adapted from ../shared/bench/run.sh (the shared anchor harness). Changes: the
# -a/-m options and the best-anchor columns; the preflight needs a 2xx/3xx
# answer (curl -f), not just any answer, so a target that answers 503 fails
# loudly instead of being measured at error-page speed; wrk.lua/idle client
# are found beside this script. Measurement, CPU accounting and the noise
# guard are unchanged. Also: a failing command stops the run with its line
# printed (the original could exit silently under set -e when, e.g., a target
# stopped listening), and a vanished target is reported by name.
set -Eeuo pipefail
trap 'echo "run: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
scen=ka reps=3 dur=8 conns=64 path=/ idle_n=10000 base="" raw=/dev/null anchors=haproxy,nginx summary=/dev/null
while getopts "s:r:d:c:p:n:b:o:a:m:" opt; do
    case $opt in
        s) scen=$OPTARG ;; r) reps=$OPTARG ;; d) dur=$OPTARG ;; c) conns=$OPTARG ;;
        p) path=$OPTARG ;; n) idle_n=$OPTARG ;; b) base=$OPTARG ;; o) raw=$OPTARG ;;
        a) anchors=$OPTARG ;; m) summary=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORTS=${BACKEND_PORTS:-"9001 9002 9003"}
COOLDOWN=${COOLDOWN:-1}
NOISE_MAX=${NOISE_MAX:-15} NOISE_RETRIES=${NOISE_RETRIES:-3} NOISE_PAUSE=${NOISE_PAUSE:-20}
HZ=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)"
pin=(); [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && pin=(taskset -c "$LOAD_CPU")

names=() ; declare -A url
for arg in "$@"; do
    name=${arg%%=*}; u=${arg#*=}
    [[ $u == *://* ]] || u="http://$u"
    names+=("$name"); url[$name]=${u%/}
done
base=${base:-${names[0]}}

# --- small helpers --------------------------------------------------------
hostport() { local hp=${1#*://}; echo "${hp%%/*}"; }
port_of() { local hp; hp=$(hostport "$1"); echo "${hp##*:}"; }
# pids listening on a TCP port (a proxy's master and workers all hold it)
pids_on_port() { ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
# sum of user+system clock ticks of the given pids
cpu_ticks() {
    local t=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f; t=$((t + ${12} + ${13}))
    done
    echo $t
}
rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }
# machine, all CPUs: "busy steal kthreads" ticks. busy = user+nice+system+irq+
# softirq; kthreads = children of kthreadd (ksoftirqd, kworkers). This kernel
# charges softirq work to the task it interrupted, so busy minus the tasks we
# know is what else ran (on a quiet box "other" stays within a few %).
sys_ticks() {
    local kt
    kt=$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/.*) //' | awk '$2 == 2 {t += $12 + $13} END {print t + 0}')
    awk -v kt="$kt" '/^cpu /{print $2 + $3 + $4 + $7 + $8, $9, kt; exit}' /proc/stat
}
pct() { awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz / s * 100}'; }
tw_count() { ss -Htan state time-wait | wc -l; }
# median min max of the arguments
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print m, a[1], a[NR]}'; }
backend_pids() { local p; for p in $BACKEND_PORTS; do pids_on_port "$p"; done; }

declare -A R   # R[name.metric] = space-separated values, one per rep
add() { R[$1.$2]="${R[$1.$2]:-} $3"; }

# --- one load run (ka/close/stime) ---------------------------------------------
# measure NAME REP TRY: one attempt; leaves its figures in M[*], logs a raw line.
declare -A M
measure() {
    local name=$1 rep=$2 try=$3 u=${url[$1]} out tpids bpids tw
    out=$(mktemp); tpids=$(pids_on_port "$(port_of "$u")" || true); bpids=$(backend_pids || true)
    [ -n "$tpids" ] || { echo "run: nothing listens for $name ($u)" >&2; exit 1; }
    tw=$(tw_count)
    local t0 b0 s0 st0 k0 w0 w1; t0=$(cpu_ticks $tpids); b0=$(cpu_ticks $bpids); read -r s0 st0 k0 < <(sys_ticks)
    w0=$(date +%s%N)
    local TIMEFORMAT='%U %S' tm
    case $scen in
        ka|close)
            local hdr=(); [ "$scen" = close ] && hdr=(-H "Connection: close")
            tm=$( { time "${pin[@]}" wrk -t1 -c"$conns" -d"${dur}s" --latency "${hdr[@]}" \
                    -s "$here/report.lua" "$u$path" >"$out" 2>&1 ; } 2>&1 ) ;;
        stime)   # bash's time counts the waited-for s_time children
            tm=$( { time ( for ((k = 0; k < conns; k++)); do
                        "${pin[@]}" openssl s_time -connect "$(hostport "$u")" -new -tls1_3 \
                            -www "$path" -time "$dur" >"$out.$k" 2>&1 &
                    done; wait ) ; } 2>&1 ); cat "$out".* >"$out"; rm -f "$out".* ;;
    esac
    w1=$(date +%s%N)
    local t1 b1 s1 st1 k1; t1=$(cpu_ticks $tpids); b1=$(cpu_ticks $bpids); read -r s1 st1 k1 < <(sys_ticks)
    local wall; wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN{print (b-a)/1e9}')
    local lg_ticks; lg_ticks=$(echo "$tm" | awk -v hz="$HZ" '{printf "%.0f", ($1+$2)*hz}')
    local tcpu lcpu bcpu other kern steal
    tcpu=$(pct $((t1 - t0)) "$wall"); lcpu=$(pct "$lg_ticks" "$wall"); bcpu=$(pct $((b1 - b0)) "$wall")
    other=$(pct $(( (s1 - s0) - (k1 - k0) - (t1 - t0) - lg_ticks - (b1 - b0) )) "$wall")
    kern=$(pct $((k1 - k0)) "$wall"); steal=$(pct $((st1 - st0)) "$wall")
    local rps p50 p99 errs
    if [ "$scen" = stime ]; then
        local requests; requests=$(awk '/connections in .* real seconds/{n += $1; k++} END{if (k) print n}' "$out")
        [ -n "$requests" ] || { echo "run: s_time failed for $name:"; cat "$out"; exit 1; } >&2
        rps=$(awk -v n="$requests" -v w="$wall" 'BEGIN{printf "%.0f", n / w}'); p50=0 p99=0
        errs=$(grep -ci error "$out" || true)
    else
        local line; line=$(grep '^WRKRESULT' "$out") || { echo "run: wrk failed for $name:"; cat "$out"; exit 1; } >&2
        eval "$(echo "$line" | cut -d' ' -f2- | tr ' ' '\n' | sed 's/^/local /')"
        rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN{printf "%.0f", r / (d / 1e6)}')
        p50=$(awk -v v="$p50_us" 'BEGIN{printf "%.2f", v / 1000}'); p99=$(awk -v v="$p99_us" 'BEGIN{printf "%.2f", v / 1000}')
        errs=$((err_connect + err_read + err_write + err_status + err_timeout))
    fi
    rm -f "$out"
    local us; us=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$requests" 'BEGIN{printf "%.1f", n ? t / hz / n * 1e6 : 0}')
    M=([us]=$us [rps]=$rps [p50]=$p50 [p99]=$p99 [errs]=$errs [tcpu]=$tcpu [lcpu]=$lcpu
       [bcpu]=$bcpu [kern]=$kern [other]=$other [steal]=$steal)
    echo "$scen,$u$path,$name,$rep,try=$try,rps=$rps,target_us_per_req=$us,p50_ms=$p50,p99_ms=$p99,errors=$errs,target_cpu=$tcpu,loadgen_cpu=$lcpu,backend_cpu=$bcpu,kthreads_cpu=$kern,other_cpu=$other,steal=$steal,tw_before=$tw" | tee -a "$raw" >&2
}

# load_run NAME REP: measure, redoing a noisy attempt; record the kept one in R.
load_run() {
    local try k
    for ((try = 1; ; try++)); do
        measure "$1" "$2" "$try"
        [ $((M[other] + M[steal])) -le "$NOISE_MAX" ] && break
        if [ "$try" -gt "$NOISE_RETRIES" ]; then add "$1" noisy 1; break; fi
        echo "run: noise (other ${M[other]}% + steal ${M[steal]}%); pausing ${NOISE_PAUSE}s and redoing" >&2
        sleep "$NOISE_PAUSE"
    done
    for k in "${!M[@]}"; do add "$1" "$k" "${M[$k]}"; done
}

# --- one idle-memory run: N idle connections, RSS of the target ----------------
declare -A RSS0
idle_run() {
    local name=$1 rep=$2 u=${url[$1]} tpids out cpid i ready rss up
    tpids=$(pids_on_port "$(port_of "$u")" || true)
    [ -n "$tpids" ] || { echo "run: nothing listens for $name ($u)" >&2; exit 1; }
    # Baseline: RSS before this target's first idle run, after a 1 s -c64
    # warm-up. Allocators keep freed memory, so start the target fresh for
    # honest numbers; later reps are still (RSS at N - this baseline).
    if [ -z "${RSS0[$name]:-}" ]; then
        "${pin[@]}" wrk -t1 -c64 -d1s "$u$path" >/dev/null 2>&1
        sleep 1
        RSS0[$name]=$(rss_kib $tpids)
    fi
    out=$(mktemp)
    "${pin[@]}" python3 "$here/idle_conns.py" "$u$path" "$idle_n" 180 >"$out" 2>&1 &
    cpid=$!
    for i in $(seq 1500); do grep -q READY "$out" && break; sleep 0.1; done   # <= 150 s
    ready=$(grep -o 'ok=[0-9]* failed=[0-9]*' "$out" || echo "ok=0 failed=$idle_n")
    local ok=${ready%% *}; ok=${ok#ok=}
    sleep 2                                  # let the proxy settle (timers, pools)
    rss=$(rss_kib $tpids)
    local filt; filt=$(for p in $BACKEND_PORTS; do printf 'dport = :%s or ' "$p"; done)
    up=$(ss -Htnp state established "( ${filt% or } )" | grep -cE "pid=($(echo $tpids | tr ' ' '|'))," || true)
    kill -TERM "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true
    rm -f "$out"
    local per; per=$(awk -v a="$rss" -v b="${RSS0[$name]}" -v n="$ok" 'BEGIN{printf "%.2f", n ? (a - b) / n : 0}')
    add "$name" kib "$per"; add "$name" rss "$((rss / 1024))"; add "$name" up "$up"; add "$name" ok "$ok"
    echo "idle,$u$path,$name,$rep,n=$idle_n,$ready,rss_base_kib=${RSS0[$name]},rss_kib=$rss,kib_per_conn=$per,upstream_conns=$up" | tee -a "$raw" >&2
    sleep "$COOLDOWN"
}

# --- preflight: every target must answer ----------------------------------
for name in "${names[@]}"; do
    curl -skf -o /dev/null -m 2 "${url[$name]}$path" || { echo "run: $name (${url[$name]}$path) does not answer 2xx/3xx" >&2; exit 1; }
done

# --- interleaved repetitions --------------------------------------------------
n=${#names[@]}
for ((rep = 0; rep < reps; rep++)); do
    for ((i = 0; i < n; i++)); do
        name=${names[$(((i + rep) % n))]}
        if [ "$scen" = idle ]; then idle_run "$name" $((rep + 1)); else load_run "$name" $((rep + 1)); sleep "$COOLDOWN"; fi
    done
done

# --- table of medians [min-max] ---------------------------------------------
med() { stats ${R[$1.$2]} | cut -d' ' -f1; }
lat() { if [ "$scen" = stime ]; then echo "-"; else med "$1" "$2"; fi; }   # s_time has no latency
# best METRIC max|min: the best median among the anchors present in this run
best() {
    local a v out=""
    for a in ${anchors//,/ }; do
        [ -n "${R[$a.$1]:-}" ] || continue
        v=$(med "$a" "$1")
        out=$(awk -v o="$out" -v v="$v" -v w="$2" 'BEGIN{if (o == "" || (w == "max" ? v > o : v < o)) print v; else print o}')
    done
    echo "$out"
}
ratio() { if [ -n "$2" ] && awk -v b="$2" 'BEGIN{exit !(b > 0)}'; then awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; else echo "-"; fi; }
range() { stats ${R[$1.$2]} | awk '{printf "%s [%s-%s]", $1, $2, $3}'; }
echo
case $scen in
    idle)
        echo "## idle: ${url[${names[0]}]%%:*}, $idle_n keep-alive connections, path $path, $reps reps (median [min-max])"
        bestk=$(best kib min)
        echo "| target | KiB/conn | vs best anchor | RSS base MiB | RSS at N MiB | upstream conns | clients answered (per rep) |"
        echo "|---|---|---|---|---|---|---|"
        for name in "${names[@]}"; do
            echo "| $name | $(range "$name" kib) | $(ratio "$(med "$name" kib)" "$bestk") | $((RSS0[$name] / 1024)) | $(range "$name" rss) | $(med "$name" up) | $(echo ${R[$name.ok]} | tr ' ' '/') |"
            echo "scen=idle scheme=${url[$name]%%:*} path=$path name=$name kib=$(med "$name" kib) rss_base_mib=$((RSS0[$name] / 1024)) rss_mib=$(med "$name" rss) ok=$(echo ${R[$name.ok]} | tr ' ' '/')" >>"$summary"
        done ;;
    *)
        unit="req/s"; [ "$scen" = stime ] && unit="handshakes/s"
        desc="-c$conns"; [ "$scen" = stime ] && desc="$conns parallel s_time -new"
        echo "## $scen: ${url[${names[0]}]%%:*} path $path, $desc, ${dur}s x $reps reps (median [min-max])"
        echo "| target | $unit | vs $base | vs best anchor | target us/req | us/req vs best | p50 ms | p99 ms | errors | target CPU% | loadgen CPU% | backends CPU% | kthreads% | other% | steal% |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        b=$(med "$base" rps) bestr=$(best rps max) bestu=$(best us min)
        for name in "${names[@]}"; do
            ratio=$(awk -v a="$(med "$name" rps)" -v b="$b" 'BEGIN{printf "%.2f", a / b}')
            echo "| $name | $(range "$name" rps) | $ratio | $(ratio "$(med "$name" rps)" "$bestr") | $(med "$name" us) | $(ratio "$(med "$name" us)" "$bestu") | $(lat "$name" p50) | $(lat "$name" p99) | $(echo ${R[$name.errs]} | tr ' ' '/')$( [ -n "${R[$name.noisy]:-}" ] && echo " (noisy: $(echo ${R[$name.noisy]} | wc -w))") | $(med "$name" tcpu) | $(med "$name" lcpu) | $(med "$name" bcpu) | $(med "$name" kern) | $(med "$name" other) | $(med "$name" steal) |"
            echo "scen=$scen scheme=${url[$name]%%:*} path=$path name=$name rps=$(med "$name" rps) rps_min=$(stats ${R[$name.rps]} | cut -d' ' -f2) rps_max=$(stats ${R[$name.rps]} | cut -d' ' -f3) us=$(med "$name" us) p50=$(lat "$name" p50) p99=$(lat "$name" p99) errors=$(echo ${R[$name.errs]} | tr ' ' '/') noisy=$(echo ${R[$name.noisy]:-} | wc -w) tcpu=$(med "$name" tcpu) lcpu=$(med "$name" lcpu)" >>"$summary"
        done ;;
esac
