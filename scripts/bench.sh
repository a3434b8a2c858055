#!/usr/bin/env bash
# Side-by-side load benchmark: Stowage vs the peer s3s-fs vs this machine's own limits,
# measured in one run (issue 4), and Stowage on its two index backends, SQLite and
# PostgreSQL (a throwaway durable server started here: fsync on), in the same run
# (issue 14). Prints two tables.
#
#   scripts/bench.sh            # full: 256 MiB and 1 GiB large PUTs, 10 s runs (~5 minutes)
#   scripts/bench.sh --quick    # smoke: small sizes, 2 s runs (CI)
#
# Options: --quick, --dir DIR (where the data dirs and the dd test go; default target/bench,
# i.e. the repo's filesystem), --keep (keep DIR/run.* and the logs), -h/--help.
# Environment: S3S_FS (path to an s3s-fs binary; default: installed with cargo if missing).
# The PostgreSQL rows need Debian's postgresql server binaries (scripts/test installs them);
# without them the second table says so.
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit, and
# every wait is bounded in time.
set -euo pipefail
export LC_ALL=C

QUICK=0
KEEP=0
BASE_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --dir) BASE_DIR="${2:?--dir needs a directory}"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/lib/postgres.sh
. scripts/lib/bench.sh
BASE_DIR="${BASE_DIR:-$ROOT/target/bench}"
mkdir -p "$BASE_DIR"
WORK="$(mktemp -d "$BASE_DIR/run.XXXXXX")"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

PIDS=()
cleanup() {
    local rc=$?
    bench_stop_all
    pg_stop
    if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
        echo "logs and data kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$QUICK" = 1 ]; then
    DUR=2; LARGE=$((32 * 1024 * 1024)); HUGE=$((64 * 1024 * 1024)); SHA_BYTES=$((256 * 1024 * 1024))
    DD_COUNT=128; PREP16=8000; PREP64=8000; OBJECTS=200
else
    DUR=10; LARGE=$((256 * 1024 * 1024)); HUGE=$((1024 * 1024 * 1024)); SHA_BYTES=$((2048 * 1024 * 1024))
    DD_COUNT=512; PREP16=60000; PREP64=100000; OBJECTS=1000
fi

# --- build ------------------------------------------------------------------------------------
log "building the release binary and the load driver"
cargo build --release --bin stowage --example load >&2
STOWAGE="$ROOT/target/release/stowage"
LOAD="$ROOT/target/release/examples/load"

# --- s3s-fs -----------------------------------------------------------------------------------
S3S_FS="${S3S_FS:-$(command -v s3s-fs || true)}"
if [ -z "$S3S_FS" ] && [ -x "$HOME/.cargo/bin/s3s-fs" ]; then S3S_FS="$HOME/.cargo/bin/s3s-fs"; fi
if [ -z "$S3S_FS" ]; then
    log "installing s3s-fs 0.14.1 (once)"
    cargo install s3s-fs@0.14.1 --features binary --locked >&2 \
        || cargo install s3s-fs@0.14.1 --features binary >&2 \
        || die "cannot install s3s-fs"
    S3S_FS="$HOME/.cargo/bin/s3s-fs"
fi
S3S_VERSION="$("$S3S_FS" --version 2>/dev/null || echo "s3s-fs ?")"

# --- servers ----------------------------------------------------------------------------------
log "starting Stowage (durable, the default)"
start_stowage stowage "" || die "Stowage did not start"
S_PORT="$STW_PORT"; S_PID="$STW_PID"; S_TOKEN="$STW_TOKEN"
CREDS="$STW_DATA/s3-credentials.json"
AK="$(json_field "$CREDS" access_key_id)"
SK="$(json_field "$CREDS" secret_access_key)"
[ -n "$AK" ] && [ -n "$SK" ] || die "cannot read the key pair from $CREDS"

log "starting $S3S_VERSION with the same keys"
F_PORT="$(free_port)"
mkdir -p "$WORK/s3s-root/bench"
"$S3S_FS" --host 127.0.0.1 --port "$F_PORT" --access-key "$AK" --secret-key "$SK" \
    "$WORK/s3s-root" > "$WORK/s3s-fs.out" 2> "$WORK/s3s-fs.err" &
F_PID=$!
PIDS+=("$F_PID")
wait_port "$F_PORT" "$F_PID" s3s-fs || die "s3s-fs did not start"

STW=(--target stowage --endpoint "http://127.0.0.1:$S_PORT" --token "$S_TOKEN" --server-pid "$S_PID")
S3S=(--target s3 --endpoint "http://127.0.0.1:$F_PORT" --access-key "$AK" --secret-key "$SK"
     --bucket bench --server-pid "$F_PID")

# --- machine limits ---------------------------------------------------------------------------
measure_limits "$DUR" "$SHA_BYTES" "$LARGE" "$DD_COUNT"

