#!/usr/bin/env bash
# Runs a command with the external services the tests need, each throwaway and on loopback:
#   - PostgreSQL (Debian's server): a fresh cluster in a temporary directory, trust auth on
#     127.0.0.1 only; its URL goes to BERTH_TEST_POSTGRES_URL.
#   - An S3-compatible server (moto's, from .venv): its URL goes to BERTH_TEST_S3_ENDPOINT.
# Everything is stopped and removed when the command ends, however it ends.
#
#   scripts/with-test-services.sh cargo nextest run --workspace
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-test-services.XXXXXX")"
pg_pid_dir=""
s3_pid=""

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
    [ -n "$dir" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
    echo "$dir"
}

# initdb and postgres refuse to run as root: as root, run them as the `postgres` user.
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_services() {
    if [ -n "$pg_pid_dir" ]; then
        as_pg_user "$(pg_bin)/pg_ctl" -D "$pg_pid_dir" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -n "$s3_pid" ]; then
        kill "$s3_pid" 2>/dev/null || true
        wait "$s3_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop_services EXIT

start_postgres() {
    local bin port data="$work/pg"
    bin="$(pg_bin)"
    port="$(free_port)"
    mkdir -p "$data"
    [ "$(id -u)" -ne 0 ] || chown postgres "$work" "$data"
    as_pg_user "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
    # Tests create a schema each and do not care about durability: fsync off keeps them fast.
    as_pg_user "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -k $data -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$data/server.log" >&2; exit 1; }
    pg_pid_dir="$data"
    export BERTH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

start_s3() {
    local port moto=.venv/bin/moto_server
    [ -x "$moto" ] || moto="$(command -v moto_server || true)"
    [ -n "$moto" ] || { echo "moto_server missing: run scripts/test.sh once to install it" >&2; exit 1; }
    port="$(free_port)"
    "$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
    s3_pid=$!
    for _ in $(seq 1 100); do
        if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
            export BERTH_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
            return
        fi
        kill -0 "$s3_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/moto.log" >&2
    echo "moto_server did not start" >&2
    exit 1
}

start_postgres
start_s3
"$@"
