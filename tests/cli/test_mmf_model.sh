#!/usr/bin/env bash
# `headprune run` on MMF's zoo folder (model.pth + config.yaml, the tokenizer's vocab.txt given by
# model.vocab), made from the VisualBERT fixture: the answer list by layout, its SHA-256 in /meta,
# the warning when the unpruned accuracy is 0, one-line errors for bad folders and lists.
#   test_mmf_model.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-mmf-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions 70 --images 9
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" 2>/dev/null

# The zoo folder: the fixture's state dict as model.pth (torch.save, MMF key names), its sizes in
# MMF's config.yaml, no config.json, no vocab.txt.
ZOO="$WORK/visual_bert.finetuned.vqa2.from_coco_train"
mkdir -p "$ZOO"
cp "$SRC/tests/data/visualbert/pytorch_model.bin" "$ZOO/model.pth"
cat > "$ZOO/config.yaml" <<'YAML'
model: visual_bert
model_config:
  visual_bert:
    bert_model_name: bert-base-uncased
    training_head_type: classification
    pooler_strategy: vqa
    hidden_size: 32
    num_attention_heads: 4
    num_hidden_layers: 3
    intermediate_size: 64
    max_position_embeddings: 64
    vocab_size: 120
    visual_embedding_dim: 24
    num_labels: 12
YAML
# The tiny dataset's answers, one a line, as MMF's answers_vqa.txt: "<unk>" first (MMF's VocabDict
# would put it there otherwise) in place of the tiny dataset's answer 0, no final newline.
"$PY" -c "import json,sys; sys.stdout.write('\n'.join(['<unk>'] + json.load(open('$WORK/data/answers/trainval_label2ans.json'))[1:]))" \
  > "$WORK/answers.txt"
cat > "$WORK/run.yaml" <<YAML
name: zoo
model: {family: visualbert, path: $ZOO, vocab: $SRC/tests/data/visualbert/vocab.txt, max_regions: 7}
data: {questions: $WORK/data/questions.json, features: $WORK/data/features.h5, answers: $WORK/answers.txt,
       selection: first_n, num_samples: 64}
scoring: {methods: [ours]}
run: {batch_size: 16, threads_per_rank: 1, progress_seconds: 0}
output: {path: $WORK/out.h5}
YAML
meta() { "$PY" -c "import h5py; print(h5py.File('$1')['experiments/zoo/meta'].attrs['$2'])"; }
# expect_error CODE TEXT ARGS...: exit CODE, one line naming TEXT, no results file.
expect_error() {
  local code="$1" text="$2" rc
  shift 2
  set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/bad.h5" "$@" 2>"$WORK/err"; rc=$?; set -e
  [ "$rc" = "$code" ] || { cat "$WORK/err"; fail "exit $rc (expected $code) for $*"; }
  [ "$(grep -c . "$WORK/err")" = 1 ] || { cat "$WORK/err"; fail "not one line for $*"; }
  grep -qF -- "$text" "$WORK/err" || { cat "$WORK/err"; fail "message for $*: $(cat "$WORK/err")"; }
  [ ! -e "$WORK/bad.h5" ] && [ ! -e "$WORK/bad.h5.partial" ] || fail "output left behind for $*"
}

echo "== the zoo folder runs; the answer list's SHA-256 is in /meta; no warning"
"$BIN" run "$WORK/run.yaml" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run on the zoo folder"; }
[ "$(meta "$WORK/out.h5" answers_sha256)" = "$(sha256sum "$WORK/answers.txt" | cut -d' ' -f1)" ] || fail "answers_sha256"
[ "$(meta "$WORK/out.h5" answers_source)" = "$WORK/answers.txt" ] || fail "answers_source"
[ "$(meta "$WORK/out.h5" weights_sha256)" = "$(sha256sum "$ZOO/model.pth" | cut -d' ' -f1)" ] || fail "weights_sha256"
[ "$(meta "$WORK/out.h5" max_text_tokens)" = 64 ] || fail "max_text_tokens (the fixture's 64 positions cap MMF's 128)"
acc=$("$PY" -c "import h5py; print(h5py.File('$WORK/out.h5')['experiments/zoo/samples/unpruned_score'][:].sum())")
"$PY" -c "import sys; sys.exit(0 if float('$acc') > 0 else 1)" || fail "the tiny run must answer something right ($acc)"
if grep -q "may not be the model's" "$WORK/stderr"; then fail "zero-accuracy warning on a run with accuracy $acc"; fi

echo "== a list of the right length that is not the model's: one warning line"
"$PY" -c "import sys; sys.stdout.write('\n'.join(['<unk>'] + ['other%d' % i for i in range(1, 12)]))" > "$WORK/other.txt"
"$BIN" run "$WORK/run.yaml" output.path="$WORK/other.h5" data.answers="$WORK/other.txt" 2>"$WORK/stderr" \
  || { cat "$WORK/stderr"; fail "run with another list"; }
[ "$(grep -c "answered none of the 64 samples right: the answer list $WORK/other.txt may not be the model's" "$WORK/stderr")" = 1 ] \
  || { cat "$WORK/stderr"; fail "no zero-accuracy warning"; }
echo "== fewer than 64 samples: no warning"
"$BIN" run "$WORK/run.yaml" output.path="$WORK/few.h5" data.answers="$WORK/other.txt" data.num_samples=63 2>"$WORK/stderr" \
  || { cat "$WORK/stderr"; fail "run of 63"; }
if grep -q "may not be the model's" "$WORK/stderr"; then fail "warning over 63 samples"; fi

echo "== the default list by layout (run from the repository root, where data/vqa is)"
(cd "$SRC" && expect_error 2 "data/vqa/mmf_answers_vqa.txt: 3129 answers, but the model at $ZOO has 12 outputs" data.answers=null)
(cd "$SRC" && expect_error 2 "data/vqa: 3129 answers, but the model at $SRC/tests/data/lxmert has 12 outputs" \
  data.answers=null model.family=lxmert model.path="$SRC/tests/data/lxmert" model.vocab=null)

echo "== bad inputs: one line, exit 2, nothing written"
expect_error 2 "model.vocab: not set, and an MMF zoo folder has no vocab.txt" model.vocab=null
expect_error 2 "$WORK/short.txt: not found (expected an answer vocabulary" data.answers="$WORK/short.txt"
printf '<unk>\nno\n2\n1' > "$WORK/short.txt"
expect_error 2 "$WORK/short.txt: 4 answers, but the model at $ZOO has 12 outputs" data.answers="$WORK/short.txt"
BAD="$WORK/bad-zoo"; mkdir -p "$BAD"; cp "$ZOO/config.yaml" "$BAD/"
printf 'not a checkpoint' > "$BAD/model.pth"
expect_error 2 "$BAD/model.pth: not a readable torch.save checkpoint" model.path="$BAD"
cp "$ZOO/model.pth" "$BAD/model.pth"; sed -i 's/hidden_size: 32/hidden_size: many/' "$BAD/config.yaml"
expect_error 2 "$BAD/config.yaml: key 'model_config.visual_bert.hidden_size' must be an integer (got many)" model.path="$BAD"
rm "$BAD/config.yaml"
expect_error 2 "$BAD/model.pth: checkpoint does not match the model config" model.path="$BAD"
echo "PASS"
