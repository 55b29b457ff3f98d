"""The Python `oras` client against Berth: push an artifact, push a second one whose
`subject` is the first, find the second through the referrers API (with and without the
`artifactType` filter), and pull both back byte for byte. Prints both digests, for the
test to ask ECR's ListImageReferrers too.

Environment: BERTH_REGISTRY (host:port, plain HTTP), BERTH_REPOSITORY, BERTH_PASSWORD
(the GetAuthorizationToken password; the user is AWS). Runs in an empty working
directory (oras only pushes files below it)."""

import hashlib
import json
import os
import sys

import oras.oci
import oras.provider

REGISTRY = os.environ["BERTH_REGISTRY"]
REPOSITORY = os.environ["BERTH_REPOSITORY"]
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}")
        sys.exit(1)


client = oras.provider.Registry(hostname=REGISTRY, insecure=True, auth_backend="basic")
client.auth.set_basic_auth("AWS", os.environ["BERTH_PASSWORD"])

# The subject: an ordinary artifact with one file.
with open("app.txt", "wb") as f:
    f.write(b"the application\n")
response = client.push(target=f"{REGISTRY}/{REPOSITORY}:v1", files=["app.txt"], quiet=True)
check(response.status_code == 201, f"subject push: {response.status_code} {response.text}")

# The subject's exact bytes and digest, as the registry serves them.
base = f"http://{REGISTRY}/v2/{REPOSITORY}"
response = client.do_request(f"{base}/manifests/v1", "GET", headers={"Accept": OCI_MANIFEST})
check(response.status_code == 200, f"subject get: {response.status_code}")
subject_bytes = response.content
subject_digest = "sha256:" + hashlib.sha256(subject_bytes).hexdigest()
check(
    response.headers.get("Docker-Content-Digest") == subject_digest,
    "Docker-Content-Digest of the subject",
)
subject = oras.oci.Subject(mediaType=OCI_MANIFEST, digest=subject_digest, size=len(subject_bytes))

# The referrer: an SBOM whose config media type is its artifact type.
with open("sbom.json", "w") as f:
    json.dump({"packages": ["app"]}, f)
with open("sbom-config.json", "w") as f:
    json.dump({}, f)
response = client.push(
    target=f"{REGISTRY}/{REPOSITORY}:sbom",
    files=["sbom.json:application/spdx+json"],
    manifest_config=f"sbom-config.json:{SBOM_TYPE}",
    subject=subject,
    quiet=True,
)
check(response.status_code == 201, f"referrer push: {response.status_code} {response.text}")
check(
    response.headers.get("OCI-Subject") == subject_digest,
    f"OCI-Subject header on the referrer push: {response.headers.get('OCI-Subject')}",
)
referrer_digest = response.headers["Docker-Content-Digest"]

# Found through the referrers API, filtered and not.
for query, expect in [
    ("", [referrer_digest]),
    (f"?artifactType={SBOM_TYPE}", [referrer_digest]),
    ("?artifactType=application/vnd.example.other", []),
]:
    response = client.do_request(f"{base}/referrers/{subject_digest}{query}", "GET")
    check(response.status_code == 200, f"referrers{query}: {response.status_code}")
    index = response.json()
    check(index.get("mediaType") == "application/vnd.oci.image.index.v1+json", "index media type")
    found = [m["digest"] for m in index.get("manifests", [])]
    check(found == expect, f"referrers{query}: {found}, expected {expect}")
    for m in index.get("manifests", []):
        check(m.get("artifactType") == SBOM_TYPE, f"artifactType of a referrer: {m}")

# Pulled back.
os.makedirs("out", exist_ok=True)
files = client.pull(target=f"{REGISTRY}/{REPOSITORY}:sbom", outdir="out")
check([os.path.basename(p) for p in files] == ["sbom.json"], f"pulled {files}")
with open(files[0]) as f:
    check(json.load(f) == {"packages": ["app"]}, "pulled SBOM content")
files = client.pull(target=f"{REGISTRY}/{REPOSITORY}:v1", outdir="out")
with open(files[0], "rb") as f:
    check(f.read() == b"the application\n", "pulled subject content")

print(f"subject {subject_digest}")
print(f"referrer {referrer_digest}")
print("referrers ok")
