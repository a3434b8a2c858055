#!/usr/bin/env bash
# Issue 15's benchmark. Default: one gateway against three on the same cluster, side by side
# in one run — a 3-node Garage (replication factor 3, Garage's own fsync defaults) and a
# durable PostgreSQL (fsync on) on loopback, gateways with `[storage] backend = "s3"` and one
# PostgreSQL index (each its own data dir and port; one public URL, one key pair). Each
# workload runs against gateway 1 alone, then at once against all three (the load driver's
# connections spread over their ports round-robin). Prints the throughput table, where the
# CPU went during each run, and the machine's limits measured in the same run.
#
# --parts: instead, a file in parts against the same file whole (S3 multipart and the upload
# API's part-wise flow, 8 MiB parts), on the local backend (SQLite), with this tree's binary
# and with a base revision's (default main; built from a temporary `git worktree` into
# target/bench-base), side by side.
#
#   scripts/bench-cluster.sh            # full: 10 s runs, 256 MiB large PUTs (~10 minutes)
#   scripts/bench-cluster.sh --quick    # small sizes, 2 s runs (a couple of minutes)
#   scripts/bench-cluster.sh --parts    # 1 GiB in parts vs whole, this tree vs main
#   scripts/bench-cluster.sh --parts --base-ref 1e4e3f7   # … vs main before composite blobs
#   scripts/bench-cluster.sh --parts --quick    # 64 MiB
#
# Options: --quick, --parts, --base-ref REF (default main), --base-bin PATH (the base's
# stowage already built: no worktree, no build), --garage-bin PATH (another garage 2.5.0, e.g.
# a release build: `cargo install garage@2.5.0 --locked --no-default-features --features
# bundled-libs,lmdb --root DIR`), --dir DIR (where data dirs and the dd test go; default
# target/bench), --keep (keep DIR/cluster.* and the logs), -h/--help.
# Needs garage 2.5.0 (by default the debug build the tests use, installed with cargo install
# if missing, see scripts/lib/garage.sh) and Debian's postgresql server binaries (scripts/test
# installs them).
#
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit, and
# every wait is bounded in time.
set -euo pipefail
export LC_ALL=C

QUICK=0
KEEP=0
PARTS=0
BASE_DIR=""
BASE_REF=main
BASE_BIN=""
GARAGE_OPT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --parts) PARTS=1 ;;
        --dir) BASE_DIR="${2:?--dir needs a directory}"; shift ;;
        --base-ref) BASE_REF="${2:?--base-ref needs a git revision}"; shift ;;
        --base-bin) BASE_BIN="${2:?--base-bin needs a path}"; shift ;;
        --garage-bin) GARAGE_OPT="${2:?--garage-bin needs a path}"; shift ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/lib/postgres.sh
. scripts/lib/garage.sh
. scripts/lib/bench.sh
BASE_DIR="${BASE_DIR:-$ROOT/target/bench}"
mkdir -p "$BASE_DIR"
WORK="$(mktemp -d "$BASE_DIR/cluster.XXXXXX")"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

PIDS=()
BASE_TREE=""
cleanup() {
    local rc=$?
    bench_stop_all
    pg_stop
    garage_stop
    if [ -n "$BASE_TREE" ]; then
        git worktree remove --force "$BASE_TREE" >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
        echo "logs and data kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MODE="$([ "$QUICK" = 1 ] && echo quick || echo full)"
MIB=$((1024 * 1024))
if [ "$QUICK" = 1 ]; then
    DUR=2; SHA_BYTES=$((256 * MIB)); LIMIT_LARGE=$((32 * MIB)); DD_COUNT=128
    PREP_SMALL=3000; PREP_MID=60; LARGE=$((32 * MIB)); OBJ_SMALL=200; OBJ_MID=30
    FILE=$((64 * MIB)); ROUNDS=1
else
    DUR=10; SHA_BYTES=$((2048 * MIB)); LIMIT_LARGE=$((256 * MIB)); DD_COUNT=512
    PREP_SMALL=20000; PREP_MID=400; LARGE=$((256 * MIB)); OBJ_SMALL=1000; OBJ_MID=200
    FILE=$((1024 * MIB)); ROUNDS=2
fi
LARGE_N=3   # large PUTs at once (one per gateway with three)
PART=$((8 * MIB))

# --- build ------------------------------------------------------------------------------------
log "building the release binary and the load driver"
cargo build --release --bin stowage --example load >&2
STOWAGE="$ROOT/target/release/stowage"
LOAD="$ROOT/target/release/examples/load"
TREE_REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo +changes)"

