#!/usr/bin/env bash
# What the audit trail costs on the registry's hot paths: the same release build with and
# without it (`--no-audit`), in alternating runs (this machine's noise is larger than the
# effect, so one pair says nothing), RUNS pairs (default 5):
#
#   * GET manifest by tag at 16 connections for LOAD_SECONDS (wrk): every request is a
#     BatchGetImage event, the worst case (successful HEAD probes are not recorded);
#   * skopeo push of one image of 200 layers of 64 KiB (about 400 recorded requests),
#     each run to a repository of its own.
#
# Prints each run and, per measure, the median and range with and without the trail. For
# STS, run bench/sts.sh with and without BERTH_NO_AUDIT=true the same way. A script,
# never a test: timings on a shared machine are reported, not asserted.
#
#   bench/audit-overhead.sh                  # RUNS=5, LOAD_SECONDS=10
#   BERTH_BIN=target/release/berth RUNS=3 bench/audit-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
LOAD_SECONDS="${LOAD_SECONDS:-10}"
AWS="${BERTH_TEST_AWS:-$PWD/.venv/bin/aws}"
OUT="${OUT:-bench/results}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
command -v skopeo >/dev/null || { echo "skopeo is missing: apt-get install skopeo" >&2; exit 2; }
[ -x "$AWS" ] || { echo "$AWS is missing: run scripts/test.sh once (it installs the aws CLI into .venv)" >&2; exit 2; }
if [ -n "${BERTH_BIN:-}" ]; then
    BERTH="$(realpath "$BERTH_BIN")"
else
    cargo build --release --locked -p berth >/dev/null
    BERTH="$PWD/target/release/berth"
fi
source bench/lib.sh
mkdir -p "$OUT"

python3 - "$WORK/wide" <<'PY'
import hashlib, json, os, sys
path = sys.argv[1]
blobs = os.path.join(path, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b); return "sha256:" + h
descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(os.urandom(64 * 1024)), "size": 64 * 1024} for _ in range(200)]
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]}, "config": {}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": descs}).encode()
md = put(manifest)
open(os.path.join(path, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
    open(os.path.join(path, "index.json"), "w"))
PY

# run MODE N: one server (MODE audit or no-audit), a push and the GET load; prints
# "MODE push_seconds manifests_per_second".
run() {
    local mode="$1" n="$2" port flags=()
    [ "$mode" = no-audit ] && flags+=(--no-audit)
    port="$(free_port)"
    rm -rf "$WORK/data"
    BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        BERTH_LOG=warn "$BERTH" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" "${flags[@]}" \
        > "$WORK/berth.out" 2> "$WORK/berth.err" &
    local pid=$!
    PIDS+=("$pid")
    wait_for "http://127.0.0.1:$port/healthz"
    export AWS_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 AWS_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_PAGER=""
    "$AWS" ecr create-repository --repository-name "bench/wide$n" >/dev/null
    local password; password="$("$AWS" ecr get-login-password)"
    local start end
    start="$(date +%s.%N)"
    skopeo copy --quiet --dest-tls-verify=false --dest-creds "AWS:$password" \
        "oci:$WORK/wide:v1" "docker://127.0.0.1:$port/bench/wide$n:v1"
    end="$(date +%s.%N)"
    local auth; auth="Authorization: Basic $(printf 'AWS:%s' "$password" | base64 -w0)"
    wrk -t1 -c16 -d"${LOAD_SECONDS}s" -H "$auth" \
        -H "Accept: application/vnd.oci.image.manifest.v1+json" \
        "http://127.0.0.1:$port/v2/bench/wide$n/manifests/v1" > "$WORK/wrk.out"
    local rate; rate="$(awk '/Requests\/sec:/ {print $2}' "$WORK/wrk.out")"
    if grep -q "Non-2xx" "$WORK/wrk.out"; then
        echo "non-2xx answers under load:" >&2; cat "$WORK/wrk.out" >&2; exit 1
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
    PIDS=()
    printf '%s %.2f %s\n' "$mode" "$(echo "$end - $start" | bc)" "$rate"
}

results="$WORK/results"
: > "$results"
for n in $(seq "$RUNS"); do
    # Alternate which goes first, so neither always runs on a warmer machine.
    if [ $((n % 2)) = 1 ]; then order=(audit no-audit); else order=(no-audit audit); fi
    for mode in "${order[@]}"; do
        line="$(run "$mode" "$n")"
        echo "run $n: $line"
        echo "$line" >> "$results"
    done
done

summary="$(python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def column(mode, i): return [float(r[i]) for r in rows if r[0] == mode]
for name, i, unit in [("200-layer push", 1, "s"), ("GET manifest", 2, "req/s")]:
    a, b = column("audit", i), column("no-audit", i)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:15} with trail {ma:10.2f} {unit} ({min(a):.2f}-{max(a):.2f})   "
          f"without {mb:10.2f} {unit} ({min(b):.2f}-{max(b):.2f})   "
          f"trail/without {ma / mb:.3f}")
PY
)"
echo "$summary"
{
    echo "# bench/audit-overhead.sh, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), RUNS=$RUNS LOAD_SECONDS=$LOAD_SECONDS"
    cat "$results"
    echo "$summary"
} > "$OUT/audit-overhead-$(date -u +%Y%m%dT%H%M%SZ).txt"
