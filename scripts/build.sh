#!/usr/bin/env bash
# Configures and builds one tree: release (default), asan, or fuzz.
# Usage: scripts/build.sh [release|asan|fuzz] [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift || true
case "$kind" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DC4I_SANITIZE=ON -DC4I_BENCH=OFF) ;;
  fuzz)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DC4I_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14) ;;
  *) echo "build.sh: unknown build kind '$kind' (release, asan or fuzz)" >&2; exit 2 ;;
esac
if [ ! -f "build/$kind/build.ninja" ]; then
  cmake -S . -B "build/$kind" -G Ninja "${args[@]}" >/dev/null
fi
# Two cores and Beast-heavy translation units: cap the jobs so memory stays sane.
ninja -C "build/$kind" -j "${C4I_JOBS:-$(nproc)}" "$@"
