#!/usr/bin/env bash
# STS and SigV4 throughput of a release build, load from wrk (Debian's `wrk`) in a second
# process on loopback, replaying pre-built requests (bench/prepare.py builds them):
#   AssumeRoleWithWebIdentity/s and p50/p99 latency, warm keys (the dev issuer's JWKS);
#   SigV4-verified ECR DescribeRepositories/s by an assumed-role session;
#   for each, the server's CPU time per request (robust to other load on the machine).
# Targets (issue 4): >= 10,000 assumes/s, >= 20,000 signed calls/s, p99 < 10 ms.
# Usage: bench/sts.sh [SECONDS]   (env: CONNECTIONS=16, THREADS=1, BERTH_BIN, PYTHON)
# Results also go to bench/results/sts-<time>.txt. A script, never a test: timings on a
# shared machine are reported, not asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10}"
connections="${CONNECTIONS:-16}"
threads="${THREADS:-1}"
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || { echo "$python is missing: run scripts/test.sh once (it installs boto3 into .venv)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

bin="${BERTH_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release --locked -p berth >&2
    bin=target/release/berth
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

export BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKeyOnly0123456789abcdefgh
BERTH_LOG=warn "$bin" serve --dev --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
# For profiling: `BENCH_PID_FILE=/tmp/p bench/sts.sh 30 & perf record -g -p "$(cat /tmp/p)"`.
[ -n "${BENCH_PID_FILE:-}" ] && echo "$server_pid" >"$BENCH_PID_FILE"
for _ in $(seq 100); do
    grep -q "berth ready" "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
addr="$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$work/server.out" | head -1)"
[ -n "$addr" ] || { cat "$work/server.err" >&2; echo "berth did not start" >&2; exit 1; }
endpoint="http://$addr"

token="$(AWS_ACCESS_KEY_ID=$BERTH_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_ROOT_SECRET_ACCESS_KEY \
    "$bin" token --endpoint-url "$endpoint" --repository octo/app --expires-in 3600)"
ROOT_KEY=$BERTH_ROOT_ACCESS_KEY_ID ROOT_SECRET=$BERTH_ROOT_SECRET_ACCESS_KEY \
    "$python" bench/prepare.py "$endpoint" "$token" "$work"

mkdir -p bench/results
results="bench/results/sts-$(date -u +%Y%m%dT%H%M%SZ).txt"
# utime + stime of the server, in clock ticks (/proc/PID/stat fields 14 and 15; the
# command name in field 2 has no spaces here).
server_cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$server_pid/stat"
}
run() {
    local name="$1" script="$2"
    # Warm up (connections, caches), then measure.
    wrk -t"$threads" -c"$connections" -d2s -s "$script" "$endpoint/" >/dev/null
    local out cpu_before cpu_after
    cpu_before="$(server_cpu_ticks)"
    out="$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$script" "$endpoint/")"
    cpu_after="$(server_cpu_ticks)"
    if grep -q "Non-2xx" <<<"$out" || grep -q "Socket errors" <<<"$out"; then
        echo "$out" >&2
        echo "$name: errors during the run" >&2
        exit 1
    fi
    local rps p50 p99 requests cpu_us
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    # The server's CPU time (user + system) per request: unlike req/s, it does not depend
    # on how much of the shared machine the server got during the run.
    cpu_us="$(awk -v t="$((cpu_after - cpu_before))" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
        'BEGIN { printf "%.0f", t * 1000000 / hz / n }')"
    printf '%-36s %12s req/s   p50 %8s   p99 %8s   server CPU %4s us/req\n' \
        "$name" "$rps" "$p50" "$p99" "$cpu_us" | tee -a "$results"
}
{
    echo "berth $("$bin" --version | awk '{print $2}') $(git rev-parse --short HEAD 2>/dev/null || true), $(nproc) cores, wrk -t$threads -c$connections -d${duration}s"
} | tee "$results"
run "AssumeRoleWithWebIdentity" "$work/assume.lua"
run "ECR DescribeRepositories (SigV4)" "$work/describe.lua"
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$server_pid/status)" | tee -a "$results"
