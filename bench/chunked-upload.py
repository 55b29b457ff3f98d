"""A chunked blob upload over one kept-alive connection; prints MB/s.

usage: chunked-upload.py HOST "Name: value" REPOSITORY DIGEST CHUNK...

POST, one PATCH per CHUNK file (in the order given), then PUT ?digest=, each request
following the Location of the answer before it, as the distribution spec asks. The chunks
are read into memory first and the clock runs from the POST to the PUT's answer, so what
is measured is the server: unlike one curl per PATCH, this client starts no process and
opens no connection per chunk.
"""

import http.client
import sys
import time
import urllib.parse


def main() -> None:
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    host, header, repository, digest = sys.argv[1:5]
    files = sys.argv[5:]
    name, _, value = header.partition(":")
    base_headers = {name.strip(): value.strip()}
    chunks = []
    for path in files:
        with open(path, "rb") as f:
            chunks.append(f.read())

    conn = http.client.HTTPConnection(host)

    def call(method: str, target: str, body: bytes = b"", headers: dict | None = None) -> str:
        conn.request(method, target, body=body, headers={**base_headers, **(headers or {})})
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            sys.exit(f"{method} {target}: HTTP {response.status}")
        location = response.getheader("Location") or sys.exit(f"{method} {target}: no Location")
        # The path and query of a relative or absolute Location, for this connection.
        url = urllib.parse.urlsplit(location)
        return url.path + (f"?{url.query}" if url.query else "")

    start = time.perf_counter()
    location = call("POST", f"/v2/{repository}/blobs/uploads/")
    offset = 0
    for chunk in chunks:
        location = call("PATCH", location, chunk, {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        })
        offset += len(chunk)
    separator = "&" if "?" in location else "?"
    call("PUT", f"{location}{separator}digest={digest}")
    elapsed = time.perf_counter() - start
    print(round(offset / elapsed / 1e6, 1))


if __name__ == "__main__":
    main()
