#!/usr/bin/env bash
# `headprune run` as users run it: determinism across rank counts, resume after SIGTERM and
# after SIGKILL, a dead rank, merge conflicts, config errors.
#   test_run_job.sh HEADPRUNE_BINARY SOURCE_DIR
set -euo pipefail
BIN="$1"; SRC="$2"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-run-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions 30 --images 9
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" 2>/dev/null
cat > "$WORK/run.yaml" <<YAML
name: tiny_lxmert
model: {family: lxmert, path: $SRC/tests/data/lxmert}
data: {questions: $WORK/data/questions.json, features: $WORK/data/features.h5, answers: $WORK/data/answers, num_samples: 26}
scoring: {methods: [ours, lrp, michel, confidence, random]}
prune: {protocols: [per_sample, global], granularities: [head, layer]}
run: {batch_size: 3, threads_per_rank: 1, checkpoint_every: 1, progress_seconds: 0}
output: {path: $WORK/out.h5}
YAML
run() { "$BIN" run "$WORK/run.yaml" "$@" 2>"$WORK/stderr" || { cat "$WORK/stderr"; return 1; }; }

echo "== 1, 2, 3 and 4 ranks write bit-identical results"
run output.path="$WORK/np1.h5"
for n in 2 3 4; do
  mpirun -n $n --bind-to none "$BIN" run "$WORK/run.yaml" output.path="$WORK/np$n.h5" 2>"$WORK/stderr" \
    || { cat "$WORK/stderr"; fail "mpirun -n $n"; }
  "$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/np$n.h5" || fail "np1 vs np$n differ"
done
h5dump -H "$WORK/np1.h5" >/dev/null || fail "h5dump cannot read the results file"
ranks=$("$PY" -c "import h5py;print(h5py.File('$WORK/np4.h5')['experiments/tiny_lxmert/meta'].attrs['ranks'])")
[ "$ranks" = 4 ] || fail "meta ranks = $ranks"

echo "== an existing results file is never overwritten without --overwrite"
before=$(sha256sum "$WORK/np1.h5")
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/np1.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] || fail "exit $code for an existing output"
grep -q "np1.h5: results file exists" "$WORK/err" || fail "message: $(cat "$WORK/err")"
[ "$before" = "$(sha256sum "$WORK/np1.h5")" ] || fail "existing file changed"

