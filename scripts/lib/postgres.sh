# A throwaway PostgreSQL server, for scripts/test and scripts/bench.sh
# (sourced, not run). Needs Debian's server binaries under
# /usr/lib/postgresql/*/bin; as root, runs the server as the `postgres`
# user (PostgreSQL refuses root). Listens on 127.0.0.1 on a free port and
# on a socket in its own dir.
#
#   pg_start PARENT_DIR FSYNC   # FSYNC: on (durable, for benchmarks) or off (tests)
#                               # sets PG_URL (postgresql://postgres@127.0.0.1:PORT/postgres),
#                               # PG_DIR, PG_VERSION; returns 1 with a message on failure
#   pg_stop                     # stops and removes it (safe to call twice)

PG_DIR=
PG_URL=
PG_VERSION=
_pg_bin=
_pg_as=()

_pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
  local parent="$1" fsync="$2"
  _pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$_pg_bin" ] || [ ! -x "$_pg_bin/initdb" ]; then
    echo "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian package postgresql)" >&2
    return 1
  fi
  mkdir -p "$parent"
  PG_DIR=$(mktemp -d "$parent/stowage-pg.XXXXXX")
  _pg_as=()
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "running as root, but there is no 'postgres' user to run PostgreSQL as" >&2
      return 1
    fi
    chown postgres: "$PG_DIR"
    _pg_as=(runuser -u postgres --)
  fi
  local sync_opts="-c fsync=off -c full_page_writes=off"
  [ "$fsync" = on ] && sync_opts="-c fsync=on -c synchronous_commit=on"
  "${_pg_as[@]}" "$_pg_bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2
    return 1
  }
  local port tries=0
  while :; do
    port=$(_pg_free_port)
    if "${_pg_as[@]}" "$_pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR \
          $sync_opts -c max_connections=300" start >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 3 ]; then
      echo "PostgreSQL did not start; its log:" >&2
      cat "$PG_DIR/server.log" >&2
      return 1
    fi
  done
  PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  PG_VERSION=$("$_pg_bin/postgres" --version | awk '{print $3}')
}

pg_stop() {
  if [ -n "$PG_DIR" ]; then
    "${_pg_as[@]}" "$_pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
  fi
}
