# A throwaway Garage cluster (S3-compatible, https://garagehq.deuxfleurs.fr),
# for scripts/test and the benchmark scripts (sourced, not run).
#
#   garage_found              # sets GARAGE_BIN if garage 2.5.0 is installed, else 1
#   garage_install            # garage 2.5.0 from crates.io with cargo install,
#                             # unless already there; sets GARAGE_BIN; returns 1
#                             # with a message on failure
#   garage_start PARENT N     # N nodes on 127.0.0.1 (free ports, a temp dir under
#                             # PARENT), connected, a layout applied, a key and a
#                             # bucket; exports GARAGE_DIR, GARAGE_S3_ENDPOINTS
#                             # (every node's, space-separated), GARAGE_S3_ENDPOINT
#                             # (the first), GARAGE_REGION, GARAGE_ACCESS_KEY_ID,
#                             # GARAGE_SECRET_ACCESS_KEY, GARAGE_BUCKET, GARAGE_PIDS;
#                             # returns 1 with a message (and logs) on failure
#   garage_stop               # kills the nodes and removes the dir (safe to call twice)
#
# Each node's config is $GARAGE_DIR/nodeI.toml (I from 1): the admin CLI
# talks RPC to a node with `garage -c $GARAGE_DIR/nodeI.toml …`.

GARAGE_VERSION=2.5.0
GARAGE_BIN=

# `garage --version` prints "garage cargo:2.5.0 [features: ...]" when
# built by cargo install ("garage v2.5.0 …" from a git checkout).
_garage_version_of() {
  "$1" --version 2>/dev/null | awk 'NR == 1 {sub(/^(cargo:|v)/, "", $2); print $2}'
}

# Sets GARAGE_BIN to an installed garage $GARAGE_VERSION (on PATH, or where
# cargo install puts it); 1 if there is none.
garage_found() {
  local cand
  for cand in "$(command -v garage 2>/dev/null || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/garage"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && [ "$(_garage_version_of "$cand")" = "$GARAGE_VERSION" ]; then
      GARAGE_BIN=$(readlink -f "$cand")
      return 0
    fi
  done
  return 1
}

garage_install() {
  garage_found && return 0
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin" started=$SECONDS
  if ! command -v cargo >/dev/null 2>&1; then
    echo "garage $GARAGE_VERSION is not installed, and there is no cargo to build it with" >&2
    return 1
  fi
  echo "garage: building garage $GARAGE_VERSION with cargo install (about 4 minutes on 2 cores, once)" >&2
  # LMDB's C sources bundled (bundled-libs), and libsodium built from its
  # own: no system library is needed, only a C compiler and make (Debian's
  # build-essential). --debug: a release build takes far longer, and the
  # tests do not measure Garage.
  if ! cargo install "garage@$GARAGE_VERSION" --locked --debug \
    --no-default-features --features bundled-libs,lmdb; then
    echo "garage: cargo install garage@$GARAGE_VERSION failed (see above); it needs a C compiler and make (Debian: apt-get install build-essential)" >&2
    return 1
  fi
  if ! garage_found; then
    echo "garage: cargo install ran, but $cargo_bin/garage is not garage $GARAGE_VERSION" >&2
    return 1
  fi
  echo "garage: installed $GARAGE_BIN in $((SECONDS - started)) s" >&2
}

GARAGE_DIR=
GARAGE_S3_ENDPOINTS=
GARAGE_S3_ENDPOINT=
GARAGE_REGION=garage
GARAGE_ACCESS_KEY_ID=
GARAGE_SECRET_ACCESS_KEY=
GARAGE_BUCKET=stowage
GARAGE_PIDS=

_garage() { # _garage NODE ARGS...: the admin CLI, over RPC to node NODE (1-based)
  local node=$1
  shift
  "$GARAGE_BIN" -c "$GARAGE_DIR/node$node.toml" "$@"
}

