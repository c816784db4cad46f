#!/usr/bin/env bash
# The main job: installs what is missing, builds (release), and runs the
# embedded demo: patients' heart-rate functions roam gw-1 -> gw-2 -> gw-3 and
# the engine function is offloaded to edge and cloud and brought back.
# Extra arguments go to c4i-demo (--forever, --short, --speed S, --dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release c4i-demo c4i-orchestrator c4i-discovery c4i-reader c4i-sim c4i-fn-omh c4i-fn-engine c4ictl
exec build/release/demo/c4i-demo --bin-dir build/release --source-dir "$PWD" "$@"
