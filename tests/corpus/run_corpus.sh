#!/usr/bin/env bash
# The bad-input corpus: one case per file in tests/corpus/cases/NAME.sh, each a hostile input
# that headprune must refuse the way the README promises.
#
#   bash run_corpus.sh HEADPRUNE_BINARY SOURCE_DIR [NAME ...]     (no NAME: every case)
#
# For every case the runner makes a fresh folder W holding a valid tiny setup that the case
# corrupts, then sources the case with BIN, SRC, W and PY (/usr/bin/python3, with numpy and h5py)
# exported and `set -euo pipefail` on. The setup in W:
#   W/lxmert/        copy of tests/data/lxmert (config.json, model.safetensors, pytorch_model.bin,
#                    vocab.txt, reference.h5): the model of W/run.yaml and a conformance folder
#   W/data/          tests/support/make_tiny_dataset.py output: questions.json (LXMERT format,
#                    question_id 1000..1011), features.tsv (obj36, 4 images tiny_img_0..3, 24-d),
#                    answers/ (12 answers), features.h5 (the TSV imported)
#   W/run.yaml       a valid `headprune run` config of all that, output.path W/out.h5
#   W/results.h5     a valid results file (the run of W/run.yaml), for merge cases
# A case calls, once or more:
#
#   expect_fail CODE 'EXTENDED_REGEX' -- CMD ARGS...
#
# which runs CMD and asserts: the exit code is CODE (a signal or an internal error is reported
# as a crash); stderr holds exactly one line starting "headprune: error:" and that line matches
# EXTENDED_REGEX (grep -E; make it name the file and the key/field/tensor); and nothing new is
# left in W afterwards (the file list before and after is compared). `allow_new PATH` before
# expect_fail lets that one call leave PATH (relative to W, or absolute; anything under it too).
# Helpers for cases: `py 'python code'` runs Python with numpy/h5py (W is the working folder).
#
# Output: "ok NAME" or "FAIL NAME: why" per case, a summary, exit 1 if any case failed.
# Add a case: write cases/NAME.sh (first comment line: what is wrong and what must happen),
# see it fail against the unfixed binary, then fix.
set -uo pipefail
BIN="$(realpath "$1")"
SRC="$(realpath "$2")"
shift 2
PY=/usr/bin/python3
CASES_DIR="$SRC/tests/corpus/cases"
export BIN SRC PY
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1

BASE="$(mktemp -d /tmp/headprune-corpus.XXXXXX)"
trap 'rm -rf "$BASE"' EXIT

# ---- the valid tiny setup, built once and copied per case ------------------------------------
mkdir -p "$BASE/setup"
cp -r "$SRC/tests/data/lxmert" "$BASE/setup/lxmert"
rm -f "$BASE/setup/lxmert/README.md"
"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$BASE/setup/data" --questions 12 --images 4 >/dev/null \
  || { echo "FAIL setup: make_tiny_dataset.py"; exit 1; }
"$BIN" import-features --tsv "$BASE/setup/data/features.tsv" --out "$BASE/setup/data/features.h5" \
  --progress-every 0 2>"$BASE/setup.log" || { cat "$BASE/setup.log"; echo "FAIL setup: import-features"; exit 1; }
# Paths in run.yaml are relative to W (each case runs with W as its working folder).
cat > "$BASE/setup/run.yaml" <<'YAML'
name: corpus_lxmert
model: {family: lxmert, path: lxmert}
data: {questions: data/questions.json, features: data/features.h5, answers_dir: data/answers, selection: all}
scoring: {methods: [ours, random]}
prune: {protocols: [per_sample], granularities: [head], ratios: [0, 0.5]}
run: {batch_size: 4, threads_per_rank: 1, checkpoint_every: 1, progress_seconds: 0}
output: {path: out.h5}
YAML
(cd "$BASE/setup" && "$BIN" run run.yaml output.path=results.h5 2>"$BASE/setup.log") \
  || { cat "$BASE/setup.log"; echo "FAIL setup: the valid run failed"; exit 1; }

