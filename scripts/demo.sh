#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main job on the
# embedded default. Until the synthetic demo lands this is the conformance replay of the
# bundled reference fixtures (tests/data/): LXMERT and VisualBERT against the seed's numbers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
BUILD="${HEADPRUNE_BUILD_DIR:-$ROOT/build}"
OUT="${1:-$ROOT/out/conformance}"
mkdir -p "$OUT"
status=0
for model in lxmert visualbert; do
  for dtype in float64 float32; do
    "$BUILD/headprune" conformance --reference "$ROOT/tests/data/$model" --dtype "$dtype" \
      --out "$OUT/$model-$dtype.h5" --overwrite || status=$?
  done
done
"$BUILD/headprune" conformance --reference "$ROOT/tests/data/tokenizer" --out "$OUT/tokenizer.h5" --overwrite || status=$?
echo "conformance results: $OUT"
exit $status
