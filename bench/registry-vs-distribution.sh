#!/usr/bin/env bash
# Berth against Debian's docker-registry (CNCF distribution 2.8), side by side, same data,
# same machine, one run after the other:
#
#   * 512 MiB blob: monolithic upload (POST, then PUT with the body), chunked upload
#     (16 MiB PATCHes), download; curl, so the client is not the bottleneck (`-T` streams
#     the file: `--data-binary @file` would first read all of it into memory);
#   * the chunked upload again over one kept-alive connection (bench/chunked-upload.py):
#     one curl per PATCH starts a process and a connection per chunk, which is about a
#     third of the time a fast server takes (README, "Benchmarks");
#   * skopeo: push and pull of one image of 200 layers of 64 KiB, and of 50 small images;
#   * HEAD blob and GET manifest requests per second at 16 connections, with oha (wrk
#     waits for a body after HEAD, so it cannot count HEAD responses).
#
# Berth runs with authentication (Basic, the GetAuthorizationToken password) and policy
# evaluation; distribution without authentication. Prints a table per run and the median
# of RUNS runs (default 3). Needs: curl, skopeo, docker-registry, python3 (installed here
# from Debian when missing), oha (`cargo install oha --locked` here when missing), the aws
# CLI (BERTH_TEST_AWS or .venv/bin/aws), and a release build (made here unless BERTH_BIN
# names a binary). Run it under `flock /tmp/berth-bench.lock` on a shared machine.
#
#   bench/registry-vs-distribution.sh            # RUNS=3 by default
#   RUNS=1 BLOB_MIB=512 bench/registry-vs-distribution.sh
#   BERTH_BIN=target/profiling/berth bench/registry-vs-distribution.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
BLOB_MIB="${BLOB_MIB:-512}"
CHUNK_MIB="${CHUNK_MIB:-16}"
LOAD_SECONDS="${LOAD_SECONDS:-10}"
AWS="${BERTH_TEST_AWS:-$PWD/.venv/bin/aws}"
OUT="${OUT:-bench/results}"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
install() {
    local missing=()
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v skopeo >/dev/null || missing+=(skopeo)
    if [ "${#missing[@]}" -gt 0 ]; then
        local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    if ! command -v oha >/dev/null; then
        cargo install oha --locked --quiet
    fi
}
install
if [ -n "${BERTH_BIN:-}" ]; then
    BERTH="$(realpath "$BERTH_BIN")"
else
    cargo build --release --locked -p berth >/dev/null
    BERTH="$PWD/target/release/berth"
fi

source bench/lib.sh
mkdir -p "$OUT"

# --- Data ----------------------------------------------------------------------------------
# What the clients send lives in memory (tmpfs) when /dev/shm has room: on a disk, the page
# cache may drop files left unread for a while (this VM pages out anything cold for about a
# minute), and whichever server is measured first, always Berth, would then be sent its
# input from the disk (README, "Benchmarks"). The servers' data stays on the disk.
INPUT="$WORK/input"
if [ -d /dev/shm ] && [ -w /dev/shm ] \
    && [ "$(df -Pm /dev/shm | awk 'NR == 2 {print $4}')" -gt "$((BLOB_MIB * 2 + 256))" ]; then
    INPUT="$(mktemp -d /dev/shm/berth-bench.XXXXXX)"
    CLEANUP+=("$INPUT")
