#!/usr/bin/env bash
# Configures (once) and builds headprune into build/ (or $HEADPRUNE_BUILD_DIR). Incremental.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${HEADPRUNE_BUILD_DIR:-$ROOT/build}"
JOBS="${HEADPRUNE_JOBS:-$(nproc)}"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
cmake --build "$BUILD" -j "$JOBS"