# A job that gets SIGNAL after its first checkpoint: exit 3, no results file, the checkpoint kept;
# the same command resumes and ends with the uninterrupted run's file.
interrupted_run_resumes() { # SIGNAL NAME
  local sig="$1" out="$WORK/$2.h5" pid code
  HEADPRUNE_TEST_BATCH_DELAY_MS=300 "$BIN" run "$WORK/run.yaml" output.path="$out" 2>"$WORK/$2.log" &
  pid=$!
  for _ in $(seq 100); do ls "$out".partial/*rank0-1.h5 >/dev/null 2>&1 && break; sleep 0.1; done
  kill "-$sig" $pid
  set +e; wait $pid; code=$?; set -e
  [ $code = 3 ] || { cat "$WORK/$2.log"; fail "exit code $code after SIG$sig (expected 3)"; }
  [ ! -e "$out" ] || fail "SIG$sig: a results file was written by an interrupted run"
  ls "$out".partial/*.h5 >/dev/null || fail "SIG$sig: no checkpoint left"
  run output.path="$out"
  grep -q "resume:" "$WORK/stderr" || fail "SIG$sig: the rerun did not resume"
  "$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$out" || fail "SIG$sig: resumed run differs"
  [ ! -e "$out.partial" ] || fail "SIG$sig: partial results left behind"
}

echo "== SIGTERM: checkpoint, exit 3, rerun resumes to the same file"
interrupted_run_resumes TERM term
echo "== Ctrl-C (SIGINT): the same"
interrupted_run_resumes INT int

echo "== HEADPRUNE_LOG_LEVEL wins over the config's log_level"
HEADPRUNE_LOG_LEVEL=warn "$BIN" run "$WORK/run.yaml" output.path="$WORK/quiet.h5" log_level=info 2>"$WORK/quiet.log" \
  || { cat "$WORK/quiet.log"; fail "run with HEADPRUNE_LOG_LEVEL=warn"; }
if grep -q "\[info\]" "$WORK/quiet.log"; then head -5 "$WORK/quiet.log"; fail "info lines with HEADPRUNE_LOG_LEVEL=warn"; fi

echo "== SIGKILL (no goodbye), then resume with another rank count"
HEADPRUNE_TEST_BATCH_DELAY_MS=300 "$BIN" run "$WORK/run.yaml" output.path="$WORK/kill.h5" 2>/dev/null &
pid=$!
for _ in $(seq 100); do ls "$WORK"/kill.h5.partial/*rank0-2.h5 >/dev/null 2>&1 && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null || true
mpirun -n 2 --bind-to none "$BIN" run "$WORK/run.yaml" output.path="$WORK/kill.h5" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "resume on 2 ranks"; }
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/kill.h5" || fail "resume after SIGKILL differs"

echo "== a config change against partial results is refused"
HEADPRUNE_TEST_BATCH_DELAY_MS=300 "$BIN" run "$WORK/run.yaml" output.path="$WORK/chg.h5" 2>/dev/null &
pid=$!
for _ in $(seq 100); do ls "$WORK"/chg.h5.partial/*rank0-1.h5 >/dev/null 2>&1 && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null || true
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/chg.h5" prune.ratios=[0,0.5] 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "partial results of a different config" "$WORK/err" || fail "config change: exit $code: $(cat "$WORK/err")"

echo "== a rank that dies ends the job within 30 s"
start=$(date +%s)
HEADPRUNE_TEST_BATCH_DELAY_MS=500 mpirun -n 2 --bind-to none "$BIN" run "$WORK/run.yaml" output.path="$WORK/dead.h5" \
  >"$WORK/dead.log" 2>&1 &
mpid=$!
victim=""
for _ in $(seq 100); do
  victim=$(pgrep -P $mpid -x headprune | tail -n 1 || true)  # mpirun's children are the ranks
  [ -n "$victim" ] && ls "$WORK"/dead.h5.partial/*rank*-0.h5 >/dev/null 2>&1 && break
  sleep 0.1
done
[ -n "$victim" ] || fail "no rank process found"
kill -KILL "$victim"
set +e; wait $mpid; code=$?; set -e
elapsed=$(( $(date +%s) - start ))
[ $code != 0 ] || fail "job succeeded although a rank was killed"
[ $elapsed -lt 30 ] || fail "job took $elapsed s to end after a rank died"
echo "   ended with exit $code after ${elapsed}s"

echo "== merge: experiments combined; identical duplicates kept once; conflicts refused"
run name=second output.path="$WORK/second.h5" prune.signs=[positive]
"$BIN" merge "$WORK/merged.h5" "$WORK/np1.h5" "$WORK/second.h5" "$WORK/np2.h5" 2>/dev/null
n=$("$PY" -c "import h5py;print(sorted(h5py.File('$WORK/merged.h5')['experiments']))")
[ "$n" = "['second', 'tiny_lxmert']" ] || fail "merged experiments: $n"
run output.path="$WORK/other.h5" scoring.random_seed=5
set +e; "$BIN" merge "$WORK/bad.h5" "$WORK/np1.h5" "$WORK/other.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "experiment 'tiny_lxmert' is in both" "$WORK/err" || fail "merge conflict: exit $code $(cat "$WORK/err")"
[ ! -e "$WORK/bad.h5" ] || fail "a refused merge left a file"
set +e; "$BIN" merge "$WORK/bad.h5" "$WORK/np1.h5" "$WORK/data/features.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "features.h5: not a headprune results file (root attribute format = 'headprune-feature-store', expected 'headprune-results')" "$WORK/err" \
  || fail "merge of a feature store: exit $code $(cat "$WORK/err")"
set +e; "$BIN" merge "$WORK/np1.h5" "$WORK/np2.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "np1.h5: results file exists (pass --overwrite to replace it)" "$WORK/err" \
  || fail "merge onto an existing file: exit $code $(cat "$WORK/err")"

echo "== run --check: the config and overrides only, no MPI, no inputs"
"$BIN" run --check "$WORK/run.yaml" model.path=/not/read/by/check >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "run --check"; }
grep -q "^config ok: tiny_lxmert" "$WORK/out" || fail "run --check: $(cat "$WORK/out")"
set +e; "$BIN" run --check "$WORK/run.yaml" prune.ratios=[0,1.5] 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ "$(wc -l < "$WORK/err")" = 1 ] || fail "run --check with a bad ratio: exit $code $(cat "$WORK/err")"

echo "== config errors: one line, exit 2"
set +e; "$BIN" run "$WORK/run.yaml" no.such.key=1 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ "$(wc -l < "$WORK/err")" = 1 ] && grep -q "no.such.key" "$WORK/err" || fail "unknown key: $code $(cat "$WORK/err")"
set +e; "$BIN" run "$WORK/missing.yaml" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "missing.yaml" "$WORK/err" || fail "missing config: $code $(cat "$WORK/err")"
set +e; mpirun -n 2 --bind-to none "$BIN" run "$WORK/run.yaml" model.path=/nonexistent 2>"$WORK/err"; code=$?; set -e
[ $code != 0 ] && grep -q "/nonexistent" "$WORK/err" || fail "bad model path on 2 ranks: $code $(cat "$WORK/err")"

echo "== a run stopped by a bad input leaves nothing behind, and the corrected rerun runs"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/fix.h5" data.questions="$WORK/nope.json" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "nope.json" "$WORK/err" || fail "missing questions file: exit $code $(cat "$WORK/err")"
if grep -q "resolved config" "$WORK/err"; then fail "the input error is buried under the config dump"; fi
[ ! -e "$WORK/fix.h5.partial" ] && [ ! -e "$WORK/fix.h5" ] || fail "a failed run left $(ls -d "$WORK"/fix.h5*)"
run output.path="$WORK/fix.h5" prune.ratios=[0,0.5] || fail "the corrected rerun"
# A partial folder holding only another config's config.yaml may belong to a run that is still
# going (before its first checkpoint): refused, never relabelled.
mkdir -p "$WORK/empty.h5.partial" && echo "name: other" >"$WORK/empty.h5.partial/config.yaml"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/empty.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "belongs to a run of a different config that has no checkpoint yet" "$WORK/err" \
  || fail "another config's empty partial folder: exit $code $(cat "$WORK/err")"
grep -q "name: other" "$WORK/empty.h5.partial/config.yaml" || fail "the other run's config.yaml was changed"

echo "== drawings of an earlier run are not replaced without --overwrite"
mkdir -p "$WORK/vis" && echo "<html>mine</html>" >"$WORK/vis/index.html"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/vis.h5" visualize.samples=[1] visualize.out_dir="$WORK/vis" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "holds the drawings of an earlier run" "$WORK/err" || fail "existing drawings: exit $code $(cat "$WORK/err")"
[ ! -e "$WORK/vis.h5" ] && [ ! -e "$WORK/vis.h5.partial" ] || fail "the refused run started anyway"
grep -q "mine" "$WORK/vis/index.html" || fail "the earlier drawings were changed"
echo "all run-job checks passed"
