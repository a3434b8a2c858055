#!/usr/bin/env bash
# Scale test of issue 4: start-up time and presign / small PUT / 4 KiB GET against an empty
# index and against one holding N files (default 1,000,000), side by side in one run.
#
#   scripts/scale.sh                 # N = 1,000,000, 10 s per scenario
#   N=200000 DUR=3 scripts/scale.sh  # shorter
#   scripts/scale.sh --refill        # rebuild the filled data dir (else reused if present)
#
# The filled index is made by examples/fill_index.rs (rows written straight into SQLite; see
# there). Data dirs live under target/scale/. Everything listens on loopback only; every
# process started here is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
N="${N:-1000000}"
DUR="${DUR:-10}"
REFILL=0
[ "${1:-}" = "--refill" ] && REFILL=1
WORK="$ROOT/target/scale"
mkdir -p "$WORK"
log() { echo "== $*" >&2; }

log "building (release)"
cargo build --release --bin stowage --example load --example fill_index >&2
STOWAGE="$ROOT/target/release/stowage"
LOAD="$ROOT/target/release/examples/load"
: > "$WORK/empty.toml"

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

FULL="$WORK/full-$N"
if [ "$REFILL" = 1 ] || [ ! -f "$FULL/filled" ]; then
    rm -rf "$FULL"
    log "filling an index with $N files"
    "$ROOT/target/release/examples/fill_index" "$FULL" "$N" >&2
    touch "$FULL/filled"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# measure NAME DATA_DIR: start-up time, then the three scenarios; appends JSON lines.
measure() {
    local name="$1" dir="$2" port token pid t0 t1
    port="$(free_port)"
    token="$(STOWAGE_DATA_DIR="$dir" "$STOWAGE" token create --name "scale-$RANDOM$RANDOM" \
        --config "$WORK/empty.toml" | tail -n1)"
    t0=$(date +%s.%N)
    STOWAGE_LIMITS_PRESIGN_PER_TOKEN_PER_SEC=0 "$STOWAGE" serve --config "$WORK/empty.toml" --listen "127.0.0.1:$port" --data-dir "$dir" \
        > "$WORK/$name.out" 2> "$WORK/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 3000); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
        kill -0 "$pid" 2>/dev/null || { echo "scale.sh: $name died (see $WORK/$name.err)" >&2; exit 1; }
        sleep 0.01
    done
    t1=$(date +%s.%N)
    python3 -c "import json; print(json.dumps({'label':'$name','scenario':'startup','secs':$t1-$t0}))" \
        >> "$WORK/results.jsonl"
    local common=(--target stowage --endpoint "http://127.0.0.1:$port" --token "$token"
                  --server-pid "$pid" --duration "$DUR")
    for args in "presign --connections 64" \
                "small-put --connections 64 --prepare $((DUR * 8000))" \
                "get-small --connections 64 --objects 1000"; do
        log "$name: $args"
        # shellcheck disable=SC2086
        "$LOAD" "${common[@]}" --scenario $args 2>>"$WORK/$name.load.err" \
            | tail -n1 | python3 -c "import json,sys; d=json.load(sys.stdin); d['label']='$name'; print(json.dumps(d))" \
            >> "$WORK/results.jsonl"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

rm -f "$WORK/results.jsonl"
rm -rf "$WORK/empty-data"
measure empty "$WORK/empty-data"
measure "full" "$FULL"

python3 - "$WORK/results.jsonl" "$N" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
by = {(r['label'], r['scenario']): r for r in rows}
print(f"| scenario | empty index | {n:,} files | ratio |")
print("|---|---|---|---|")
e, f = by[('empty', 'startup')]['secs'], by[('full', 'startup')]['secs']
print(f"| start-up to first /healthz 200, s | {e:.3f} | {f:.3f} | {f/e:.1f}× |")
for s in ['presign', 'small-put', 'get-small']:
    e, f = by.get(('empty', s)), by.get(('full', s))
    if not e or not f:
        print(f"| {s} | missing | missing | |"); continue
    for k, unit in [('ops_per_sec', 'ops/s'), ('p50_ms', 'p50 ms'), ('p99_ms', 'p99 ms')]:
        print(f"| {s}, {unit} | {e[k]:.1f} | {f[k]:.1f} | {f[k]/e[k]:.2f} |")
PY
