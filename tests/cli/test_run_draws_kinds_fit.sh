#!/usr/bin/env bash
# `headprune run` with the statistics options (docs/config.md): scoring.random_repeats (draws of the
# random baseline stacked as [K, N, S]), prune.modalities (curves that prune one module kind only)
# and prune.global_fit: half (global rankings fitted on one half, measured on the other), on the
# LXMERT fixture model and a tiny dataset. Checked against second computations from the file's own
# per-sample data, against a run without the options, across 1 and 2 ranks and both shardings,
# and the report's sections; plus the options' error messages.
#   test_run_draws_kinds_fit.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-draws-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions 12 --images 4
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" 2>/dev/null
cat > "$WORK/run.yaml" <<YAML
name: tiny
model: {family: lxmert, path: $SRC/tests/data/lxmert}
data: {questions: $WORK/data/questions.json, features: $WORK/data/features.h5, answers: $WORK/data/answers, num_samples: 11}
scoring: {methods: [ours, random], random_repeats: 3, random_seed: 7}
prune: {protocols: [per_sample, global], granularities: [head, layer], ratios: [0, 0.25, 0.5, 0.75],
        modalities: [all, cross, text], global_fit: half}
run: {batch_size: 4, threads_per_rank: 1, progress_seconds: 0}
output: {path: $WORK/one.h5}
YAML

echo "== one rank; two ranks; two ranks with run.shard: samples_x_ratios"
"$BIN" run "$WORK/run.yaml" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run on 1 rank"; }
mpirun -n 2 "$BIN" run "$WORK/run.yaml" output.path="$WORK/two.h5" 2>"$WORK/stderr" >/dev/null \
  || { cat "$WORK/stderr"; fail "run on 2 ranks"; }
mpirun -n 2 "$BIN" run "$WORK/run.yaml" output.path="$WORK/xr.h5" run.shard=samples_x_ratios 2>"$WORK/stderr" >/dev/null \
  || { cat "$WORK/stderr"; fail "run on 2 ranks, samples_x_ratios"; }
echo "== the same job without the options (one draw, all modules, fitted on all samples)"
"$BIN" run "$WORK/run.yaml" scoring.random_repeats=1 prune.modalities=[all] prune.global_fit=all \
  output.path="$WORK/plain.h5" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "plain run"; }

"$PY" - "$WORK" <<'PYEOF' || fail "results"
import sys
import h5py
import numpy as np

work = sys.argv[1]
f = h5py.File(f"{work}/one.h5", "r")
e = f["experiments/tiny"]

def datasets(g, prefix=""):
    out = {}
    for k, v in g.items():
        if isinstance(v, h5py.Group):
            out.update(datasets(v, prefix + k + "/"))
        else:
            out[prefix + k] = v[()]
    return out

# 1. Rank count and sharding do not change a bit.
mine = datasets(e)
for other in ("two", "xr"):
    theirs = datasets(h5py.File(f"{work}/{other}.h5", "r")["experiments/tiny"])
    assert mine.keys() == theirs.keys(), (other, set(mine) ^ set(theirs))
    for k in mine:
        assert np.array_equal(mine[k], theirs[k]), (other, k)

N, S, H = 11, 4, e["scores/ours/head"].shape[2]
kinds = [s.decode() if isinstance(s, bytes) else s for s in e["meta/module_kind"][()]]
assert kinds.count("cross") > 0 and kinds.count("text") > 0 and kinds.count("image") > 0, kinds
M = len(kinds)

# 2. Draws of random: stacked [K, N, S]; the curve's accuracy is their mean; draws differ.
for p in ("per_sample", "global"):
    for g in ("head", "layer", "head.cross", "layer.text"):
        for s in ("positive", "negative"):
            c = e[f"curves/{p}/random/{g}/{s}"]
            ls, pred = c["label_score"][()], c["pred_index"][()]
            assert ls.shape == (3, N, S) and pred.shape == (3, N, S), (p, g, s, ls.shape)
            rows = slice(None) if p == "per_sample" else (e["samples/global_fit"][()] == 0)
            want = ls[:, rows].mean(axis=(0, 1)) * 100
            assert np.allclose(c["accuracy_x100"][()], want, atol=1e-12), (p, g, s)
            if p == "global":
                km = c["keep_mask"][()]
                assert km.shape[0] == 3 and km.shape[1] == S, km.shape
                assert not np.array_equal(km[0], km[1]) and not np.array_equal(km[1], km[2]), (g, s, "draws alike")
