#!/usr/bin/env bash
# Writes a tiny OCI image (one layer holding one text file) as an OCI image layout in DIR,
# tagged v1, with nothing but tar, gzip and sha256sum: what the quick start pushes.
#
#   examples/make-image.sh DIR      then: skopeo copy oci:DIR:v1 docker://HOST/REPO:v1
set -euo pipefail
image="${1:?usage: examples/make-image.sh DIR (an OCI image layout is written there)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$image/blobs/sha256" "$work/rootfs"
echo "hello from the quick start" >"$work/rootfs/hello.txt"
tar -C "$work/rootfs" -cf - hello.txt | gzip -n >"$work/layer.tar.gz"

put_blob() { # FILE: stores it in the layout, prints sha256:<hex>
    local hex
    hex="$(sha256sum "$1" | cut -d' ' -f1)"
    cp "$1" "$image/blobs/sha256/$hex"
    echo "sha256:$hex"
}
size() { stat -c %s "$1"; }

layer="$(put_blob "$work/layer.tar.gz")"
diff_id="sha256:$(gzip -dc "$work/layer.tar.gz" | sha256sum | cut -d' ' -f1)"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{}}' \
    "$diff_id" >"$work/config.json"
config="$(put_blob "$work/config.json")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$config" "$(size "$work/config.json")" "$layer" "$(size "$work/layer.tar.gz")" >"$work/manifest.json"
manifest="$(put_blob "$work/manifest.json")"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$manifest" "$(size "$work/manifest.json")" >"$image/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$image/oci-layout"
echo "wrote an OCI image layout to $image (oci:$image:v1)"
