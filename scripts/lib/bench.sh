# Pieces shared by the load benchmarks, scripts/bench.sh and
# scripts/bench-cluster.sh (sourced, not run): starting and stopping
# servers, running the load driver into a results file, the machine's own
# limits, and reading the results back for the tables.
#
# The caller sets, before using them:
#   WORK      the run's directory (logs, data dirs, the dd and fsync tests)
#   RESULTS   the JSON-lines file results go to (one line per run, with "label")
#   LOAD      the load driver (target/release/examples/load)
#   STOWAGE   the stowage binary start_stowage runs (STW_BIN=… overrides it per call)
#   PIDS=()   every process started; bench_stop_all stops them (call it from the EXIT trap)
# and may define bench_before_run / bench_after_run: called around each `run`,
# the second prints extra JSON fields (`"a":1,"b":2`, no braces) for its line.
#
# Everything listens on 127.0.0.1 only, and every wait is bounded in time.

BENCH_NAME=${BENCH_NAME:-${0##*/}}

log() { echo "== $*" >&2; }
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a loopback port nothing listens on, below the kernel's range for outgoing
# connections' ports (a port an outgoing connection holds cannot be listened on, and a
# connect test does not see it).
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! port_open "$p"; then echo "$p"; return 0; fi
    done
    die "no free loopback port found"
}

# wait_port PORT PID NAME: up to 30 s for PORT to accept; fails (1) if PID died or time ran out.
wait_port() {
    for _ in $(seq 1 300); do
        port_open "$1" && return 0
        if ! kill -0 "$2" 2>/dev/null; then
            echo "$BENCH_NAME: $3 exited during start-up (see $WORK/$3.err)" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$BENCH_NAME: $3 did not listen on 127.0.0.1:$1 within 30 s" >&2
    return 1
}

# stop_pid PID: TERM, up to 5 s, then KILL; forgets the pid.
stop_pid() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]:-}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]:-}")
}

# bench_stop_all: TERM to every pid in PIDS, up to 5 s each, then KILL.
bench_stop_all() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    PIDS=()
}

# start_stowage NAME CONFIG_TEXT [notoken]: sets STW_PORT, STW_PID, STW_TOKEN, STW_DATA;
# returns 1 (with the instance stopped) if it does not come up. The binary is $STW_BIN if set,
# else $STOWAGE. With `notoken`, no API token is awaited (a gateway whose index already has
# one prints none).
start_stowage() {
    local name="$1" cfg="$WORK/$1.toml" bin="${STW_BIN:-$STOWAGE}" try
    printf '%s\n' "$2" > "$cfg"
    STW_DATA="$WORK/$name-data"
    for try in 1 2 3; do
        STW_PORT="$(free_port)" || return 1
        # The driver presigns with one token at tens of thousands per second:
        # the per-token limit (a guard against one runaway client) is lifted.
        STOWAGE_LIMITS_PRESIGN_PER_TOKEN_PER_SEC=0 "$bin" serve --config "$cfg" --listen "127.0.0.1:$STW_PORT" --data-dir "$STW_DATA" \
            > "$WORK/$name.out" 2> "$WORK/$name.err" &
        STW_PID=$!
        PIDS+=("$STW_PID")
        wait_port "$STW_PORT" "$STW_PID" "$name" && break
        stop_pid "$STW_PID"
        # Taken between the check and the bind: another port.
        grep -q "Address already in use" "$WORK/$name.err" && [ "$try" -lt 3 ] || return 1
        echo "$BENCH_NAME: $name: port $STW_PORT was taken meanwhile; another" >&2
    done
    STW_TOKEN=""
    [ "${3:-}" = notoken ] && return 0
    for _ in $(seq 1 100); do
        STW_TOKEN="$(grep -m1 -o '^stw_[A-Za-z0-9_-]*' "$WORK/$name.out" || true)"
        [ -n "$STW_TOKEN" ] && break
        sleep 0.1
    done
    if [ -z "$STW_TOKEN" ]; then
        echo "$BENCH_NAME: $name printed no API token (see $WORK/$name.out)" >&2
        stop_pid "$STW_PID"
        return 1
    fi
}

