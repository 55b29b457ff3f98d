#!/usr/bin/env python3
"""How Berth's reads cost as its data grows: run by bench/scale.sh against a server whose
data directory `crates/berth/examples/scale_data.rs` filled (scale/big with many images
and tags, and many small repositories).

Prints, per read, the client-side latency of each request (boto3 or plain HTTP on
loopback, so about a millisecond of client time is included) as p50 / p99 / max over
the requests made, and for paginated walks the first and last page, so that a page
whose cost grows with its position shows. With --explain DB, also SQLite's plan for the
image-page statement (it must search the index, not scan the table).

Usage: scale.py ENDPOINT ACCESS_KEY SECRET_KEY [--explain berth.db]
"""

import json
import os
import sqlite3
import statistics
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

endpoint, key, secret = sys.argv[1:4]
explain_db = sys.argv[sys.argv.index("--explain") + 1] if "--explain" in sys.argv else None
BIG = "scale/big"
N = int(os.environ.get("BIG_IMAGES", "100000"))
T = int(os.environ.get("TAGS_PER_IMAGE", "10"))

session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                region_name="us-east-1")
ecr = session.client("ecr", endpoint_url=endpoint,
                     config=Config(retries={"max_attempts": 0}, read_timeout=300))
host = endpoint.split("://", 1)[1]
token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
basic = {"Authorization": "Basic " + token}


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def report(name, samples, first=None, last=None, extra=""):
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    line = (f"{name:<46} n={len(samples):<6} p50 {statistics.median(samples):7.2f} ms"
            f"  p99 {p99:7.2f} ms  max {samples[-1]:7.2f} ms")
    if first is not None:
        line += f"  first {first:6.2f}  last {last:6.2f}"
    print(line + extra, flush=True)


def walk(name, call, items_key, token_in, token_out):
    times, count, token = [], 0, None
    while True:
        kwargs = {token_in: token} if token else {}
        page, ms = timed(lambda: call(**kwargs))
        times.append(ms)
        count += len(page[items_key])
        token = page.get(token_out)
        if not token:
            break
    report(name, times, times[0], times[-1], f"  ({count} items, {len(times)} pages)")
    return count


def http(method, path, headers=None):
    request = urllib.request.Request(f"{endpoint}{path}", method=method,
                                     headers={**basic, **(headers or {})})
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read(), response.headers


# --- Image listings over scale/big ---------------------------------------------------------
walk("DescribeImages walk, 100 per page",
     lambda **k: ecr.describe_images(repositoryName=BIG, maxResults=100, **k),
     "imageDetails", "nextToken", "nextToken")
walk("ListImages walk, 1000 ids per page",
     lambda **k: ecr.list_images(repositoryName=BIG, maxResults=1000, **k),
     "imageIds", "nextToken", "nextToken")
samples = [timed(lambda i=i: ecr.describe_images(
    repositoryName=BIG, imageIds=[{"imageTag": f"i{i * 997 % N}-t{3 % T}"}]))[1] for i in range(200)]
report("DescribeImages by tag", samples)
samples = [timed(lambda i=i: ecr.batch_get_image(
    repositoryName=BIG, imageIds=[{"imageTag": f"i{(i * 100 + j) % N}-t{1 % T}"} for j in range(100)]))[1]
    for i in range(20)]
report("BatchGetImage of 100 tags", samples)

# --- The registry ----------------------------------------------------------------------
accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
samples = [timed(lambda i=i: http("GET", f"/v2/{BIG}/manifests/i{i * 7919 % N}-t{5 % T}", accept))[1]
           for i in range(300)]
report("manifest GET by tag", samples)
samples = [timed(lambda i=i: http("HEAD", f"/v2/{BIG}/manifests/i{i * 7919 % N}-t{6 % T}", accept))[1]
           for i in range(300)]
report("manifest HEAD by tag", samples)


def registry_walk(name, path, key):
    times, count, link = [], 0, path
    while link:
        (body, headers), ms = timed(lambda link=link: http("GET", link))
        times.append(ms)
        count += len(json.loads(body)[key] or [])
        link = None
        if headers.get("Link"):
            link = headers["Link"].split(";")[0].strip("<>")
    report(name, times, times[0], times[-1], f"  ({count} items, {len(times)} pages)")


registry_walk("/v2/scale/big/tags/list walk, n=1000", f"/v2/{BIG}/tags/list?n=1000", "tags")
registry_walk("/v2/_catalog walk, n=1000", "/v2/_catalog?n=1000", "repositories")

# --- Repositories ------------------------------------------------------------------------
walk("DescribeRepositories walk, 1000 per page",
     lambda **k: ecr.describe_repositories(maxResults=1000, **k),
     "repositories", "nextToken", "nextToken")

# --- A lifecycle policy over scale/big (evaluated over every image, as it must be) -----
policy = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                      "countNumber": 1000}, "action": {"type": "expire"}}]}
ecr.start_lifecycle_policy_preview(repositoryName=BIG, lifecyclePolicyText=json.dumps(policy))
samples = []
for _ in range(3):
    preview, ms = timed(lambda: ecr.get_lifecycle_policy_preview(repositoryName=BIG, maxResults=100))
    samples.append(ms)
report("lifecycle preview over scale/big (first page)", samples,
       extra=f"  ({preview['summary']['expiringImageTotalCount']} images would expire)")

if explain_db:
    db = sqlite3.connect(f"file:{explain_db}?mode=ro", uri=True)
    page = ("SELECT m.* FROM manifests m WHERE m.repository = ? AND (m.pushed_at, m.digest) < (?, ?) "
            "ORDER BY m.pushed_at DESC, m.digest DESC LIMIT 101")
    print("\nSQLite plan of an image page from a cursor:")
    for row in db.execute("EXPLAIN QUERY PLAN " + page, (BIG, 1_700_000_000 + N // 2, "sha256:0")):
        print("   ", row[-1])
    entry = ("WITH page AS (SELECT m.* FROM manifests m WHERE m.repository = ? AND m.digest = ? LIMIT 1) "
             "SELECT page.digest, t.tag, p.last_pulled_at FROM page "
             "LEFT JOIN tags t ON t.repository = page.repository AND t.digest = page.digest "
             "LEFT JOIN image_pulls p ON p.repository = page.repository AND p.digest = page.digest "
             "ORDER BY page.pushed_at DESC, page.digest DESC, t.tag")
    print("SQLite plan of one image with its tags (DescribeImages by id, BatchDeleteImage):")
    for row in db.execute("EXPLAIN QUERY PLAN " + entry, (BIG, "sha256:0")):
        print("   ", row[-1])
    print("SQLite plan of a tag page (tags/list):")
    for row in db.execute("EXPLAIN QUERY PLAN SELECT tag FROM tags WHERE repository = ? AND tag > ? "
                          "ORDER BY tag LIMIT 1000", (BIG, "i5")):
        print("   ", row[-1])