assert e["scores/random/head"].shape == (N, M, H)  # draw 0's scores

# 3. Draw 0 and the other methods are what a run without the options gives.
plain = datasets(h5py.File(f"{work}/plain.h5", "r")["experiments/tiny"])
for g in ("head", "layer"):
    for s in ("positive", "negative"):
        base = f"curves/per_sample/random/{g}/{s}/"
        assert np.array_equal(mine[base + "pred_index"][0], plain[base + "pred_index"]), (base, "draw 0")
        base = f"curves/per_sample/ours/{g}/{s}/"
        assert np.array_equal(mine[base + "pred_index"], plain[base + "pred_index"]), base
    assert np.array_equal(mine[f"scores/random/{g}"], plain[f"scores/random/{g}"])

# 4. Curves of one module kind prune only that kind's units, as many as the count rule gives.
for kind, gran in (("cross", "head"), ("text", "layer")):
    sel = np.array([k == kind for k in kinds])
    for s in ("positive", "negative"):
        km = e[f"curves/global/ours/{gran}.{kind}/{s}/keep_mask"][()]
        for j, r in enumerate(e["meta/ratios"][()]):
            m = km[j] if gran == "layer" else km[j]
            assert m[~sel].all(), (kind, s, r, "pruned outside the kind")
            n = int(sel.sum()) * (H if gran == "head" else 1)
            want = n - int((1.0 - r) * n)  # the LXMERT rule: keep_floor
            assert int((m[sel] == 0).sum()) == want, (kind, s, r, int((m[sel] == 0).sum()), want)

# 5. global_fit: half: the ranking is the mean over the fitted half; curves count the other half.
fit = e["samples/global_fit"][()].astype(bool)
assert fit.sum() == N // 2, fit
for g in ("head", "layer"):
    mean = e[f"scores/ours/{g}"][()][fit].mean(axis=0)
    assert np.allclose(e[f"ranking/ours/{g}/mean"][()], mean, rtol=1e-12, atol=1e-15), g
    c = e[f"curves/global/ours/{g}/positive"]
    assert np.allclose(c["accuracy_x100"][()], c["label_score"][()][~fit].mean(axis=0) * 100, atol=1e-12), g
    c = e[f"curves/per_sample/ours/{g}/positive"]
    assert np.allclose(c["accuracy_x100"][()], c["label_score"][()].mean(axis=0) * 100, atol=1e-12), g
print("ok")
PYEOF

echo "== the report shows the draws' band, the module kinds and the held-out protocol"
MPLBACKEND=Agg "$PY" "$SRC/analysis/report.py" "$WORK/one.h5" --out "$WORK/report" --bootstrap 200 >"$WORK/report.log" 2>&1 \
  || { cat "$WORK/report.log"; fail "report.py"; }
for section in "Random baseline over repeats" "Where the pruning falls" "Held-out global protocol" "head.cross"; do
  grep -q "$section" "$WORK/report/report.md" || fail "report.md lacks '$section'"
done

echo "== bad values: one clear error line, exit 2"
expect_error() {  # expect_error "message part" overrides...
  local want="$1"; shift
  set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/bad.h5" "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?; set -e
  [ "$rc" = 2 ] || { cat "$WORK/err"; fail "exit $rc (expected 2) for $*"; }
  grep -q -- "$want" "$WORK/err" || { cat "$WORK/err"; fail "no '$want' for $*"; }
  [ ! -e "$WORK/bad.h5" ] || fail "a results file was written for $*"
}
expect_error "prune.modalities: 'joint': the lxmert model has no joint attention modules" "prune.modalities=[all,joint]"
expect_error "'prune.global_fit' is only used with the global protocol" "prune.protocols=[per_sample]"
expect_error "'scoring.random_repeats' must be >= 1" "scoring.random_repeats=0"
expect_error "'prune.modalities\[1\]' repeats an earlier value" "prune.modalities=[cross,cross]"
echo "PASS"