# --- CPU accounting ---------------------------------------------------------------------------
# The load driver reports, for its timed phase only, the CPU seconds of the process groups
# named by --watch (each pid with its children), its own, and the machine's busy time.
WATCH=()
set_watch() { # set_watch GATEWAY_PIDS_CSV
    WATCH=(--watch "gw=$1")
    if [ -n "${GARAGE_PIDS:-}" ]; then WATCH+=(--watch "garage=${GARAGE_PIDS// /,}"); fi
    if [ -n "${PG_DIR:-}" ] && [ -r "$PG_DIR/data/postmaster.pid" ]; then
        WATCH+=(--watch "pg=$(head -n1 "$PG_DIR/data/postmaster.pid")")
    fi
}
# cpu_pct LABEL FIELD: that group's CPU over the timed phase, % of one core.
cpu_pct() {
    local w c
    w="$(get "$1" cpu_wall_s)"; c="$(get "$1" "$2")"
    [ -n "$w" ] && [ -n "$c" ] && awk -v c="$c" -v w="$w" 'BEGIN { if (w > 0) printf "%.0f", 100 * c / w }'
}
# cpu_row NAME LABEL: gateways, Garage, PostgreSQL, driver, the rest, idle (% of one core).
cpu_row() {
    local w b gw ga pg dr rest idle cores
    cores="$(nproc)"
    w="$(get "$2" cpu_wall_s)"; b="$(get "$2" cpu_busy_s)"
    gw="$(get "$2" cpu_gw_s)"; ga="$(get "$2" cpu_garage_s)"; pg="$(get "$2" cpu_pg_s)"; dr="$(get "$2" cpu_driver_s)"
    if [ -z "$w" ]; then printf '| %s | (no run) |  |  |  |  |  |  |\n' "$1"; return; fi
    rest="$(awk -v b="$b" -v a="${gw:-0}" -v c="${ga:-0}" -v d="${pg:-0}" -v e="${dr:-0}" -v w="$w" \
        'BEGIN { r = b - a - c - d - e; if (r < 0) r = 0; printf "%.0f", 100 * r / w }')"
    idle="$(awk -v b="$b" -v w="$w" -v n="$cores" 'BEGIN { i = n * w - b; if (i < 0) i = 0; printf "%.0f", 100 * i / w }')"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(num "$w")" \
        "$(cpu_pct "$2" cpu_gw_s || true)" "$(cpu_pct "$2" cpu_garage_s || true)" \
        "$(cpu_pct "$2" cpu_pg_s || true)" "$(cpu_pct "$2" cpu_driver_s || true)" "$rest" "$idle"
}