fi
mkdir -p "$INPUT"
# warm FILE...: read into the page cache (after `settle`), in case they are on a disk after all.
warm() { cat "$@" > /dev/null; }
# settle: before each timed upload, nothing left to write back and, as root, a page cache
# emptied of the servers' earlier blobs (the inputs on tmpfs stay), so each server writes
# into the same kind of memory: this VM hands free memory back to its host, and page cache
# grown into such memory seems to cost about twice as much per byte (README, "Benchmarks").
# BENCH_DROP_CACHES=0 keeps the cache.
settle() {
    sync
    if [ "${BENCH_DROP_CACHES:-1}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then
        echo 1 > /proc/sys/vm/drop_caches
    fi
}
head -c "$((BLOB_MIB * 1024 * 1024))" /dev/urandom > "$INPUT/mono.bin"
head -c "$((BLOB_MIB * 1024 * 1024))" /dev/urandom \
    | split -b "$((CHUNK_MIB * 1024 * 1024))" -d -a 4 - "$INPUT/chunk."
CHUNK_SIZES=(); for chunk in "$INPUT"/chunk.*; do CHUNK_SIZES+=("$(stat -c %s "$chunk")"); done
python3 - "$INPUT" <<'PY'
import hashlib, json, os, sys
work = sys.argv[1]
def layout(path, tag, layers, size, seed):
    blobs = os.path.join(path, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
    def put(b):
        h = hashlib.sha256(b).hexdigest()
        open(os.path.join(blobs, h), "wb").write(b); return "sha256:" + h
    descs = []
    for i in range(layers):
        b = os.urandom(size) if size else seed.to_bytes(8, "little") + i.to_bytes(4, "little")
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(b), "size": len(b)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]}, "config": {}, "seed": seed}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": descs}).encode()
    md = put(manifest)
    open(os.path.join(path, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]},
        open(os.path.join(path, "index.json"), "w"))
layout(os.path.join(work, "wide"), "v1", 200, 64 * 1024, 1)
for i in range(50):
    layout(os.path.join(work, f"small{i}"), "v1", 2, 4096, 100 + i)
PY
MONO_DIGEST="sha256:$(sha256sum "$INPUT/mono.bin" | cut -d' ' -f1)"
CHUNKED_DIGEST="sha256:$(cat "$INPUT"/chunk.* | sha256sum | cut -d' ' -f1)"
# The kept-alive upload sends the chunks last to first: a blob neither server has yet
# (both would skip storing one they have), from the same files.
REVERSED_CHUNKS=(); for chunk in "$INPUT"/chunk.*; do REVERSED_CHUNKS=("$chunk" "${REVERSED_CHUNKS[@]}"); done
REVERSED_DIGEST="sha256:$(cat "${REVERSED_CHUNKS[@]}" | sha256sum | cut -d' ' -f1)"

# --- Servers -------------------------------------------------------------------------------
start_berth() {
    local port; port="$(free_port)"
    BERTH_ROOT_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 BERTH_ROOT_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        BERTH_LOG=warn "$BERTH" serve --listen "127.0.0.1:$port" --data-dir "$WORK/berth-data" \
        > "$WORK/berth.out" 2> "$WORK/berth.err" &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/healthz"
    export AWS_ACCESS_KEY_ID=AKIABENCHROOTKEY0001 AWS_SECRET_ACCESS_KEY=benchRootSecretKey0123456789abcdef \
        AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_PAGER=""
    for r in bench/blob bench/wide; do "$AWS" ecr create-repository --repository-name "$r" >/dev/null; done
    for i in $(seq 0 49); do "$AWS" ecr create-repository --repository-name "bench/small$i" >/dev/null; done
    local password; password="$("$AWS" ecr get-login-password)"
    BERTH_HOST="127.0.0.1:$port"
    BERTH_AUTH="Authorization: Basic $(printf 'AWS:%s' "$password" | base64 -w0)"
    BERTH_CREDS="AWS:$password"
}
start_distribution() {
    local port; port="$(free_port)"
    cat > "$WORK/dist.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $WORK/dist-data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
    docker-registry serve "$WORK/dist.yml" > "$WORK/dist.out" 2>&1 &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/v2/"
    DIST_HOST="127.0.0.1:$port"
}

# --- Measurements (each prints one number) --------------------------------------------------
now() { date +%s.%N; }
mbps() { python3 -c "print(round($BLOB_MIB * 1048576 / ($2 - $1) / 1e6, 1))"; }