# --- scenarios --------------------------------------------------------------------------------
run "stowage large-put L" "${STW[@]}" --scenario large-put --size "$LARGE"
run "s3s large-put L" "${S3S[@]}" --scenario large-put --size "$LARGE"
run "stowage large-put H" "${STW[@]}" --scenario large-put --size "$HUGE"
run "stowage small-put 16" "${STW[@]}" --scenario small-put --connections 16 --duration "$DUR" --prepare "$PREP16"
run "s3s small-put 16" "${S3S[@]}" --scenario small-put --connections 16 --duration "$DUR" --prepare "$PREP16"
run "stowage small-put 64" "${STW[@]}" --scenario small-put --connections 64 --duration "$DUR" --prepare "$PREP64"
run "s3s small-put 64" "${S3S[@]}" --scenario small-put --connections 64 --duration "$DUR" --prepare "$PREP64"
run "stowage e2e 16" "${STW[@]}" --scenario e2e --connections 16 --duration "$DUR"
run "stowage presign 16" "${STW[@]}" --scenario presign --connections 16 --duration "$DUR"
run "stowage presign 64" "${STW[@]}" --scenario presign --connections 64 --duration "$DUR"
# The presign latency target is at half the rate just measured: an open-loop run at that rate.
P64="$(grep '"label":"stowage presign 64"' "$RESULTS" | sed -n 's/.*"ops_per_sec":\([0-9.]*\).*/\1/p' | head -n1)"
if [ -n "$P64" ]; then
    HALF="$(awk -v r="$P64" 'BEGIN { printf "%d", r / 2 }')"
    run "stowage presign half" "${STW[@]}" --scenario presign --connections 64 --duration "$DUR" \
        --rate "$HALF"
fi
run "stowage get-small 64" "${STW[@]}" --scenario get-small --connections 64 --duration "$DUR" --objects "$OBJECTS"
run "s3s get-small 64" "${S3S[@]}" --scenario get-small --connections 64 --duration "$DUR" --objects "$OBJECTS"
run "stowage get-large L" "${STW[@]}" --scenario get-large --size "$LARGE" --count 5
run "s3s get-large L" "${S3S[@]}" --scenario get-large --size "$LARGE" --count 5

stop_pid "$S_PID"

# The same small-request scenarios on a PostgreSQL index: a durable server (fsync on,
# synchronous commit) whose data is on the same filesystem as Stowage's.
PG_NOTE=""
log "starting PostgreSQL (fsync on) in $WORK"
# Run as root, the server is the postgres user's: it must be able to reach its dir.
chmod a+x "$WORK"
if pg_start "$WORK" on; then
    if start_stowage pg "$(printf '[index]\nbackend = "postgres"\nurl = "%s"' "$PG_URL")"; then
        PGW=(--target stowage --endpoint "http://127.0.0.1:$STW_PORT" --token "$STW_TOKEN" --server-pid "$STW_PID")
        run "pg small-put 16" "${PGW[@]}" --scenario small-put --connections 16 --duration "$DUR" --prepare "$PREP16"
        run "pg small-put 64" "${PGW[@]}" --scenario small-put --connections 64 --duration "$DUR" --prepare "$PREP64"
        run "pg e2e 16" "${PGW[@]}" --scenario e2e --connections 16 --duration "$DUR"
        run "pg presign 16" "${PGW[@]}" --scenario presign --connections 16 --duration "$DUR"
        run "pg presign 64" "${PGW[@]}" --scenario presign --connections 64 --duration "$DUR"
        run "pg get-small 64" "${PGW[@]}" --scenario get-small --connections 64 --duration "$DUR" --objects "$OBJECTS"
        stop_pid "$STW_PID"
        PG_NOTE="PostgreSQL $PG_VERSION on loopback, fsync on, synchronous_commit on, data in the same filesystem."
    else
        PG_NOTE="Stowage did not start on the PostgreSQL index (see $WORK/pg.err): no PostgreSQL rows."
    fi
    pg_stop
else
    PG_NOTE="No PostgreSQL server binaries (Debian package postgresql; scripts/test installs it): no PostgreSQL rows."
fi
log "$PG_NOTE"

# Relaxed ([storage] fsync = false) on a second instance, if this build has the setting.
log "starting Stowage relaxed ([storage] fsync = false)"
if start_stowage relaxed $'[storage]\nfsync = false'; then
    run "stowage large-put L relaxed" --target stowage --endpoint "http://127.0.0.1:$STW_PORT" \
        --token "$STW_TOKEN" --server-pid "$STW_PID" --scenario large-put --size "$LARGE"
    stop_pid "$STW_PID"
else
    log "this build does not start with [storage] fsync = false; no relaxed row"
fi