# =============================================================================================
# --parts: a file in parts against the same file whole, this tree against a base revision.
# =============================================================================================
if [ "$PARTS" = 1 ]; then
    if [ -z "$BASE_BIN" ]; then
        BASE_TREE="$(mktemp -d /tmp/bench-base.XXXXXX)"
        rmdir "$BASE_TREE"
        log "building $BASE_REF's stowage in a temporary worktree ($BASE_TREE, target dir target/bench-base)"
        git worktree add --detach "$BASE_TREE" "$BASE_REF" >&2
        BASE_DESC="$BASE_REF at $(git -C "$BASE_TREE" rev-parse --short HEAD)"
        (cd "$BASE_TREE" && CARGO_TARGET_DIR="$ROOT/target/bench-base" cargo build --release --bin stowage >&2)
        BASE_BIN="$ROOT/target/bench-base/release/stowage"
        git worktree remove --force "$BASE_TREE" >&2
        BASE_TREE=""
    else
        BASE_DESC="$BASE_BIN"
    fi
    [ -x "$BASE_BIN" ] || die "no stowage binary at $BASE_BIN"
    LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
    measure_limits "$DUR" "$SHA_BYTES" "$LIMIT_LARGE" "$DD_COUNT"
    FMIB=$((FILE / MIB))
    # One instance per binary and round, each on a fresh data dir removed after it (a 1 GiB
    # file four ways, and the copies of a base that copies parts, would otherwise pile up).
    for round in $(seq 1 "$ROUNDS"); do
        for which in base tree; do
            bin="$STOWAGE"; [ "$which" = base ] && bin="$BASE_BIN"
            STW_BIN="$bin" start_stowage "$which-$round" "" || die "$which's stowage did not start"
            creds="$STW_DATA/s3-credentials.json"
            ak="$(json_field "$creds" access_key_id)"; sk="$(json_field "$creds" secret_access_key)"
            [ -n "$ak" ] && [ -n "$sk" ] || die "cannot read the key pair from $creds"
            stw=(--target stowage --endpoint "http://127.0.0.1:$STW_PORT" --token "$STW_TOKEN"
                 --server-pid "$STW_PID" --watch "gw=$STW_PID" --size "$FILE")
            s3=(--target s3 --endpoint "http://127.0.0.1:$STW_PORT" --access-key "$ak"
                --secret-key "$sk" --bucket bench --server-pid "$STW_PID" --watch "gw=$STW_PID"
                --size "$FILE")
            run "$which s3 whole $round" "${s3[@]}" --scenario large-put
            run "$which s3 parts $round" "${s3[@]}" --scenario multipart-put --part-size "$PART"
            run "$which api whole $round" "${stw[@]}" --scenario large-put
            run "$which api parts $round" "${stw[@]}" --scenario multipart-put --part-size "$PART"
            du -sm "$STW_DATA" | awk -v l="$which $round" '{ print "   data dir of " l ": " $1 " MiB" }' >&2
            stop_pid "$STW_PID"
            rm -rf "$STW_DATA"
        done
    done
    print_parts() {
        # secs of the run, "s (MB/s)"; with several rounds, each.
        cell() {
            local out="" r s m
            for r in $(seq 1 "$ROUNDS"); do
                s="$(get "$1 $r" secs)"; m="$(get "$1 $r" mb_per_sec)"
                out="${out:+$out; }${s:-–} s${m:+ ($(num "$m") MB/s)}"
            done
            echo "$out"
        }
        cms() {
            local out="" r c
            for r in $(seq 1 "$ROUNDS"); do
                c="$(get "$1 $r" complete_ms)"
                out="${out:+$out; }${c:-–}"
            done
            echo "$out"
        }
        echo
        echo "| ${FMIB} MiB, one connection, local backend (SQLite) | base: $BASE_DESC | this tree ($TREE_REV) | completion alone, ms: base | this tree |"
        echo "|---|---|---|---|---|"
        echo "| S3 PUT, whole | $(cell "base s3 whole") | $(cell "tree s3 whole") |  |  |"
        echo "| S3 multipart, $((PART / MIB)) MiB parts | $(cell "base s3 parts") | $(cell "tree s3 parts") | $(cms "base s3 parts") | $(cms "tree s3 parts") |"
        echo "| upload API, presign + PUT + complete | $(cell "base api whole") | $(cell "tree api whole") |  |  |"
        echo "| upload API, part-wise, $((PART / MIB)) MiB parts | $(cell "base api parts") | $(cell "tree api parts") | $(cms "base api parts") | $(cms "tree api parts") |"
        echo
        limits_sentence
        echo "Mode: $MODE, $ROUNDS round(s) (the base then this tree, each on a fresh data dir, durable: the default config)." \
            "Host: $(nproc) CPUs, $(uname -sr); load average $LOAD_BEFORE before the run, $LOAD_AFTER after. MB = 10^6 bytes. Raw results: results.jsonl."
    }
    LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
    print_parts | tee "$WORK/table.md"
    if [ "$KEEP" = 0 ]; then
        cp "$RESULTS" "$BASE_DIR/last-parts-results.jsonl"; cp "$WORK/table.md" "$BASE_DIR/last-parts-table.md"
    fi
    exit 0
fi

# =============================================================================================
# Default: one gateway against three on one Garage cluster and one PostgreSQL.
# =============================================================================================
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
measure_limits "$DUR" "$SHA_BYTES" "$LIMIT_LARGE" "$DD_COUNT"

