#!/usr/bin/env bash
# Berth on its S3 backend against Debian's docker-registry (CNCF distribution 2.8) with its
# S3 driver, both on the same S3-compatible server (moto's, from .venv), in one run:
#
#   * skopeo push, then pull, of an image of SMALL_LAYERS layers of SMALL_KIB KiB (the many
#     small blobs of a typical image), and of an image with one LARGE_MIB MiB layer;
#   * for each, the wall time and the S3 requests the registry made (moto's request log),
#     by method, and per blob pushed.
#
# Berth runs with authentication (Basic, the GetAuthorizationToken password) and policy
# evaluation, SQLite metadata, blobs in s3://berth-bench/blobs; distribution without
# authentication, blobs in s3://dist-bench. moto is single-threaded Python: both
# registries wait on it, so the times compare request economy more than raw speed.
# Prints a table per run and the median of RUNS runs (default 3). Needs: curl, skopeo,
# docker-registry, python3, .venv with moto and the aws CLI (scripts/test.sh installs
# them), and a release build (made here unless BERTH_BIN names a binary).
#
#   bench/s3-vs-distribution.sh
#   RUNS=1 SMALL_LAYERS=10 LARGE_MIB=32 bench/s3-vs-distribution.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
SMALL_LAYERS="${SMALL_LAYERS:-20}"
SMALL_KIB="${SMALL_KIB:-256}"
LARGE_MIB="${LARGE_MIB:-64}"
AWS="${BERTH_TEST_AWS:-$PWD/.venv/bin/aws}"
MOTO="${MOTO_SERVER:-$PWD/.venv/bin/moto_server}"
OUT="${OUT:-bench/results}"

for tool in docker-registry skopeo curl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$MOTO" ] || { echo "$MOTO is missing: run scripts/test.sh once (it installs moto)" >&2; exit 1; }
if [ -n "${BERTH_BIN:-}" ]; then
    BERTH="$(realpath "$BERTH_BIN")"
else
    cargo build --release --locked -p berth >/dev/null
    BERTH="$PWD/target/release/berth"
fi

source bench/lib.sh
mkdir -p "$OUT"

# --- Data: two OCI layouts -------------------------------------------------------------------
python3 - "$WORK" "$SMALL_LAYERS" "$SMALL_KIB" "$LARGE_MIB" <<'PY'
import hashlib, json, os, sys
work, small_layers, small_kib, large_mib = sys.argv[1], *map(int, sys.argv[2:])
def layout(path, sizes):
    blobs = os.path.join(path, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
    def put(b):
        h = hashlib.sha256(b).hexdigest()
        open(os.path.join(blobs, h), "wb").write(b); return "sha256:" + h
    layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(os.urandom(s)), "size": s} for s in sizes]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": layers}).encode()
    md = put(manifest)
    open(os.path.join(path, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
        open(os.path.join(path, "index.json"), "w"))
layout(os.path.join(work, "small"), [small_kib * 1024] * small_layers)
layout(os.path.join(work, "large"), [large_mib * 1024 * 1024])
PY
SMALL_BLOBS=$((SMALL_LAYERS + 1))  # the layers and the config (the manifest is counted apart)
LARGE_BLOBS=2

# --- Servers ---------------------------------------------------------------------------------
start_moto() {
    local port; port="$(free_port)"
    "$MOTO" -H 127.0.0.1 -p "$port" > "$WORK/moto.log" 2>&1 &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/moto-api/"
    S3_ENDPOINT="http://127.0.0.1:$port"
    # moto accepts unsigned requests: create the buckets with plain PUTs.
    curl -sSf -X PUT "$S3_ENDPOINT/berth-bench" >/dev/null
    curl -sSf -X PUT "$S3_ENDPOINT/dist-bench" >/dev/null
}
start_berth() {
    local port; port="$(free_port)"
    BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        BERTH_S3_ACCESS_KEY_ID=bench BERTH_S3_SECRET_ACCESS_KEY=bench BERTH_LOG=warn \
        "$BERTH" serve --listen "127.0.0.1:$port" --data-dir "$WORK/berth-data" \
        --blobs s3://berth-bench/blobs --s3-endpoint "$S3_ENDPOINT" \
        > "$WORK/berth.out" 2> "$WORK/berth.err" &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/healthz"
    export AWS_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 AWS_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_PAGER=""
    for r in bench/small bench/large; do "$AWS" ecr create-repository --repository-name "$r" >/dev/null; done
    BERTH_HOST="127.0.0.1:$port"
    BERTH_CREDS="AWS:$("$AWS" ecr get-login-password)"
}
start_distribution() {
    local port; port="$(free_port)"
    cat > "$WORK/dist.yml" <<YML
version: 0.1
log: {level: error}
storage:
  s3:
    accesskey: bench
    secretkey: bench
    region: us-east-1
    regionendpoint: $S3_ENDPOINT
    bucket: dist-bench
    secure: false
    v4auth: true
  redirect: {disable: true}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
    # distribution's AWS SDK refuses to start when AWS_CA_BUNDLE is set with its transport.
    env -u AWS_CA_BUNDLE docker-registry serve "$WORK/dist.yml" > "$WORK/dist.out" 2>&1 &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/v2/"
    DIST_HOST="127.0.0.1:$port"
}

# --- Measurements ------------------------------------------------------------------------------
now() { date +%s.%N; }
s3_requests() { grep -cE '"(GET|PUT|POST|DELETE|HEAD) /(berth|dist)-bench' "$WORK/moto.log" || true; }
s3_breakdown() { # since line N: "GET 12, PUT 3, ..."
    tail -n +"$(($1 + 1))" "$WORK/moto.log" | grep -oE '"(GET|PUT|POST|DELETE|HEAD) /(berth|dist)-bench' \
        | awk '{print substr($1, 2)}' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}'
}
# phase NAME BLOBS COMMAND... -> appends "NAME<TAB>seconds<TAB>requests<TAB>requests per blob<TAB>breakdown"
phase() {
    local name="$1" blobs="$2"; shift 2
    local lines t0 t1 before after
    lines="$(wc -l < "$WORK/moto.log")"; before="$(s3_requests)"; t0="$(now)"
    "$@"
    t1="$(now)"; sleep 0.2; after="$(s3_requests)"
    python3 -c "print(f'$name\t{$t1 - $t0:.2f}\t{$after - $before}\t{($after - $before) / $blobs:.1f}\t$(s3_breakdown "$lines")')"
}
push() { # host image creds...
    local host="$1" image="$2"; shift 2
    skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "$@" \
        "oci:$WORK/$image:v1" "docker://$host/bench/$image:v1"
}
pull() { # host image creds...
    local host="$1" image="$2"; shift 2
    rm -rf "$WORK/back"
    skopeo --insecure-policy copy -q --preserve-digests --src-tls-verify=false "$@" \
        "docker://$host/bench/$image:v1" "oci:$WORK/back:v1"
}