to_absolute() { # variable host: a Location in that variable made absolute, in place (no subshell)
    local -n url="$1"
    if [[ "$url" == /* ]]; then url="http://$2$url"; fi
}
upload_location() { # host auth repo -> absolute upload URL
    local location
    location="$(curl -sS -o /dev/null -w '%header{location}' -X POST -H "$2" "http://$1/v2/$3/blobs/uploads/")"
    to_absolute location "$1"
    echo "$location"
}
with_query() { case "$1" in *\?*) echo "$1&$2";; *) echo "$1?$2";; esac; }

monolithic_upload() { # host auth
    local t0 t1 loc; settle; warm "$INPUT/mono.bin"; t0="$(now)"
    loc="$(upload_location "$1" "$2" bench/blob)"
    curl -sSf -o /dev/null -X PUT -H "$2" -H 'Content-Type: application/octet-stream' \
        -T "$INPUT/mono.bin" "$(with_query "$loc" "digest=$MONO_DIGEST")"
    t1="$(now)"; mbps "$t0" "$t1"
}
chunked_upload() { # host auth
    # One curl per PATCH, as a client without connection reuse would do; the loop itself
    # starts no other process, so what it adds per chunk is curl's start-up (~7 ms here).
    local t0 t1 loc offset=0 i=0; settle; warm "$INPUT"/chunk.*; t0="$(now)"
    loc="$(upload_location "$1" "$2" bench/blob)"
    for chunk in "$INPUT"/chunk.*; do
        loc="$(curl -sSf -o /dev/null -w '%header{location}' -X PATCH -H "$2" \
            -H 'Content-Type: application/octet-stream' \
            -H "Content-Range: $offset-$((offset + CHUNK_SIZES[i] - 1))" -T "$chunk" "$loc")"
        to_absolute loc "$1"
        offset=$((offset + CHUNK_SIZES[i])); i=$((i + 1))
    done
    curl -sSf -o /dev/null -X PUT -H "$2" "$(with_query "$loc" "digest=$CHUNKED_DIGEST")"
    t1="$(now)"; mbps "$t0" "$t1"
}
chunked_upload_one_connection() { # host auth
    # No `warm`: the client reads the chunks into memory before its clock starts.
    settle
    python3 bench/chunked-upload.py "$1" "$2" bench/blob "$REVERSED_DIGEST" "${REVERSED_CHUNKS[@]}"
}
download() { # host auth
    # One untimed read first: the settling before the uploads may have emptied the cache.
    curl -sSf -o /dev/null -H "$2" "http://$1/v2/bench/blob/blobs/$MONO_DIGEST"
    local t0 t1; t0="$(now)"
    curl -sSf -o /dev/null -H "$2" "http://$1/v2/bench/blob/blobs/$MONO_DIGEST"
    t1="$(now)"; mbps "$t0" "$t1"
}
skopeo_wide() { # host creds-args... -> seconds for push + pull
    local host="$1"; shift
    local t0 t1; t0="$(now)"
    skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "$@" \
        "oci:$INPUT/wide:v1" "docker://$host/bench/wide:v1"
    rm -rf "$WORK/wide-back"
    skopeo --insecure-policy copy -q --preserve-digests --src-tls-verify=false ${1:+--src-creds "${2:-}"} \
        "docker://$host/bench/wide:v1" "oci:$WORK/wide-back:v1"
    t1="$(now)"; python3 -c "print(round($t1 - $t0, 2))"
}
skopeo_small() { # host creds-args... -> seconds for 50 pushes + 50 pulls
    local host="$1"; shift
    local t0 t1; t0="$(now)"
    for i in $(seq 0 49); do
        skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "$@" \
            "oci:$INPUT/small$i:v1" "docker://$host/bench/small$i:v1"
    done
    for i in $(seq 0 49); do
        rm -rf "$WORK/small-back"
        skopeo --insecure-policy copy -q --preserve-digests --src-tls-verify=false ${1:+--src-creds "${2:-}"} \
            "docker://$host/bench/small$i:v1" "oci:$WORK/small-back:v1"
    done
    t1="$(now)"; python3 -c "print(round($t1 - $t0, 2))"
}
requests_per_second() { # url auth method accept; answers other than 200 are reported on stderr
    local auth=(); [ -n "$2" ] && auth=(-H "$2")
    oha --no-tui -z "${LOAD_SECONDS}s" -c 16 -m "$3" -H "Accept: $4" "${auth[@]}" "$1" > "$WORK/oha.out"
    local statuses; statuses="$(grep -E '^\s*\[[0-9]{3}\] [0-9]+ responses' "$WORK/oha.out" || true)"
    if [ -z "$statuses" ] || grep -vq '\[200\]' <<<"$statuses"; then
        echo "answers other than 200 from $1: ${statuses:-none}" >&2
    fi
    awk '/Requests\/sec:/ {print $2}' "$WORK/oha.out"
}

run_once() {
    local run="$1" result="$OUT/run-$1.tsv"
    rm -rf "$WORK/berth-data" "$WORK/dist-data"
    start_berth; start_distribution
    local manifest_digest
    printf 'metric\tberth\tdistribution\tratio\n' > "$result"
    row() { # metric berth distribution higher|lower; a failed measurement is 0
        python3 -c "
b, d = float('$2' or 0), float('$3' or 0)
num, den = (d, b) if '$4' == 'lower' else (b, d)
print(f'$1\t{b}\t{d}\t{num / den if den else 0:.2f}')" >> "$result"
    }
    row "monolithic upload MB/s" "$(monolithic_upload "$BERTH_HOST" "$BERTH_AUTH")" "$(monolithic_upload "$DIST_HOST" "X-None: 1")" higher
    row "chunked upload MB/s" "$(chunked_upload "$BERTH_HOST" "$BERTH_AUTH")" "$(chunked_upload "$DIST_HOST" "X-None: 1")" higher
    row "download MB/s" "$(download "$BERTH_HOST" "$BERTH_AUTH")" "$(download "$DIST_HOST" "X-None: 1")" higher
    row "skopeo 200x64KiB push+pull s" "$(skopeo_wide "$BERTH_HOST" --dest-creds "$BERTH_CREDS")" "$(skopeo_wide "$DIST_HOST")" lower
    row "skopeo 50 small images push+pull s" "$(skopeo_small "$BERTH_HOST" --dest-creds "$BERTH_CREDS")" "$(skopeo_small "$DIST_HOST")" lower
    manifest_digest="sha256:$(python3 -c "import json;print(json.load(open('$INPUT/wide/index.json'))['manifests'][0]['digest'].split(':')[1])")"
    local layer; layer="$(python3 -c "import json,os;m=json.load(open(os.path.join('$INPUT/wide/blobs/sha256','$manifest_digest'.split(':')[1])));print(m['layers'][0]['digest'])")"
    row "HEAD blob req/s (16 conn)" \
        "$(requests_per_second "http://$BERTH_HOST/v2/bench/wide/blobs/$layer" "$BERTH_AUTH" HEAD '*/*')" \
        "$(requests_per_second "http://$DIST_HOST/v2/bench/wide/blobs/$layer" "" HEAD '*/*')" higher
    row "GET manifest req/s (16 conn)" \
        "$(requests_per_second "http://$BERTH_HOST/v2/bench/wide/manifests/v1" "$BERTH_AUTH" GET 'application/vnd.oci.image.manifest.v1+json')" \
        "$(requests_per_second "http://$DIST_HOST/v2/bench/wide/manifests/v1" "" GET 'application/vnd.oci.image.manifest.v1+json')" higher
    # Last, so that every other row measures as it did before this one existed.
    row "chunked upload, 1 connection MB/s" "$(chunked_upload_one_connection "$BERTH_HOST" "$BERTH_AUTH")" "$(chunked_upload_one_connection "$DIST_HOST" "X-None: 1")" higher
    stop_servers
    echo "== run $run"; column -t -s $'\t' "$result"
}

for run in $(seq 1 "$RUNS"); do run_once "$run"; done
python3 - "$OUT" "$RUNS" <<'PY'
import csv, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
tables = [list(csv.reader(open(f"{out}/run-{r}.tsv"), delimiter="\t"))[1:] for r in range(1, runs + 1)]
print(f"== median of {runs} run(s) (ratio > 1: Berth better)")
for i, row in enumerate(tables[0]):
    col = lambda c: statistics.median(float(t[i][c]) for t in tables)
    print(f"{row[0]:<38} berth {col(1):>10.1f}  distribution {col(2):>10.1f}  ratio {col(3):.2f}")
PY
