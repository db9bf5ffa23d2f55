#!/usr/bin/env bash
# The method's claim on a model the project trained itself (the small demo setting): on the
# demo's LXMERT, pruning the heads 'ours' ranks most important first (positive) lowers accuracy
# faster than a random order, and pruning the least important first (negative) slower:
# AUC(positive) < AUC(random) < AUC(negative), for 'ours' and at least one more method.
#   test_demo_claim.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"
WORK="$(mktemp -d /tmp/headprune-demo-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none
"$BIN" demo --small --out "$WORK/demo" >"$WORK/demo.log" 2>&1 || { tail -30 "$WORK/demo.log"; exit 1; }
grep -q "^report: $WORK/demo/report/report.md" "$WORK/demo.log" || { echo "FAIL: no report line"; tail "$WORK/demo.log"; exit 1; }
test -s "$WORK/demo/report/report.md"
ls "$WORK"/demo/visualizations/lxmert/*/strip.png >/dev/null
/usr/bin/python3 - "$WORK/demo/results/demo.h5" <<'PY'
import sys
import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
e = f["experiments/demo_lxmert"]

def auc(method, sign, protocol="per_sample", gran="head"):
    c = e[f"curves/{protocol}/{method}/{gran}/{sign}"]
    r, a = c["ratios"][()], c["accuracy_x100"][()]
    return float(np.trapz(a, r) / (r[-1] - r[0]))

rand = (auc("random", "positive") + auc("random", "negative")) / 2
ok = []
for m in ["ours", "lrp", "michel", "confidence"]:
    p, n = auc(m, "positive"), auc(m, "negative")
    holds = p < rand < n
    print(f"{m:10s} AUC positive {p:6.2f}  random {rand:6.2f}  negative {n:6.2f}  {'holds' if holds else 'does not hold'}")
    if holds:
        ok.append(m)
if "ours" not in ok or len(ok) < 2:
    print("FAIL: the claim must hold for 'ours' and one more method; it holds for", ok)
    sys.exit(1)
print("claim holds for", ok)
PY
