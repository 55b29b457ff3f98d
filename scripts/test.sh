#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need
# (skopeo, podman, buildah, PostgreSQL, Prometheus and docker-registry from Debian; awscli, boto3, oras, ansible and moto's S3
# server in .venv; @actions/core and @aws-sdk/client-sts with npm; cargo-nextest if
# missing), then runs formatting and lint checks, every test (with a throwaway PostgreSQL
# and S3 server, scripts/with-test-services.sh), and a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

install_system_packages() {
    local missing=()
    command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v buildah >/dev/null 2>&1 || missing+=(buildah)
    command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
    command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    # distribution, the pull-through cache test's upstream registry.
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]} (Debian)"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

install_python_clients() {
    if [ ! -x .venv/bin/aws ] || [ ! -x .venv/bin/moto_server ] \
        || [ ! -x .venv/bin/ansible-playbook ] \
        || ! .venv/bin/python -c 'import boto3, oras' 2>/dev/null; then
        log "installing awscli, boto3, oras, ansible and moto's S3 server into .venv (PyPI)"
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
    fi
}

install_js_clients() {
    # @actions/core and @aws-sdk/client-sts, pinned by package-lock.json (npm registry).
    local dir=crates/berth/tests/js
    if [ ! -d "$dir/node_modules/@actions/core" ] || [ ! -d "$dir/node_modules/@aws-sdk/client-sts" ]; then
        log "installing the JavaScript clients into $dir/node_modules (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

install_nextest() {
    if ! cargo nextest --version >/dev/null 2>&1; then
        log "installing cargo-nextest (crates.io)"
        cargo install --locked cargo-nextest
    fi
}

install_system_packages
install_python_clients
install_js_clients
install_nextest

export BERTH_TEST_AWS="$PWD/.venv/bin/aws"
export BERTH_TEST_PYTHON="$PWD/.venv/bin/python"
export BERTH_TEST_ANSIBLE_PLAYBOOK="$PWD/.venv/bin/ansible-playbook"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "tests"
scripts/with-test-services.sh cargo nextest run --workspace --locked --no-fail-fast
if [ -d fuzz ] && [ "${BERTH_SKIP_FUZZ:-}" != 1 ]; then
    log "fuzz smoke"
    scripts/fuzz-smoke.sh
fi
