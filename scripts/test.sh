#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test:
# the fuzz targets for a bounded time (clang + libFuzzer), then the unit and
# integration tests under AddressSanitizer and UBSan. Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh
if [ -x tests/k8s/build.sh ]; then tests/k8s/build.sh; fi

echo "== fuzz targets (${C4I_FUZZ_SECONDS:-20} s each)" >&2
scripts/build.sh fuzz
cmake -S . -B build/fuzz -DC4I_FUZZ_SECONDS="${C4I_FUZZ_SECONDS:-20}" >/dev/null
ctest --test-dir build/fuzz --output-on-failure -j "$(nproc)"

echo "== unit and integration tests (ASan + UBSan)" >&2
scripts/build.sh asan
echo "test.sh: built in $(( $(date +%s) - start )) s" >&2
ctest --test-dir build/asan --output-on-failure -j "$(nproc)" ${C4I_CTEST_ARGS:-}
