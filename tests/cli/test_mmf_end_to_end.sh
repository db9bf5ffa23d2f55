#!/usr/bin/env bash
# The seed's VisualBERT recipe end to end, on the VisualBERT fixture written in the files MMF's users
# download (tests/support/make_mmf_fixture_replica.py): MMF's zoo folder (model.pth + config.yaml,
# vocab.txt given by model.vocab), its LMDB features through `import-features --mmf-lmdb`, its
# imdb_val2014.npy through `data.format: mmf_imdb`, then `headprune run`. The results must be the
# seed's: every per-sample score, the keep masks those scores give under the seed's count rule,
# every pruned prediction, label score and accuracy of the fixture's reference.h5.
#   test_mmf_end_to_end.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-mmf-e2e.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$SRC/tests/support/make_mmf_fixture_replica.py" "$SRC/tests/data/visualbert" "$WORK" || fail "replica"
"$BIN" import-features --mmf-lmdb "$WORK/features.lmdb" --out "$WORK/features.h5" --progress-every 0 2>"$WORK/import.log" \
  || { cat "$WORK/import.log"; fail "import-features --mmf-lmdb"; }
cat > "$WORK/run.yaml" <<YAML
name: mmf_fixture
precision: fp64
model: {family: visualbert, path: $WORK/zoo, vocab: $SRC/tests/data/visualbert/vocab.txt}
data: {format: mmf_imdb, questions: $WORK/imdb_val2014.npy, features: $WORK/features.h5, answers: $WORK/answers, selection: all}
scoring: {methods: [ours, lrp]}
prune: {protocols: [per_sample], granularities: [head, layer], signs: [positive, negative], count_rule: seed}
run: {batch_size: 4, threads_per_rank: 1, progress_seconds: 0}
output: {path: $WORK/results.h5}
YAML
"$BIN" run "$WORK/run.yaml" 2>"$WORK/run.log" || { cat "$WORK/run.log"; fail "headprune run"; }

"$PY" - "$WORK/results.h5" "$SRC/tests/data/visualbert/reference.h5" <<'PYEOF' || fail "results differ from the seed's"
import sys
import h5py
import numpy as np

res = h5py.File(sys.argv[1], "r")["experiments/mmf_fixture"]
ref = h5py.File(sys.argv[2], "r")
n = int(ref.attrs["n_samples"])
bad = []
qids = [q.decode() if isinstance(q, bytes) else q for q in res["samples/question_id"][()]]
if qids != [str(1000 + i) for i in range(n)]:
    bad.append("samples: %s" % qids)
steps = ref["meta/prune_steps"][()]
if not np.array_equal(res["meta/ratios"][()], steps):
    bad.append("ratios %s vs %s" % (res["meta/ratios"][()], steps))
counts = {"head": ref["meta/head_prune_counts"][()], "layer": ref["meta/layer_prune_counts"][()]}


def seed_mask(scores, count, sign, granularity):
    """The seed's keep mask: the `count` highest (positive) or lowest (negative) scores pruned;
    layer scores ranked as float32 (reference README, Precision)."""
    flat = scores.reshape(-1)
    if granularity == "layer":
        flat = flat.astype(np.float32)
    keep = np.ones(flat.size, np.uint8)
    if count > 0:
        order = np.argsort(-flat if sign == "positive" else flat, kind="stable")
        keep[order[:count]] = 0
    return keep.reshape(scores.shape)


checked = 0
for method in ["ours", "lrp"]:
    for gran in ["head", "layer"]:
        ours = res["scores/%s/%s" % (method, gran)][()]
        tol = 5e-14 if method == "ours" else 5e-12
        for i in range(n):
            r = ref["sample_%03d/scores/%s_%s" % (i, method, gran)][()]
            if np.max(np.abs(ours[i] - r)) > tol * max(1.0, np.max(np.abs(r))) * 100:
                bad.append("scores/%s/%s sample %d: max error %g" % (method, gran, i, np.max(np.abs(ours[i] - r))))
        for sign in ["positive", "negative"]:
            combo = "%s_%s_%s" % (method, gran, sign)
            curve = res["curves/per_sample/%s/%s/%s" % (method, gran, sign)]
            for i in range(n):
                p = ref["sample_%03d/prune/%s" % (i, combo)]
                for k, c in enumerate(counts[gran]):
                    if not np.array_equal(seed_mask(ours[i], int(c), sign, gran), p["keep_mask"][k]):
                        bad.append("%s sample %d step %d: keep mask" % (combo, i, k))
                if not np.array_equal(curve["pred_index"][i], p["pred_index"][()]):
                    bad.append("%s sample %d: pred %s vs %s" % (combo, i, curve["pred_index"][i], p["pred_index"][()]))
                if not np.array_equal(curve["label_score"][i], p["target_score"][()]):
                    bad.append("%s sample %d: label score %s vs %s" % (combo, i, curve["label_score"][i], p["target_score"][()]))
            # The seed sums float32 soft scores (0.3f = 0.30000001); we sum exact tenths (int64),
            # so the two differ by float32 rounding only: ~1e-8 relative.
            acc, want = curve["accuracy_x100"][()], ref["results/%s/step_acc" % combo][()]
            exact = np.round(curve["label_score"][()] * 10).sum(0) * 10.0 / n
            if not np.array_equal(acc, exact) or np.max(np.abs(acc - want)) > 1e-5:
                bad.append("%s: accuracy %s vs %s" % (combo, acc, want))
            checked += 1
for b in bad[:20]:
    print("  " + b)
print("%d curves of %d samples checked against the seed: %d differences" % (checked, n, len(bad)))
sys.exit(1 if bad else 0)
PYEOF
grep -q "answers_sha256" <(h5dump -A -g /experiments/mmf_fixture/meta "$WORK/results.h5") || fail "no answers_sha256 in /meta"
echo "ok: MMF recipe end to end gives the seed's scores, masks, predictions and accuracies"
