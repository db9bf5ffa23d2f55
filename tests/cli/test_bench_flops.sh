#!/usr/bin/env bash
# `headprune bench` on the demo's small models (seconds, not minutes): the protocol lines for
# 'ours' and 'lrp' are printed, every matrix-product FLOP count it prints is positive, and no
# efficiency it prints exceeds 100 % (they are shares of each measurement's own time).
#   test_bench_flops.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"
WORK="$(mktemp -d /tmp/headprune-bench-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" bench --size small --samples 3 --batch 2 --costs false --threads 1 --repeats 2 > "$WORK/out.txt" 2>&1 \
  || { cat "$WORK/out.txt"; fail "bench"; }
cat "$WORK/out.txt"
FAMILIES=(lxmert visualbert vilt)  # the bench measures every family of models/families.hpp
N=${#FAMILIES[@]}
for family in "${FAMILIES[@]}"; do
  grep -q "^$family (small):" "$WORK/out.txt" || fail "no $family section"
done
# Per family: the 'ours' and 'lrp' protocols, each one at a time and batched.
[ "$(grep -c "one forward at a time (the seed's loop)" "$WORK/out.txt")" = $((2 * N)) ] || fail "expected $((2 * N)) one-at-a-time lines"
# Batch 2 x one combo: the 9 pruned ratios' rows (18) fill one masked forward (prune::kForwardRows).
[ "$(grep -c "batched (batch 2, 9 ratios a forward)" "$WORK/out.txt")" = $((2 * N)) ] || fail "expected $((2 * N)) batched lines"
grep -q "'lrp', head, 3 samples, median of 2 runs:" "$WORK/out.txt" || fail "no LRP protocol figure"
# Every percentage printed, and every counted FLOP figure.
pcts=$(grep -o '[0-9.]*% of the time' "$WORK/out.txt" | sed 's/%.*//')
[ "$(echo "$pcts" | wc -l)" -ge $((6 * N)) ] || fail "expected at least $((6 * N)) efficiency figures, got: $pcts"
for p in $pcts; do
  awk -v p="$p" 'BEGIN { exit !(p > 0 && p <= 100) }' || fail "efficiency $p % is not in (0, 100]"
done
for f in $(grep -o '[0-9.]* GFLOP/sample' "$WORK/out.txt" | sed 's/ .*//'); do
  awk -v f="$f" 'BEGIN { exit !(f > 0) }' || fail "FLOP count $f is not positive"
done
# The protocol runs the same products one at a time and batched: equal counts per sample.
grep "'ours', head" -A2 "$WORK/out.txt" | grep -o '[0-9.]* GFLOP/sample' | uniq | wc -l | grep -qx "$N" \
  || fail "one-at-a-time and batched 'ours' protocols should count the same FLOPs per family"
echo "bench FLOPs and efficiencies: ok"
