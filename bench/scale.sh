#!/usr/bin/env bash
# Berth's reads at scale (issue 20): fills a data directory through the stores with
# crates/berth/examples/scale_data.rs (by default 10,000 repositories, 110,000 images and
# 1,010,000 tags: scale/big holds 100,000 images of 10 tags each), then starts a release
# server on it and runs bench/scale.py: image listings first to last page, describe by
# tag, BatchGetImage of 100 tags, manifest GET and HEAD by tag, the tags/list and
# _catalog walks, DescribeRepositories over every repository; plus the server's startup
# time on that database and SQLite's query plans.
#
# Usage: bench/scale.sh [DATA_DIR]   (env: REPOSITORIES, BIG_IMAGES, TAGS_PER_IMAGE,
#        BERTH_BIN, PYTHON). DATA_DIR is kept, and reused when it holds a finished fill
#        of the same sizes (filling the default sizes takes minutes). Results also go to
#        bench/results/scale-<time>.txt. A script, never a test: timings on a shared
#        machine are reported, not asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || { echo "$python is missing: run scripts/test.sh once (it installs boto3 into .venv)" >&2; exit 2; }
data="${1:-/tmp/berth-scale}"
export REPOSITORIES="${REPOSITORIES:-10000}" BIG_IMAGES="${BIG_IMAGES:-100000}" TAGS_PER_IMAGE="${TAGS_PER_IMAGE:-10}"
sizes="$REPOSITORIES repositories, $BIG_IMAGES images x $TAGS_PER_IMAGE tags"

cargo build --release --locked -p berth --example scale_data >&2
bin="${BERTH_BIN:-target/release/berth}"
[ -n "${BERTH_BIN:-}" ] || cargo build --release --locked -p berth >&2

mkdir -p bench/results
results="bench/results/scale-$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$results") 2>&1
echo "# bench/scale.sh $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(nproc) cores"

if [ "$(cat "$data/.filled" 2>/dev/null)" != "$sizes" ]; then
    rm -rf "$data"
    echo "filling $data: $sizes"
    /usr/bin/time -f "fill: %e s, max RSS %M KiB" target/release/examples/scale_data "$data"
    echo "$sizes" >"$data/.filled"
else
    echo "reusing $data ($sizes)"
fi
du -sh "$data/berth.db"* "$data/blobs" 2>/dev/null | sed 's/^/size: /'

export BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKeyOnly0123456789abcdefgh
# shellcheck source=bench/lib.sh
source bench/lib.sh
work="$WORK"
started=$(date +%s.%N)
BERTH_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
PIDS+=("$server_pid")
for _ in $(seq 600); do
    grep -q "berth ready" "$work/server.out" 2>/dev/null && break
    sleep 0.05
done
ready=$(date +%s.%N)
addr="$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$work/server.out" | head -1)"
[ -n "$addr" ] || { cat "$work/server.err" >&2; echo "berth did not start" >&2; exit 1; }
echo "startup on this database: $(echo "($ready - $started) * 1000" | bc | cut -d. -f1) ms (to the ready line)"
"$python" bench/scale.py "http://$addr" "$BERTH_ROOT_ACCESS_KEY_ID" "$BERTH_ROOT_SECRET_ACCESS_KEY" \
    --explain "$data/berth.db"
echo "server RSS after the reads: $(awk '/VmRSS/ {print $2, $3}' "/proc/$server_pid/status")"
