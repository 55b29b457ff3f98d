# Shared by the bench scripts (source it): a scratch directory and background servers,
# both cleaned up however the script ends, free loopback ports, and waiting for readiness.

WORK="$(mktemp -d)"
PIDS=()  # background servers; add each with PIDS+=($!)
CLEANUP=()  # scratch paths outside $WORK, removed at exit too

stop_servers() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}
trap 'stop_servers; rm -rf "$WORK" "${CLEANUP[@]}"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for URL: until anything answers there (20 s at most, then the script fails).
wait_for() {
    for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "$1 never answered" >&2
    exit 1
}