if [ -n "$GARAGE_OPT" ]; then
    [ -x "$GARAGE_OPT" ] || die "no garage binary at $GARAGE_OPT"
    GARAGE_BIN="$(readlink -f "$GARAGE_OPT")"
    GARAGE_BUILD="$GARAGE_BIN (--garage-bin)"
else
    garage_found || garage_install || die "no garage $GARAGE_VERSION"
    GARAGE_BUILD="built with cargo install --debug (scripts/lib/garage.sh)"
fi
GARAGE_DESC="$("$GARAGE_BIN" --version 2>/dev/null | head -n1)"

# Garage keeps three copies of every byte and frees deleted blocks only after 10 minutes, so
# each workload that sends bytes to it gets a cluster of its own (the one before is removed):
# the disk then holds one workload's bytes at most. Check that it can. (One gateway and three
# are always compared on the same cluster.)
GROUP_MIB=$(( 3 * PREP_MID )); L=$(( 3 * LARGE_N * LARGE / MIB )); [ "$L" -gt "$GROUP_MIB" ] && GROUP_MIB=$L
L=$(( 3 * OBJ_MID )); [ "$L" -gt "$GROUP_MIB" ] && GROUP_MIB=$L
NEED_MIB=$(( 3 * GROUP_MIB + 2048 ))
AVAIL_MIB=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "$AVAIL_MIB" -ge "$NEED_MIB" ] ||
    die "$WORK's filesystem has $AVAIL_MIB MiB free; this mode needs about $NEED_MIB MiB (three copies of one workload's bytes, and room); use --quick or --dir"

log "starting PostgreSQL (fsync on) in $WORK"
# Run as root, the server is the postgres user's: it must be able to reach its dir.
chmod a+x "$WORK"
pg_start "$WORK" on || die "PostgreSQL did not start (Debian package postgresql; scripts/test installs it)"

# The index's commit rate on this server: one INSERT per transaction from 1 and 3 clients
# (a gateway runs its index writes one at a time: one writer per gateway).
PGBENCH="$_pg_bin/pgbench"
PSQL="$_pg_bin/psql"
PG_TPS1=""; PG_TPS3=""
if [ -x "$PGBENCH" ] && "$PSQL" -q "$PG_URL" -c 'CREATE TABLE bench_commit (id bigserial PRIMARY KEY, v text)' >/dev/null 2>&1; then
    echo "INSERT INTO bench_commit (v) VALUES (repeat('x', 200));" > "$WORK/commit.sql"
    for c in 1 3; do
        log "pgbench: commits/s from $c client(s)"
        tps="$("$PGBENCH" -n -c "$c" -j "$c" -T "$DUR" -f "$WORK/commit.sql" "$PG_URL" 2>&1 \
            | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n1)" || tps=""
        echo "   $tps commits/s" >&2
        [ "$c" = 1 ] && PG_TPS1="$tps" || PG_TPS3="$tps"
    done
    "$PSQL" -q "$PG_URL" -c 'DROP TABLE bench_commit' >/dev/null 2>&1 || true
fi

