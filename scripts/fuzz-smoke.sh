#!/usr/bin/env bash
# A short run of every fuzz target in fuzz/ (cargo-fuzz + libFuzzer), for CI and local use.
#
# Installs cargo-fuzz if missing (crates.io), builds all targets once with AddressSanitizer
# (falling back to no sanitizer if ASan cannot build or run here), then runs each target for
# BERTH_FUZZ_SECONDS (default 15) seconds on a scratch corpus under fuzz/corpus/<target>,
# seeded from fuzz/seeds/<target> (the seeds themselves are never written to). Prints one
# line per target; exits non-zero if any target crashes, leaks, times out or fails to run.
# A crashing input is kept in fuzz/artifacts/<target>/.
#
# Only the stable toolchain exists here, so cargo-fuzz's nightly flags (-Zsanitizer, ...)
# are allowed with RUSTC_BOOTSTRAP=1.
#
# Environment: BERTH_FUZZ_SECONDS (per target), BERTH_FUZZ_SANITIZER (address | none; by
# default address, with the fallback above), BERTH_FUZZ_TARGETS (space-separated subset).
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
seconds="${BERTH_FUZZ_SECONDS:-15}"

log() { printf '==> %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (crates.io)"
    cargo install --locked cargo-fuzz
fi

cd fuzz

# Release build with debug assertions (integer overflow checks included): the same flags
# for build and run, so `cargo fuzz run` does not rebuild.
build_flags=(--release --debug-assertions)

build() {
    local sanitizer="$1"
    log "building fuzz targets (sanitizer: $sanitizer)"
    cargo fuzz build "${build_flags[@]}" --sanitizer "$sanitizer"
}

mapfile -t all_targets < <(cargo fuzz list)
if [ -n "${BERTH_FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$BERTH_FUZZ_TARGETS"
else
    targets=("${all_targets[@]}")
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 1
fi

build_start=$SECONDS
sanitizer="${BERTH_FUZZ_SANITIZER:-}"
if [ -n "$sanitizer" ]; then
    build "$sanitizer"
elif build address && cargo fuzz run "${build_flags[@]}" --sanitizer address \
    "${targets[0]}" -- -runs=0 >/dev/null 2>&1; then
    sanitizer=address
else
    log "AddressSanitizer does not build or run here; falling back to --sanitizer none"
    sanitizer=none
    build none
fi
log "build took $((SECONDS - build_start))s"

log "running ${#targets[@]} targets for ${seconds}s each"
# Full libFuzzer output per target, kept out of corpus/ and artifacts/ (cargo-fuzz lists
# every file in artifacts/<target>/ as a failing input).
logs="target/fuzz-smoke"
failed=()
results=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus" "$logs"
    if [ -d "seeds/$target" ]; then
        cp -f "seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    logfile="$logs/$target.log"
    status=0
    cargo fuzz run "${build_flags[@]}" --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        >"$logfile" 2>&1 </dev/null || status=$?

    stat() { sed -n "s/^stat::$1: *//p" "$logfile" | tail -n 1; }
    execs="$(stat number_of_executed_units)"
    rate="$(stat average_exec_per_sec)"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -eq 0 ]; then
        result="ok"
    else
        result="FAILED (exit $status)"
        failed+=("$target")
    fi
    line="$(printf '%-18s %-16s %10s execs %8s exec/s  corpus %s' \
        "$target" "$result" "${execs:-?}" "${rate:-?}" "$units")"
    results+=("$line")
    echo "fuzz $line"
    if [ "$status" -ne 0 ]; then
        echo "---- $target (full output: $PWD/$logfile) ----"
        grep -E -A 3 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$logfile" | head -n 40 || true
        grep -E 'SUMMARY|Test unit written|^Base64:' "$logfile" | head -n 10 || true
        echo "---- reproduce (in fuzz/): RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_flags[*]} --sanitizer $sanitizer $target artifacts/$target/<crash-file>"
    fi
done

echo
echo "fuzz smoke summary (${seconds}s per target, sanitizer: $sanitizer):"
printf '  %s\n' "${results[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz smoke: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz smoke: all ${#targets[@]} targets ran clean"
