#!/usr/bin/env bash
# `headprune bench --latency` on a full-size random VisualBERT (small grid: batch 1 and 2, 0 and
# 50 % of heads removed, one timed forward each) and analysis/plot_latency.py on its CSV.
#   test_bench_latency.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
WORK="$(mktemp -d /tmp/headprune-latency-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" bench --latency --models visualbert --batch-sizes 1 2 --ratios 0 0.5 --reps 1 --threads 1 \
  --csv "$WORK/latency.csv" > "$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; fail "bench --latency"; }
cat "$WORK/out.txt"
[ "$(head -1 "$WORK/latency.csv")" = "model,ratio,heads_kept,heads_total,removed_modules,batch,dense_ms,pruned_ms" ] \
  || fail "CSV header"
[ "$(tail -n +2 "$WORK/latency.csv" | wc -l)" = 4 ] || fail "expected 4 rows (2 ratios x 2 batch sizes)"
# 12 layers x 12 heads: 0 % keeps 144, 50 % removes round(72) heads.
grep -q "^visualbert,0,144,144,0,1," "$WORK/latency.csv" || fail "ratio 0 row"
grep -q "^visualbert,0.5,72,144,[0-9]*,2," "$WORK/latency.csv" || fail "ratio 0.5 row"
/usr/bin/python3 "$SRC/analysis/plot_latency.py" "$WORK/latency.csv" --out "$WORK/plots" > "$WORK/table.md" \
  || fail "plot_latency.py"
[ -s "$WORK/plots/latency_visualbert.png" ] && [ -s "$WORK/plots/latency_visualbert.pdf" ] || fail "no plot"
grep -q "| visualbert | 50 % | 72/144 | 2 |" "$WORK/table.md" || { cat "$WORK/table.md"; fail "markdown table"; }
# Bad options are one error line, exit 2.
set +e; "$BIN" bench --latency --ratios 1.5 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ "$(wc -l < "$WORK/err")" = 1 ] && grep -q "^headprune: error: " "$WORK/err" || fail "bad --ratios: exit $code $(cat "$WORK/err")"
echo "bench --latency: ok"
