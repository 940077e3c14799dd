#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the shared-run-store tests.
#
#   source scripts/postgres.sh     # exports COMPRESSION_TEST_PG_URL and defines pg_stop
#   bash scripts/postgres.sh       # prints the export line (the cluster keeps running)
#
# Idempotent: installs Debian's postgresql if missing (as root), reuses a cluster that already
# runs in $CLA_PG_DIR (default /tmp/cla-pg), else initdb + pg_ctl start on 127.0.0.1 only, on
# port 55432 or a free one. Trust authentication: a local test cluster, never for real data.
# Written so that it is safe to source under `set -euo pipefail`.

_cla_pg_main() {
    local dir="${CLA_PG_DIR:-/tmp/cla-pg}"
    local data="$dir/data"
    local db="${CLA_PG_DB:-cla_test}"
    local bin run=()

    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "postgres.sh: installing postgresql (apt-get)" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 ||
                { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; } || true
            bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
        fi
    fi
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "postgres.sh: PostgreSQL is not installed and cannot be installed here (need root + apt)." >&2
        return 1
    fi

    # PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
        run=(runuser -u postgres --)
    fi

    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"

    # Several test runs may source this at once: one at a time decides whether to start the cluster.
    local lockfd
    exec {lockfd}>"$dir/.lock"
    flock -w 120 "$lockfd" || true
    local port=""
    if "${run[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port="$(sed -n 4p "$data/postmaster.pid")"
        CLA_PG_STARTED=0  # someone else's cluster: pg_stop leaves it running
    else
        if [ ! -f "$data/PG_VERSION" ]; then
            "${run[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
                { cat "$dir/initdb.log" >&2; return 1; }
        fi
        port=55432
        if ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $port))" 2>/dev/null; then
            port="$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")"
        fi
        "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
            start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exec {lockfd}>&-; return 1; }
        CLA_PG_STARTED=1
    fi

    if ! "${run[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
        "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
    fi
    exec {lockfd}>&-

    export COMPRESSION_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
    export CLA_PG_BIN="$bin" CLA_PG_DATA="$data" CLA_PG_STARTED
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
    return 0
}

# Stop the throw-away cluster if this shell started it (scripts/test.sh calls this on exit); a cluster
# that was already running (another test run uses it) is left alone. `pg_stop --force` stops it anyway.
pg_stop() {
    if [ "${CLA_PG_STARTED:-0}" != 1 ] && [ "${1:-}" != "--force" ]; then
        return 0
    fi
    local data="${CLA_PG_DATA:-${CLA_PG_DIR:-/tmp/cla-pg}/data}"
    local bin="${CLA_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    else
        "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

if _cla_pg_main; then
    if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        echo "export COMPRESSION_TEST_PG_URL=$COMPRESSION_TEST_PG_URL"
    fi
else
    echo "postgres.sh: no PostgreSQL for the tests (COMPRESSION_TEST_PG_URL not set)." >&2
fi
