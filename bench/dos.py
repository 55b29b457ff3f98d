"""Hostile bodies against a running Berth while /healthz is timed and the RSS watched.

argv: ENDPOINT SERVER_PID SECONDS. Environment: ROOT_KEY, ROOT_SECRET (to sign the
authenticated kinds), CONNECTIONS (default 16).

Each kind runs for SECONDS with CONNECTIONS senders, each sending the same prebuilt request
over and over on a fresh connection (SigV4 has no replay check, so one signature serves the
whole run); meanwhile one prober GETs /healthz every 10 ms on its own connections. Prints,
per kind: requests answered and their statuses, /healthz p50/p99/max in ms, the server's
peak RSS in MB while the kind ran. Exits non-zero only when the server stops answering.
"""
import collections
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, server_pid, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
connections = int(os.environ.get("CONNECTIONS", "16"))
host, port = urllib.parse.urlsplit(endpoint).hostname, urllib.parse.urlsplit(endpoint).port
credentials = Credentials(os.environ["ROOT_KEY"], os.environ["ROOT_SECRET"])
MiB = 1024 * 1024


def raw_request(headers, body):
    head = "POST / HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nContent-Length: {}\r\n".format(
        host, port, len(body))
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("host", "content-length"))
    return head.encode() + b"\r\n" + body


def unsigned_form(size):
    """An unauthenticated Query body of `size` bytes, two-byte parameters (`a&a&...`)."""
    body = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&" + b"a&" * (size // 2)
    return raw_request({"Content-Type": "application/x-www-form-urlencoded"}, body[:size])


def signed_ecr(operation, size):
    """A root-signed ECR call whose body is `size` bytes: a member the operation does not
    have, holding an array of zeros (what builds the most values per byte)."""
    junk = b"0," * (size // 2)
    body = b'{"repositoryName":"x","junk":[' + junk[: max(0, size - 40)] + b"0]}"
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AmazonEC2ContainerRegistry_V20150921.{operation}",
    })
    SigV4Auth(credentials, "ecr", "us-east-1").add_auth(request)
    return raw_request(dict(request.headers), body)


def rss_mb():
    with open(f"/proc/{server_pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def send(payload, stop, statuses):
    while not stop.is_set():
        # A refused body is answered (413) while it is still being sent: the send then
        # fails, and the answer is read all the same.
        try:
            with socket.create_connection((host, port), timeout=30) as s:
                try:
                    s.sendall(payload)
                except OSError:
                    pass
                answer = s.recv(64)
            code = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"
        except OSError as e:
            code = type(e).__name__
        statuses[code] += 1


def probe(stop, latencies, failures):
    while not stop.is_set():
        started = time.perf_counter()
        try:
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
            c.close()
        except OSError:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            failures.append(1)
        time.sleep(0.01)


def run(name, payload):
    stop = threading.Event()
    statuses = collections.Counter()
    latencies, failures = [], []
    threads = [threading.Thread(target=send, args=(payload, stop, statuses)) for _ in range(connections)]
    threads.append(threading.Thread(target=probe, args=(stop, latencies, failures)))
    for t in threads:
        t.start()
    peak, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, rss_mb())
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    row = {
        "kind": name, "body_bytes": len(payload), "answers": dict(statuses),
        "healthz_p50_ms": round(pick(0.50), 1), "healthz_p99_ms": round(pick(0.99), 1),
        "healthz_max_ms": round(latencies[-1], 1) if latencies else None,
        "healthz_failures": len(failures), "peak_rss_mb": round(peak, 1),
    }
    print(json.dumps(row), flush=True)
    return row


kinds = [
    ("unauthenticated form, 28 MiB", unsigned_form(28 * MiB)),
    ("unauthenticated form, 2 MiB (the Query limit)", unsigned_form(2 * MiB - 64)),
    ("signed DescribeRepositories, 28 MiB", signed_ecr("DescribeRepositories", 28 * MiB)),
    ("signed DescribeRepositories, 256 KiB (its limit)", signed_ecr("DescribeRepositories", 256 * 1024 - 64)),
    ("signed PutImage, 10 MiB (its limit)", signed_ecr("PutImage", 10 * MiB - 64)),
]
print(json.dumps({"idle_rss_mb": round(rss_mb(), 1), "connections": connections, "seconds": seconds}))
rows = [run(name, payload) for name, payload in kinds]
sys.exit(0 if all(r["healthz_failures"] == 0 for r in rows) else 1)