# Three gateways: the same index, bucket, key pair and public URL; each its own data dir,
# port and Garage node (gateway i talks to node i). Each cluster gets an index (a database on
# the one PostgreSQL server) of its own: an index naming the bytes of a cluster that is gone
# would have every gateway's start-up mark them damaged.
KEY_ID="AKIABENCHCLUSTER0001"
SECRET="$(od -An -N30 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-40)"
gateway_config() { # gateway_config I
    cat <<TOML
public_url = "http://stowage.bench"

[s3]
access_key_id = "$KEY_ID"
secret_access_key = "$SECRET"

[index]
backend = "postgres"
url = "$INDEX_URL"

[storage]
backend = "s3"
s3_endpoint = "${GARAGE_EPS[$1]}"
s3_bucket = "$GARAGE_BUCKET"
s3_region = "$GARAGE_REGION"
s3_access_key_id = "$GARAGE_ACCESS_KEY_ID"
s3_secret_access_key = "$GARAGE_SECRET_ACCESS_KEY"
TOML
}
TOKEN=""
GW_PIDS=()
CLUSTERS=0
# cluster_up: a fresh 3-node Garage and a fresh index, then the three gateways on them, and
# the load driver's arguments for them: ONE, THREE, DIRECT (Garage itself).
cluster_up() {
    local i p
    for p in "${GW_PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
    garage_stop
    CLUSTERS=$((CLUSTERS + 1))
    log "starting a 3-node Garage $GARAGE_VERSION in $WORK (cluster $CLUSTERS)"
    garage_start "$WORK" 3 || die "Garage did not start"
    "$PSQL" -q "$PG_URL" -c "CREATE DATABASE stowage_$CLUSTERS" >/dev/null || die "cannot create a database"
    INDEX_URL="${PG_URL%/*}/stowage_$CLUSTERS"
    TOKEN=""
    read -r -a GARAGE_EPS <<<"$GARAGE_S3_ENDPOINTS"
    GW_PORTS=(); GW_PIDS=()
    for i in 0 1 2; do
        log "starting gateway $((i + 1)) (Garage node $((i + 1)))"
        # One after the other: the first start on the index makes the initial token, the
        # others find it there.
        if [ -z "$TOKEN" ]; then
            start_stowage "gw$i-$CLUSTERS" "$(gateway_config "$i")" || die "gateway 1 did not start"
            TOKEN="$STW_TOKEN"
        else
            start_stowage "gw$i-$CLUSTERS" "$(gateway_config "$i")" notoken || die "gateway $((i + 1)) did not start"
        fi
        GW_PORTS+=("$STW_PORT"); GW_PIDS+=("$STW_PID")
    done
    local all="${GW_PIDS[0]},${GW_PIDS[1]},${GW_PIDS[2]}"
    set_watch "$all"
    ONE=(--target stowage --token "$TOKEN" --endpoint "http://127.0.0.1:${GW_PORTS[0]}"
         --server-pid "${GW_PIDS[0]}" "${WATCH[@]}")
    THREE=(--target stowage --token "$TOKEN"
           --endpoint "http://127.0.0.1:${GW_PORTS[0]},http://127.0.0.1:${GW_PORTS[1]},http://127.0.0.1:${GW_PORTS[2]}"
           --server-pid "$all" "${WATCH[@]}")
    # The ceiling of the Garage-bound rows: the same workload straight to the three Garage
    # nodes (round-robin, the S3 target of the load driver, a bucket of its own).
    DIRECT=(--target s3 --endpoint "$(echo "$GARAGE_S3_ENDPOINTS" | tr ' ' ',')" --region "$GARAGE_REGION"
            --access-key "$GARAGE_ACCESS_KEY_ID" --secret-key "$GARAGE_SECRET_ACCESS_KEY"
            --bucket bench-direct "${WATCH[@]}")
}

