#!/usr/bin/env bash
# `headprune run` with the scorers attention, rollout, attattr and attnlrp (docs/methods.md) on the fixture
# models and a tiny dataset: the results file holds their scores and a curve for every protocol x
# granularity x sign, the scores match a second run made one method at a time, and
# analysis/report.py lists them in its tables.
#   test_scorer_methods_run.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-scorers-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions 12 --images 4
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" 2>/dev/null
for family in lxmert visualbert; do
  cat > "$WORK/$family.yaml" <<YAML
name: tiny_$family
model: {family: $family, path: $SRC/tests/data/$family}
data: {questions: $WORK/data/questions.json, features: $WORK/data/features.h5, answers: $WORK/data/answers, num_samples: 10}
scoring: {methods: [ours, attention, rollout, attattr, attnlrp], ig_steps: 8}
prune: {protocols: [per_sample, global], granularities: [head, layer], ratios: [0, 0.25, 0.5, 0.75]}
run: {batch_size: 4, threads_per_rank: 1, progress_seconds: 0}
output: {path: $WORK/$family.h5}
YAML
  echo "== $family: run with ours, attention, rollout, attattr, attnlrp"
  "$BIN" run "$WORK/$family.yaml" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "$family run"; }
  # The same job one method at a time: scores do not depend on which other methods run.
  "$BIN" run "$WORK/$family.yaml" scoring.methods=[attattr,attnlrp] output.path="$WORK/$family-attattr.h5" 2>"$WORK/stderr" \
    || { cat "$WORK/stderr"; fail "$family attattr and attnlrp alone"; }
  "$PY" - "$WORK/$family.h5" "$WORK/$family-attattr.h5" "tiny_$family" <<'PYEOF' || fail "$family results"
import sys
import h5py
import numpy as np
f, alone, name = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), sys.argv[3]
e = f["experiments/" + name]
for method in ("attention", "rollout", "attattr", "attnlrp"):
    for protocol in ("per_sample", "global"):
        for gran in ("head", "layer"):
            for sign in ("positive", "negative"):
                c = e[f"curves/{protocol}/{method}/{gran}/{sign}"]
                acc = c["accuracy_x100"][()] if "accuracy_x100" in c else None
                assert acc is not None and acc.shape == (4,) and np.all(np.isfinite(acc)), (method, protocol, gran, sign)
    for gran in ("head", "layer"):
        s = e[f"scores/{method}/{gran}"][()]
        assert np.all(np.isfinite(s)) and s.std() > 0, (method, gran, "scores constant or non-finite")
for method in ("attattr", "attnlrp"):
    a = e[f"scores/{method}/head"][()]
    b = alone[f"experiments/{name}/scores/{method}/head"][()]
    assert np.array_equal(a, b), (method, np.abs(a - b).max())
print("ok", name)
PYEOF
done

echo "== analysis/report.py lists the new methods"
"$BIN" merge "$WORK/all.h5" "$WORK/lxmert.h5" "$WORK/visualbert.h5" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "merge"; }
MPLBACKEND=Agg "$PY" "$SRC/analysis/report.py" "$WORK/all.h5" --out "$WORK/report" >"$WORK/report.log" 2>&1 \
  || { cat "$WORK/report.log"; fail "report.py"; }
for method in attention rollout attattr attnlrp; do
  grep -q "| $method |" "$WORK/report/report.md" || fail "report.md has no row of $method"
done
echo "PASS"
