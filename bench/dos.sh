#!/usr/bin/env bash
# Denial of service by request bodies (issue 15, item 5): a release build under 16
# concurrent hostile bodies of each kind bench/dos.py sends (unauthenticated Query bodies,
# signed ECR JSON for operations other than UploadLayerPart, each at 28 MiB and at the
# operation's own limit), while /healthz is timed and the server's RSS sampled.
# Targets: /healthz p99 under 50 ms and RSS under 150 MB throughout.
# Usage: bench/dos.sh [SECONDS per kind, default 10]   (env: CONNECTIONS=16, BERTH_BIN,
# PYTHON). A script, never a test: timings on a shared machine are reported, not asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

seconds="${1:-10}"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || { echo "$python is missing: run scripts/test.sh once (it installs boto3 into .venv)" >&2; exit 2; }
bin="${BERTH_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release --locked -p berth >&2
    bin=target/release/berth
fi

export BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKeyOnly0123456789abcdefgh
port="$(free_port)"
BERTH_LOG=warn "$bin" serve --dev --listen "127.0.0.1:$port" --data-dir "$WORK/data" >"$WORK/server.out" 2>"$WORK/server.err" &
server_pid=$!
PIDS+=("$server_pid")
wait_for "http://127.0.0.1:$port/healthz"

ROOT_KEY=$BERTH_ROOT_ACCESS_KEY_ID ROOT_SECRET=$BERTH_ROOT_SECRET_ACCESS_KEY \
    "$python" bench/dos.py "http://127.0.0.1:$port" "$server_pid" "$seconds"