# _garage_wait_health NODE PID [PATTERN...]: polls `json-api
# GetClusterHealth` on node NODE until its answer (pretty JSON, a field a
# line) matches every PATTERN (extended regexes; none: any answer will do); 1 after 60 s or once
# the node's process PID is gone, with the node's last log lines.
_garage_wait_health() {
  local node=$1 pid=$2 deadline=$((SECONDS + 60)) out p ok
  shift 2
  while :; do
    if out=$(_garage "$node" json-api GetClusterHealth 2>&1); then
      ok=1
      for p in "$@"; do grep -Eq -- "$p" <<<"$out" || ok=; done
      [ -n "$ok" ] && return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "garage: node $node exited; its log:" >&2
      tail -n 30 "$GARAGE_DIR/node$node.log" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "garage: node $node not ready after 60 s (waiting for: $*); its last answer:" >&2
      echo "$out" >&2
      tail -n 30 "$GARAGE_DIR/node$node.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Writes node I's config and starts it; its ports are the I-th triple of
# $ports. Appends its pid to GARAGE_PIDS.
_garage_node() {
  local i=$1 rf=$2 secret=$3 rpc s3 admin
  read -r rpc s3 admin <<<"$(awk -v i="$i" '{print $(3*i-2), $(3*i-1), $(3*i)}' <<<"$ports")"
  mkdir -p "$GARAGE_DIR/node$i/meta" "$GARAGE_DIR/node$i/data"
  # Garage 2.x: replication_factor and consistency_mode replace 0.x's
  # replication_mode; rpc_public_addr is what `garage node id` prints and
  # what the CLI connects to.
  cat >"$GARAGE_DIR/node$i.toml" <<TOML
metadata_dir = "$GARAGE_DIR/node$i/meta"
data_dir = "$GARAGE_DIR/node$i/data"
db_engine = "lmdb"
replication_factor = $rf
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "$GARAGE_REGION"
api_bind_addr = "127.0.0.1:$s3"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
  chmod 600 "$GARAGE_DIR/node$i.toml"
  NO_COLOR=1 "$GARAGE_BIN" -c "$GARAGE_DIR/node$i.toml" server >>"$GARAGE_DIR/node$i.log" 2>&1 &
  GARAGE_PIDS="${GARAGE_PIDS:+$GARAGE_PIDS }$!"
  GARAGE_S3_ENDPOINTS="${GARAGE_S3_ENDPOINTS:+$GARAGE_S3_ENDPOINTS }http://127.0.0.1:$s3"
}

# garage_start PARENT N: N nodes (replication factor 3, or N if fewer)
# connected into one cluster with a layout applied, a key allowed to create
# buckets, and the bucket $GARAGE_BUCKET that key reads, writes and owns.
garage_start() {
  local parent="$1" n="$2" rf=3 i tries=0 secret ports id pids ids=()
  [ -n "$GARAGE_BIN" ] || garage_install || return 1
  [ "$n" -lt 3 ] && rf=$n
  mkdir -p "$parent"
  while :; do
    GARAGE_DIR=$(mktemp -d "$parent/stowage-garage.XXXXXX")
    GARAGE_PIDS=
    GARAGE_S3_ENDPOINTS=
    secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    # 3 free ports per node (rpc, s3, admin), all held at once so they differ.
    ports=$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(3 * int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$n")
    for i in $(seq 1 "$n"); do _garage_node "$i" "$rf" "$secret"; done
    read -r -a pids <<<"$GARAGE_PIDS"
    local up=1
    for i in $(seq 1 "$n"); do
      _garage_wait_health "$i" "${pids[$((i - 1))]}" || { up=; break; }
    done
    [ -n "$up" ] && break
    # A port taken between our probe and the node's bind: again, afresh.
    garage_stop
    tries=$((tries + 1))
    if [ "$tries" -ge 3 ]; then
      echo "garage: the nodes did not start (see above)" >&2
      return 1
    fi
  done
  GARAGE_S3_ENDPOINT=${GARAGE_S3_ENDPOINTS%% *}
  for i in $(seq 1 "$n"); do
    id=$(_garage "$i" node id -q 2>/dev/null) || { echo "garage: no node id for node $i" >&2; return 1; }
    ids+=("$id")
  done
  for i in $(seq 2 "$n"); do
    _garage 1 node connect "${ids[$((i - 1))]}" >/dev/null || { echo "garage: node connect $i failed" >&2; return 1; }
  done
  # One zone per node: with three zones, every partition has one copy in each.
  for i in $(seq 1 "$n"); do
    _garage 1 layout assign -z "zone$i" -c 1G "${ids[$((i - 1))]%@*}" >/dev/null ||
      { echo "garage: layout assign of node $i failed" >&2; return 1; }
  done
  _garage 1 layout apply --version 1 >/dev/null || { echo "garage: layout apply failed" >&2; return 1; }
  # Live: every node sees all N storage nodes up and every partition whole.
  for i in $(seq 1 "$n"); do
    _garage_wait_health "$i" "${pids[$((i - 1))]}" \
      '"status": "healthy"' "\"storageNodes\": $n,?\$" "\"storageNodesUp\": $n,?\$" || return 1
  done
  _garage 1 key create stowage >/dev/null || { echo "garage: key create failed" >&2; return 1; }
  _garage 1 key allow --create-bucket stowage >/dev/null || { echo "garage: key allow failed" >&2; return 1; }
  GARAGE_ACCESS_KEY_ID=$(_garage 1 key info stowage --key-id) &&
    GARAGE_SECRET_ACCESS_KEY=$(_garage 1 key info stowage --secret-key) ||
    { echo "garage: key info failed" >&2; return 1; }
  _garage 1 bucket create "$GARAGE_BUCKET" >/dev/null || { echo "garage: bucket create failed" >&2; return 1; }
  _garage 1 bucket allow --read --write --owner "$GARAGE_BUCKET" --key stowage >/dev/null ||
    { echo "garage: bucket allow failed" >&2; return 1; }
  export GARAGE_DIR GARAGE_S3_ENDPOINTS GARAGE_S3_ENDPOINT GARAGE_REGION \
    GARAGE_ACCESS_KEY_ID GARAGE_SECRET_ACCESS_KEY GARAGE_BUCKET GARAGE_PIDS
}

garage_stop() {
  local pid
  for pid in $GARAGE_PIDS; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in $GARAGE_PIDS; do wait "$pid" 2>/dev/null || true; done
  GARAGE_PIDS=
  if [ -n "$GARAGE_DIR" ]; then
    rm -rf "$GARAGE_DIR"
    GARAGE_DIR=
  fi
}