# ---- helpers available to cases ---------------------------------------------------------------
CASE_FAIL=""
ALLOWED=()
fail_case() { [ -n "$CASE_FAIL" ] || CASE_FAIL="$*"; }
allow_new() { ALLOWED+=("$1"); }
py() { "$PY" -c "$1"; }
snapshot() { (cd "$W" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort); }

expect_fail() {
  local code="$1" regex="$2" rc before after new errors line p ok errexit=0
  [ "${3:-}" = "--" ] || { fail_case "expect_fail: usage: expect_fail CODE REGEX -- CMD..."; return 0; }
  shift 3
  [[ $- == *e* ]] && errexit=1
  set +e
  before="$(snapshot)"
  "$@" >"$BASE/stdout" 2>"$BASE/stderr" </dev/null
  rc=$?
  after="$(snapshot)"
  local what="'$*'"
  if [ "$rc" -ge 128 ] || grep -qE "internal error|crashed|Segmentation|terminate called" "$BASE/stderr"; then
    fail_case "$what crashed (exit $rc): $(tail -n 3 "$BASE/stderr" | tr '\n' ' ')"
  elif [ "$rc" -ne "$code" ]; then
    fail_case "$what: exit $rc, expected $code; stderr: $(tail -n 3 "$BASE/stderr" | tr '\n' ' ')"
  else
    errors="$(grep -c '^headprune: error:' "$BASE/stderr")"
    line="$(grep -m1 '^headprune: error:' "$BASE/stderr")"
    if [ "$errors" -ne 1 ]; then
      fail_case "$what: $errors 'headprune: error:' lines on stderr, expected 1: $(tail -n 3 "$BASE/stderr" | tr '\n' ' ')"
    elif ! grep -qE -- "$regex" <<<"$line"; then
      fail_case "$what: error line does not match /$regex/: $line"
    fi
  fi
  # Nothing new may be left in W, except what allow_new declared.
  new="$(comm -13 <(echo "$before") <(echo "$after"))"
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    ok=0
    for a in "${ALLOWED[@]+"${ALLOWED[@]}"}"; do
      a="${a#"$W"/}"
      case "$p" in "$a" | "$a"/*) ok=1 ;; esac
    done
    [ $ok = 1 ] || { fail_case "$what left $p behind"; break; }
  done <<<"$new"
  ALLOWED=()
  [ $errexit = 0 ] || set -e
  return 0
}

# ---- run the cases ----------------------------------------------------------------------------
if [ $# -gt 0 ]; then
  cases=()
  for n in "$@"; do cases+=("$CASES_DIR/$n.sh"); done
else
  cases=("$CASES_DIR"/*.sh)
fi
passed=0
failed=()
for case_file in "${cases[@]}"; do
  name="$(basename "$case_file" .sh)"
  [ -f "$case_file" ] || { echo "FAIL $name: no such case"; failed+=("$name"); continue; }
  W="$BASE/w-$name"
  cp -r "$BASE/setup" "$W"
  export W
  CASE_FAIL=""
  ALLOWED=()
  # The case runs in this shell (its expect_fail calls record failures here) with errexit on for
  # its own setup commands; a setup command that fails ends the case.
  (
    set -euo pipefail
    cd "$W"
    # shellcheck disable=SC1090
    source "$case_file"
    [ -z "$CASE_FAIL" ] || { echo "$CASE_FAIL" >"$BASE/case_fail"; exit 1; }
  ) >"$BASE/case.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    echo "ok $name"
    passed=$((passed + 1))
  else
    why="$(cat "$BASE/case_fail" 2>/dev/null || echo "case setup failed (exit $rc): $(tail -n 3 "$BASE/case.log" | tr '\n' ' ')")"
    echo "FAIL $name: $why"
    failed+=("$name")
  fi
  rm -f "$BASE/case_fail"
  rm -rf "$W"
done
echo "corpus: ${passed} passed, ${#failed[@]} failed${failed[*]:+ (${failed[*]})}"
[ ${#failed[@]} = 0 ]