# --- the table --------------------------------------------------------------------------------
print_table() {
    # row SCENARIO STOWAGE_LABEL S3S_LABEL FIELD LIMIT_VALUE LIMIT_NAME
    row() {
        local s f e lim
        s="$(get "$2" "$4")"; f="$(get "$3" "$4")"; e="$(get "$2" errors)"; lim="$5"
        local fe; fe="$(get "$3" errors)"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
            "$(num "$s" || true)${e:+$( [ "$e" != 0 ] && echo " (${e} err)")}" \
            "$(num "$f" || true)${fe:+$( [ "$fe" != 0 ] && echo " (${fe} err)")}" \
            "$(ratio "$s" "$f" || true)" \
            "$( [ -n "$lim" ] && echo "$(num "$lim") $6" )" \
            "$(pct "$s" "$lim" || true)" \
            "$(get "$2" p99_ms)" \
            "$(mib "$(get "$2" peak_rss_kib)" || true)" \
            "$(mib "$(get "$3" peak_rss_kib)" || true)"
    }
    local sink_put sink_curl fs16 lmib hmib
    sink_put="$(get "limit sink-put" mb_per_sec)"
    sink_curl="$(get "limit sink-get-curl" mb_per_sec)"
    fs16="$(get "limit fsync-4k x16" ops_per_sec)"
    lmib=$((LARGE / 1024 / 1024)); hmib=$((HUGE / 1024 / 1024))
    echo
    echo "| scenario | Stowage | s3s-fs | ratio | limit | % of limit | Stowage p99 ms | Stowage peak RSS MiB | s3s-fs peak RSS MiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
    row "large PUT ${lmib} MiB, MB/s" "stowage large-put L" "s3s large-put L" mb_per_sec "$DD_MBS" "(dd fdatasync)"
    row "large PUT ${hmib} MiB, MB/s" "stowage large-put H" "-" mb_per_sec "$DD_MBS" "(dd fdatasync)"
    row "large PUT ${lmib} MiB relaxed (fsync=false), MB/s" "stowage large-put L relaxed" "s3s large-put L" mb_per_sec "$sink_put" "(hashing sink)"
    row "small PUT 4 KiB, 16 conn, obj/s" "stowage small-put 16" "s3s small-put 16" ops_per_sec "$fs16" "(fsync/file, 16 writers)"
    row "small PUT 4 KiB, 64 conn, obj/s" "stowage small-put 64" "s3s small-put 64" ops_per_sec "$fs16" "(fsync/file, 16 writers)"
    row "e2e presign+PUT+complete 4 KiB, 16 conn, files/s" "stowage e2e 16" "-" ops_per_sec "" ""
    row "presign, 16 conn, req/s" "stowage presign 16" "-" ops_per_sec "" ""
    row "presign, 64 conn, req/s" "stowage presign 64" "-" ops_per_sec "" ""
    row "presign at half that rate (open loop, --rate), req/s" "stowage presign half" "-" ops_per_sec "" ""
    row "GET 4 KiB, 64 conn, obj/s" "stowage get-small 64" "s3s get-small 64" ops_per_sec "" ""
    row "GET ${lmib} MiB, MB/s" "stowage get-large L" "s3s get-large L" mb_per_sec "$sink_curl" "(loopback curl GET)"
    echo
    limits_sentence
    echo "Peer: $S3S_VERSION. Mode: $([ "$QUICK" = 1 ] && echo quick || echo full)." \
        "Host: $(nproc) CPUs, $(uname -sr). MB = 10^6 bytes. Raw results: results.jsonl."
    # brow SCENARIO SQLITE_LABEL PG_LABEL: the index backends side by side.
    brow() {
        local s p
        s="$(get "$2" ops_per_sec)"; p="$(get "$3" ops_per_sec)"
        local se pe; se="$(get "$2" errors)"; pe="$(get "$3" errors)"
        printf '| %s | %s | %s | %s | %s | %s |\n' "$1" \
            "$(num "$s" || true)${se:+$( [ "$se" != 0 ] && echo " (${se} err)")}" \
            "$(num "$p" || true)${pe:+$( [ "$pe" != 0 ] && echo " (${pe} err)")}" \
            "$(ratio "$p" "$s" || true)" \
            "$(get "$2" p99_ms)" "$(get "$3" p99_ms)"
    }
    echo
    echo "| index backend, same run | SQLite | PostgreSQL | PostgreSQL / SQLite | SQLite p99 ms | PostgreSQL p99 ms |"
    echo "|---|---|---|---|---|---|"
    brow "small PUT 4 KiB, 16 conn, obj/s" "stowage small-put 16" "pg small-put 16"
    brow "small PUT 4 KiB, 64 conn, obj/s" "stowage small-put 64" "pg small-put 64"
    brow "e2e presign+PUT+complete 4 KiB, 16 conn, files/s" "stowage e2e 16" "pg e2e 16"
    brow "presign, 16 conn, req/s" "stowage presign 16" "pg presign 16"
    brow "presign, 64 conn, req/s" "stowage presign 64" "pg presign 64"
    brow "GET 4 KiB, 64 conn, obj/s" "stowage get-small 64" "pg get-small 64"
    echo
    echo "$PG_NOTE"
}
print_table | tee "$WORK/table.md"
if [ "$KEEP" = 0 ]; then cp "$RESULTS" "$BASE_DIR/last-results.jsonl"; cp "$WORK/table.md" "$BASE_DIR/last-table.md"; fi
