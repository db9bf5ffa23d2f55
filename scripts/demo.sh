#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main job on the
# embedded default — `headprune demo`: a synthetic VQA world, a small LXMERT and a small VisualBERT
# trained on it (reused when already trained for the same seed and settings), the full analysis as
# an MPI job (every scoring method, per-sample and global protocols, head and layer, positive and
# negative), the report and relevance visualizations. Then the conformance replay of the bundled
# reference fixtures (the port against the seed's own numbers).
#   scripts/demo.sh [OUT_DIR] [extra headprune demo options, e.g. --retrain --small]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
BUILD="${HEADPRUNE_BUILD_DIR:-$ROOT/build}"
OUT="${1:-$ROOT/out}"
shift || true
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$BUILD/headprune" demo --out "$OUT/demo" "$@"
mkdir -p "$OUT/conformance"
for model in lxmert visualbert; do
  "$BUILD/headprune" conformance --reference "$ROOT/tests/data/$model" --out "$OUT/conformance/$model.h5" --overwrite \
    | tail -n 1 | sed "s/^/conformance $model (float64): /"
done
echo "demo report: $OUT/demo/report/report.md"