json_field() { # json_field FILE KEY
    sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$1" | head -n1
}

# run LABEL LOAD-ARGS...: runs the load driver, appends {"label":…,…} to $RESULTS.
# A failing run is recorded as missing (its stderr is shown), not fatal.
run() {
    local label="$1"; shift
    log "$label"
    local out extra=""
    if declare -F bench_before_run >/dev/null; then bench_before_run; fi
    if out="$(timeout 900 "$LOAD" "$@" 2> >(tee -a "$WORK/load.err" >&2) | tail -n1)" \
        && [ -n "$out" ]; then
        if declare -F bench_after_run >/dev/null; then extra="$(bench_after_run)"; fi
        echo "{\"label\":\"$label\",${extra:+$extra,}${out#\{}" >> "$RESULTS"
    else
        echo "   (failed: $label)" >&2
    fi
}

# measure_limits DUR SHA_BYTES LARGE DD_COUNT: the machine's own limits into $RESULTS
# (labels "limit …"), and DD_MBS (dd conv=fdatasync into $WORK, MB/s).
measure_limits() {
    local dur="$1" sha_bytes="$2" large="$3" dd_count="$4" dd_out
    run "limit sha256" --scenario sha256 --size "$sha_bytes"
    run "limit sha256+md5" --scenario sha256-md5 --size "$sha_bytes"
    run "limit sink-put" --scenario sink-put --size "$large"
    run "limit sink-get" --scenario sink-get --size "$large"
    run "limit sink-get-curl" --scenario sink-get-curl --size "$large"
    run "limit fsync-4k x1" --scenario fsync-4k --dir "$WORK" --connections 1 --duration "$dur"
    run "limit fsync-4k x16" --scenario fsync-4k --dir "$WORK" --connections 16 --duration "$dur"
    log "dd conv=fdatasync ($dd_count MiB) into $WORK"
    dd_out="$(timeout 300 dd if=/dev/zero of="$WORK/ddtest" bs=1M count="$dd_count" conv=fdatasync 2>&1 | tail -n1)" \
        || dd_out=""
    rm -f "$WORK/ddtest"
    echo "   $dd_out" >&2
    DD_MBS="$(echo "$dd_out" | awk -F', ' '{ split($1, b, " "); split($(NF-1), s, " "); if (s[1] > 0) printf "%.1f", b[1] / s[1] / 1e6 }')"
}

# --- reading results back ----------------------------------------------------------------------

# get LABEL FIELD → the field of the first result with that label, or empty.
get() { { grep -F "\"label\":\"$1\"," "$RESULTS" || true; } | head -n1 \
    | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" | tr -d '"' | sed 's/^null$//'; }
num() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
pct() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b }'; }
mib() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }

# limits_sentence: the machine limits measure_limits recorded, as one sentence.
limits_sentence() {
    echo "Machine limits measured in this run: SHA-256 one core $(num "$(get "limit sha256" mb_per_sec)" || true) MB/s," \
        "SHA-256+MD5 one core $(num "$(get "limit sha256+md5" mb_per_sec)" || true) MB/s," \
        "hashing sink (loopback PUT, SHA-256) $(num "$(get "limit sink-put" mb_per_sec)" || true) MB/s," \
        "loopback GET $(num "$(get "limit sink-get" mb_per_sec)" || true) MB/s (hyper client), $(num "$(get "limit sink-get-curl" mb_per_sec)" || true) MB/s (curl)," \
        "dd conv=fdatasync ${DD_MBS:-?} MB/s," \
        "write+fsync+rename+dir fsync of 4 KiB: $(num "$(get "limit fsync-4k x1" ops_per_sec)" || true) files/s (1 writer)," \
        "$(num "$(get "limit fsync-4k x16" ops_per_sec)" || true) files/s (16 writers)."
}
