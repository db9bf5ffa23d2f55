#!/usr/bin/env bash
# The method's claim on a model the project trained itself (the small demo setting): on the
# demo's LXMERT, pruning the heads 'ours' ranks most important first (positive) lowers accuracy
# faster than a random order, and pruning the least important first (negative) slower:
# AUC(positive) < AUC(random) < AUC(negative), for 'ours' and at least one more method.
# Every scoring method of the registry ran on every demo model (its curves are in the merged
# file) and the report ranks them all by faithfulness (AUC negative - positive).
#   test_demo_claim.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"
SRC="${2:-$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/support/scoring_methods.sh
source "$SRC/tests/support/scoring_methods.sh"
METHODS="$(scoring_methods "$BIN" "$SRC")"
WORK="$(mktemp -d /tmp/headprune-demo-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none
"$BIN" demo --small --out "$WORK/demo" >"$WORK/demo.log" 2>&1 || { tail -30 "$WORK/demo.log"; exit 1; }
grep -q "^report: $WORK/demo/report/report.md" "$WORK/demo.log" || { echo "FAIL: no report line"; tail "$WORK/demo.log"; exit 1; }
test -s "$WORK/demo/report/report.md"
ls "$WORK"/demo/visualizations/lxmert/*/strip.png >/dev/null
/usr/bin/python3 - "$WORK/demo/results/demo.h5" "$METHODS" "$WORK/demo/report/faithfulness.csv" <<'PY'
import csv
import sys
import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
methods = sys.argv[2].split(",")
missing = []
for name, exp in f["experiments"].items():
    for m in methods:
        for protocol in ("per_sample", "global"):
            for gran in ("head", "layer"):
                for sign in ("positive", "negative"):
                    if f"curves/{protocol}/{m}/{gran}/{sign}/accuracy_x100" not in exp:
                        missing.append(f"{name}: {protocol}/{m}/{gran}/{sign}")
ranked = {}
for r in csv.DictReader(open(sys.argv[3], encoding="utf-8")):
    ranked.setdefault((r["group"], r["protocol"], r["granularity"]), []).append(r["method"])
for name in f["experiments"]:
    for protocol in ("per_sample", "global"):
        for gran in ("head", "layer"):
            if sorted(ranked.get((name, protocol, gran), [])) != sorted(methods):
                missing.append(f"faithfulness ranking of {name} {protocol} {gran}: {ranked.get((name, protocol, gran))}")
if len(f["experiments"]) < 2 or missing:
    print("FAIL: experiments", list(f["experiments"]), "; missing:", *missing[:20], sep="\n  ")
    sys.exit(1)
print(f"{len(methods)} methods x {len(f['experiments'])} models: every curve and faithfulness ranking present")
e = f["experiments/demo_lxmert"]

def auc(method, sign, protocol="per_sample", gran="head"):
    c = e[f"curves/{protocol}/{method}/{gran}/{sign}"]
    r, a = c["ratios"][()], c["accuracy_x100"][()]
    return float(np.trapz(a, r) / (r[-1] - r[0]))

rand = (auc("random", "positive") + auc("random", "negative")) / 2
ok = []
for m in [m for m in methods if m != "random"]:
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