run_once() {
    local run="$1" result="$OUT/s3-run-$1.tsv"
    rm -rf "$WORK/berth-data"
    start_moto; start_berth; start_distribution
    printf 'phase\tseconds\tS3 requests\tper blob\tby method\n' > "$result"
    {
        phase "berth push ${SMALL_LAYERS}x${SMALL_KIB}KiB" "$SMALL_BLOBS" push "$BERTH_HOST" small --dest-creds "$BERTH_CREDS"
        phase "distribution push ${SMALL_LAYERS}x${SMALL_KIB}KiB" "$SMALL_BLOBS" push "$DIST_HOST" small
        phase "berth pull ${SMALL_LAYERS}x${SMALL_KIB}KiB" "$SMALL_BLOBS" pull "$BERTH_HOST" small --src-creds "$BERTH_CREDS"
        phase "distribution pull ${SMALL_LAYERS}x${SMALL_KIB}KiB" "$SMALL_BLOBS" pull "$DIST_HOST" small
        phase "berth push 1x${LARGE_MIB}MiB" "$LARGE_BLOBS" push "$BERTH_HOST" large --dest-creds "$BERTH_CREDS"
        phase "distribution push 1x${LARGE_MIB}MiB" "$LARGE_BLOBS" push "$DIST_HOST" large
        phase "berth pull 1x${LARGE_MIB}MiB" "$LARGE_BLOBS" pull "$BERTH_HOST" large --src-creds "$BERTH_CREDS"
        phase "distribution pull 1x${LARGE_MIB}MiB" "$LARGE_BLOBS" pull "$DIST_HOST" large
    } >> "$result"
    stop_servers
    cp "$WORK/moto.log" "$OUT/s3-run-$run.moto.log"  # every S3 request, for a closer look
    echo "== run $run ($(uptime | sed 's/.*load/load/'))"; column -t -s $'\t' "$result"
}

for run in $(seq 1 "$RUNS"); do run_once "$run"; done
python3 - "$OUT" "$RUNS" <<'PY'
import csv, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
tables = [list(csv.reader(open(f"{out}/s3-run-{r}.tsv"), delimiter="\t"))[1:] for r in range(1, runs + 1)]
print(f"== median of {runs} run(s)")
for i, row in enumerate(tables[0]):
    col = lambda c: statistics.median(float(t[i][c]) for t in tables)
    print(f"{row[0]:<36} {col(1):>7.2f} s  {col(2):>6.0f} S3 requests  {col(3):>5.1f} per blob  ({tables[-1][i][4]})")
PY
