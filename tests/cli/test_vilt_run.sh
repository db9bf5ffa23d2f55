#!/usr/bin/env bash
# `headprune run` and `headprune visualize` on ViLT (pixels, no detector): the fixture model
# tests/data/vilt (Hugging Face folder: config.json with id2label, model.safetensors,
# preprocessor_config.json, vocab.txt) reading its images from data.images (COCO val2014 file
# names, PNG). Every scoring method, both protocols, heads and layers:
#   - the results file has every curve, the model's own answer list, joint modules;
#   - 1 and 2 MPI ranks give identical results (h5diff, run-specific metadata aside);
#   - the unpruned predictions equal Hugging Face's (the fixture's pred_index) for its 4 samples;
#   - a region-feature key instead of data.images is one clear error line;
#   - visualize draws the relevance of the patch grid on the image.
#   test_vilt_run.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-vilt-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
FIX="$SRC/tests/data/vilt"

# Questions in LXMERT's JSON layout: the fixture's 4 samples first, then 12 more on its images.
"$PY" - "$FIX/reference.h5" "$WORK/questions.json" <<'PYEOF'
import json, sys
import h5py
f = h5py.File(sys.argv[1], "r")
qs = []
for i in range(f.attrs["n_samples"]):
    a = f[f"sample_{i:03d}"].attrs
    qs.append({"question_id": 1000 + i, "img_id": a["img_id"], "sent": a["question"], "label": {a["pred_answer"]: 1.0}})
sents = ["what color is the ball?", "how many cats are there?", "is the bus red?"]
for k in range(12):
    qs.append({"question_id": 2000 + k, "img_id": qs[k % 4]["img_id"], "sent": sents[k % 3],
               "label": {"yes": 1.0} if k % 3 == 2 else {"2": 0.6, "red": 0.3}})
json.dump(qs, open(sys.argv[2], "w"))
PYEOF

cat > "$WORK/vilt.yaml" <<YAML
name: tiny_vilt
model: {family: vilt, path: $FIX}
data: {format: lxmert_json, questions: $WORK/questions.json, images: $FIX/images, selection: first_n, num_samples: 16}
scoring: {methods: [ours, lrp, michel, confidence, random, gradient, attention, rollout, attattr, attnlrp], ig_steps: 3}
prune: {protocols: [per_sample, global], granularities: [head, layer], signs: [positive, negative], ratios: [0, 0.25, 0.5, 0.75]}
run: {batch_size: 3, threads_per_rank: 1, progress_seconds: 0}
output: {path: $WORK/one.h5}
YAML

echo "== 1 rank and 2 ranks"
"$BIN" run "$WORK/vilt.yaml" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "1-rank run"; }
mpirun -n 2 "$BIN" run "$WORK/vilt.yaml" output.path="$WORK/two.h5" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "2-rank run"; }
# Data identical; only the run's own metadata (times, hosts, ranks, the config text with its
# output path) may differ.
h5diff -c "$WORK/one.h5" "$WORK/two.h5" | grep -v "^$" | grep -Ev "^attribute: <(config_yaml|end_time|start_time|hosts|ranks|elapsed_seconds|command_line|host_name)" \
  | grep -Ev "^[0-9]+ differences? found$" | grep -Ev "^Not comparable|^--------" >"$WORK/diff" || true
if [ -s "$WORK/diff" ]; then cat "$WORK/diff" | head -20; fail "1 and 2 ranks differ"; fi

"$PY" - "$WORK/one.h5" "$FIX/reference.h5" <<'PYEOF' || fail "results"
import sys
import h5py
import numpy as np
f, ref = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
e = f["experiments/tiny_vilt"]
meta = e["meta"]
answers = [a.decode() for a in meta["answers"][()]]
assert answers == [a.decode() for a in ref["meta/answers"][()]], answers  # config.json's id2label
assert all(k == b"joint" for k in meta["module_kind"][()]), meta["module_kind"][()]
for m in ("ours", "lrp", "michel", "confidence", "random", "gradient", "attention", "rollout", "attattr", "attnlrp"):
    for p in ("per_sample", "global"):
        for g in ("head", "layer"):
            for s in ("positive", "negative"):
                acc = e[f"curves/{p}/{m}/{g}/{s}/accuracy_x100"][()]
                assert acc.shape == (4,) and np.all(np.isfinite(acc)), (m, p, g, s, acc)
    if m != "random":
        assert np.all(np.isfinite(e[f"scores/{m}/head"][()])) and e[f"scores/{m}/head"][()].std() > 0, m
# The unpruned prediction of the fixture's samples = Hugging Face's (pred_index).
pred = e["samples/unpruned_pred"][()]
ids = [int(q.decode() if isinstance(q, bytes) else q) for q in e["samples/question_id"][()]]
for i in range(ref.attrs["n_samples"]):
    row = ids.index(1000 + i)
    assert pred[row] == ref[f"sample_{i:03d}"].attrs["pred_index"], (i, pred[row])
print("ok: every curve, the model's answers, Hugging Face's predictions")
PYEOF

echo "== a region-feature model key instead of data.images"
out="$("$BIN" run "$WORK/vilt.yaml" data.images=~ data.features="$WORK/none.h5" output.path="$WORK/bad.h5" 2>&1)" && fail "ran without data.images"
echo "$out" | grep -q "error: data.images: required for model family vilt" || { echo "$out" | tail -3; fail "error line"; }
[ ! -e "$WORK/bad.h5" ] || fail "a results file was left behind"

echo "== visualize: the patch grid's relevance on the image"
"$BIN" visualize "$WORK/vilt.yaml" "visualize.samples=[1000]" visualize.out_dir="$WORK/vis" 2>"$WORK/stderr" \
  || { cat "$WORK/stderr"; fail "visualize"; }
"$PY" - "$WORK/vis/1000/relevance.json" <<'PYEOF' || fail "relevance.json"
import json, sys
r = json.load(open(sys.argv[1]))
boxes = r["boxes"]
assert len(boxes) == 24, len(boxes)  # a 4 x 6 grid of patches on the 100 x 60 image
xs = sorted({round(b[0], 3) for b in boxes}); ys = sorted({round(b[1], 3) for b in boxes})
assert len(xs) == 6 and len(ys) == 4, (xs, ys)
assert abs(max(b[2] for b in boxes) - 100) < 1e-3 and abs(max(b[3] for b in boxes) - 60) < 1e-3, "grid does not cover the image"
print("ok: 24 patch boxes covering the image")
PYEOF
echo "PASS"