# side LABEL LOAD-ARGS...: the workload against one gateway, then against three.
side() {
    local label="$1"; shift
    run "1gw $label" "${ONE[@]}" "$@"
    run "3gw $label" "${THREE[@]}" "$@"
}
# Bytes into Garage are capped by the URL pool (--prepare): a run that empties it ends there,
# and its rate is over the time it took.
cluster_up
side "small-put" --scenario small-put --connections 64 --duration "$DUR" --prepare "$PREP_SMALL"
side "get-small" --scenario get-small --connections 64 --duration "$DUR" --objects "$OBJ_SMALL"
run "garage mid-put" "${DIRECT[@]}" --scenario small-put --size "$MIB" --connections 16 --duration "$DUR" --prepare "$PREP_MID"
side "mid-put" --scenario small-put --size "$MIB" --connections 16 --duration "$DUR" --prepare "$PREP_MID"
cluster_up
run "garage large-put" "${DIRECT[@]}" --scenario large-put --size "$LARGE" --count "$LARGE_N" --connections "$LARGE_N"
side "large-put" --scenario large-put --size "$LARGE" --count "$LARGE_N" --connections "$LARGE_N"
cluster_up
run "garage get-mid" "${DIRECT[@]}" --scenario get-small --size "$MIB" --connections 16 --duration "$DUR" --objects "$OBJ_MID"
side "get-mid" --scenario get-small --size "$MIB" --connections 16 --duration "$DUR" --objects "$OBJ_MID"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the tables -------------------------------------------------------------------------------
print_cluster() {
    # crow WORKLOAD LABEL FIELD LIMIT: one gateway, three, the ratio, the limit, p99s, errors.
    crow() {
        local a b ea eb
        a="$(get "1gw $2" "$3")"; b="$(get "3gw $2" "$3")"
        ea="$(get "1gw $2" errors)"; eb="$(get "3gw $2" errors)"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(num "$a" || true)" "$(num "$b" || true)" \
            "$(ratio "$b" "$a" || true)" "$4" "$(get "1gw $2" p99_ms)" "$(get "3gw $2" p99_ms)" \
            "${ea:-–} / ${eb:-–}"
    }
    # direct LABEL FIELD: the same workload straight to Garage.
    direct() {
        local v e; v="$(get "garage $1" "$2")"; e="$(get "garage $1" errors)"
        [ -n "$v" ] && echo "$(num "$v") (Garage direct, p99 $(get "garage $1" p99_ms) ms$([ "${e:-0}" != 0 ] && echo ", $e errors"))"
    }
    local lmib=$((LARGE / MIB)) pgl=""
    [ -n "$PG_TPS1" ] && pgl="$(num "$PG_TPS1") / $(num "$PG_TPS3") commits/s (PostgreSQL, 1 / 3 clients)"
    echo
    echo "| workload (same cluster, same run) | 1 gateway | 3 gateways | 3 / 1 | limit in this run | p99 ms, 1 | p99 ms, 3 | errors, 1 / 3 |"
    echo "|---|---|---|---|---|---|---|---|"
    crow "small PUT 4 KiB (inline in the index), 64 conn, obj/s" small-put ops_per_sec "$pgl"
    crow "PUT 1 MiB (to Garage), 16 conn, obj/s" mid-put ops_per_sec "$(direct mid-put ops_per_sec || true)"
    crow "large PUT ${lmib} MiB, ${LARGE_N} at once, MB/s" large-put mb_per_sec "$(direct large-put mb_per_sec || true)"
    crow "GET 4 KiB (from the index), 64 conn, obj/s" get-small ops_per_sec ""
    crow "GET 1 MiB (from Garage), 16 conn, MB/s" get-mid mb_per_sec "$(direct get-mid mb_per_sec || true)"
    echo
    echo "Where the CPU went during each timed phase, % of one core ($(nproc) cores: $(( $(nproc) * 100 ))% in all):"
    echo
    echo "| run | s | gateways | Garage (3 nodes) | PostgreSQL | load driver | rest (kernel, other tenants) | idle |"
    echo "|---|---|---|---|---|---|---|---|"
    local w
    for w in small-put mid-put large-put get-small get-mid; do
        cpu_row "$w, 1 gateway" "1gw $w"
        cpu_row "$w, 3 gateways" "3gw $w"
        case "$w" in mid-put|large-put|get-mid) cpu_row "$w, Garage direct" "garage $w" ;; esac
    done
    echo
    limits_sentence
    echo "PostgreSQL $PG_VERSION (fsync on, synchronous_commit on, same filesystem): one INSERT per transaction" \
        "$(num "$PG_TPS1" || echo ?) commits/s from 1 client, $(num "$PG_TPS3" || echo ?) from 3 (pgbench, ${DUR} s)."
    echo "$GARAGE_DESC, $GARAGE_BUILD; 3 nodes on loopback (a fresh cluster and index for the 1 MiB PUTs, the large PUTs and the 1 MiB GETs each), replication_factor 3," \
        "consistency_mode consistent, LMDB, metadata_fsync and data_fsync at Garage's default (off)," \
        "zstd level 1 (its default). Gateways: this tree ($TREE_REV), release build, durable defaults," \
        "gateway i sending its bytes to Garage node i."
    echo "Mode: $MODE. Host: $(nproc) CPUs, $(uname -sr); load average $LOAD_BEFORE before the run," \
        "$LOAD_AFTER after. MB = 10^6 bytes. Raw results: results.jsonl."
}
print_cluster | tee "$WORK/table.md"
if [ "$KEEP" = 0 ]; then
    cp "$RESULTS" "$BASE_DIR/last-cluster-results.jsonl"; cp "$WORK/table.md" "$BASE_DIR/last-cluster-table.md"
fi
