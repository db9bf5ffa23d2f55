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
scoring: {methods: [ours, lrp, michel, confidence, random], random_repeats: 2}  # two draws: stacked curves through resume and rank counts
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

echo "== run.shard: samples_x_ratios: (batch, ratio block) units on 1, 3 and 4 ranks, the same bits"
for n in 1 3 4; do
  mpirun -n $n --bind-to none "$BIN" run "$WORK/run.yaml" run.shard=samples_x_ratios output.path="$WORK/xr$n.h5" \
    2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "samples_x_ratios on $n ranks"; }
  "$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/xr$n.h5" || fail "np1 vs samples_x_ratios on $n ranks differ"
done
grep -q "shard: samples_x_ratios" <(h5dump -a /experiments/tiny_lxmert/meta/config_yaml "$WORK/xr4.h5") \
  || fail "the config stored in /meta does not say samples_x_ratios"

echo "== samples_x_ratios stopped by SIGTERM on 3 ranks, resumed on 2 (each loads its share): the same bits"
HEADPRUNE_TEST_BATCH_DELAY_MS=300 mpirun -n 3 --bind-to none "$BIN" run "$WORK/run.yaml" run.shard=samples_x_ratios \
  output.path="$WORK/xrterm.h5" 2>"$WORK/xrterm.log" &
pid=$!
for _ in $(seq 150); do ls "$WORK"/xrterm.h5.partial/*rank2-1.h5 >/dev/null 2>&1 && break; sleep 0.1; done
kill -TERM $pid
set +e; wait $pid; code=$?; set -e
[ $code != 0 ] || { cat "$WORK/xrterm.log"; fail "an interrupted 3-rank run exited 0"; }
[ ! -e "$WORK/xrterm.h5" ] || fail "an interrupted 3-rank run wrote a results file"
[ "$(ls "$WORK"/xrterm.h5.partial/*.h5 | wc -l)" -ge 3 ] || fail "fewer than 3 checkpoint files to resume from"
mpirun -n 2 --bind-to none "$BIN" run "$WORK/run.yaml" run.shard=samples_x_ratios output.path="$WORK/xrterm.h5" \
  2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "resume of samples_x_ratios on 2 ranks"; }
grep -q "resume: .* (batch, ratio block) units already done" "$WORK/stderr" || fail "the 2-rank rerun did not resume"
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/xrterm.h5" || fail "resumed samples_x_ratios run differs"

echo "== samples/answer_type: the question file's answer types, in sample order"
"$PY" - "$WORK/np1.h5" "$WORK/data/questions.json" <<'PYEOF' || fail "samples/answer_type"
import json, sys
import h5py
s = h5py.File(sys.argv[1], "r")["experiments/tiny_lxmert/samples"]
types = {str(q["question_id"]): q["answer_type"] for q in json.load(open(sys.argv[2]))}
ids = [x.decode() for x in s["question_id"][()]]
got = [x.decode() for x in s["answer_type"][()]]
assert got == [types[i] for i in ids], (got, ids)
assert len(set(got)) == 3, got
PYEOF

echo "== an existing results file is never overwritten without --overwrite"
before=$(sha256sum "$WORK/np1.h5")
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/np1.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] || fail "exit $code for an existing output"
grep -q "np1.h5: exists already (pass --overwrite or output.overwrite=true to replace it)" "$WORK/err" || fail "message: $(cat "$WORK/err")"
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
echo "== ... and the same command resumes from what the ranks had checkpointed, to the same bits"
[ ! -e "$WORK/dead.h5" ] || fail "a job with a dead rank wrote a results file"
mpirun -n 2 --bind-to none "$BIN" run "$WORK/run.yaml" output.path="$WORK/dead.h5" 2>"$WORK/stderr" \
  || { cat "$WORK/stderr"; fail "rerun after a dead rank"; }
grep -q "resume:" "$WORK/stderr" || fail "the rerun after a dead rank did not resume"
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/dead.h5" || fail "resumed run after a dead rank differs"

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
# A partial folder holding only another config's config.yaml: while its run is still going (it holds
# the output's lock) it is refused and left alone; once that run is gone it is relabelled.
mkdir -p "$WORK/empty.h5.partial" && echo "name: other" >"$WORK/empty.h5.partial/config.yaml"
flock "$WORK/empty.h5.lock" sleep 30 & holder=$!
for _ in $(seq 50); do [ -e "$WORK/empty.h5.lock" ] && break; sleep 0.1; done
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/empty.h5" 2>"$WORK/err"; code=$?; set -e
kill $holder; wait $holder 2>/dev/null || true
[ $code = 2 ] && grep -q "empty.h5: another run is writing this output right now" "$WORK/err" \
  || fail "another live run's empty partial folder: exit $code $(cat "$WORK/err")"
grep -q "name: other" "$WORK/empty.h5.partial/config.yaml" || fail "the live run's config.yaml was changed"
rm -f "$WORK/empty.h5.lock"
run output.path="$WORK/empty.h5" prune.ratios=[0,0.5] || fail "a dead run's empty partial folder blocks the run"
[ ! -e "$WORK/empty.h5.partial" ] && [ ! -e "$WORK/empty.h5.lock" ] || fail "left behind: $(ls -d "$WORK"/empty.h5.*)"

echo "== two runs racing for one output: one proceeds, the other stops at once naming it"
HEADPRUNE_TEST_BATCH_DELAY_MS=200 "$BIN" run "$WORK/run.yaml" output.path="$WORK/race.h5" 2>"$WORK/race1.log" &
pid=$!
for _ in $(seq 100); do ls "$WORK"/race.h5.partial/*rank0-0.h5 >/dev/null 2>&1 && break; sleep 0.1; done
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/race.h5" prune.ratios=[0,0.5] 2>"$WORK/race2.log"; code=$?; set -e
[ $code = 2 ] || { cat "$WORK/race2.log"; fail "the second racing run: exit $code (expected 2)"; }
[ "$(grep -c '' "$WORK/race2.log")" = 1 ] || fail "the second racing run printed more than one line: $(cat "$WORK/race2.log")"
grep -q "race.h5: another run is writing this output right now (run $(hostname):$pid since " "$WORK/race2.log" \
  || fail "the losing run's message does not name the winner: $(cat "$WORK/race2.log")"
wait $pid || { cat "$WORK/race1.log"; fail "the first racing run failed"; }
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/np1.h5" "$WORK/race.h5" || fail "the winning run's results differ"
[ ! -e "$WORK/race.h5.lock" ] && [ ! -e "$WORK/race.h5.partial" ] || fail "the race left $(ls -d "$WORK"/race.h5.*)"

echo "== a resume reads only its own checkpoints (config and inputs), with preemption in the loop"
preempt() { # OUTPUT ARGS... : a run stopped by SIGTERM after its second checkpoint
  local out="$1"; shift
  HEADPRUNE_TEST_BATCH_DELAY_MS=300 "$BIN" run "$WORK/run.yaml" output.path="$out" "$@" 2>"$WORK/preempt.log" &
  local p=$! c
  for _ in $(seq 100); do ls "$out".partial/*rank0-1.h5 >/dev/null 2>&1 && break; sleep 0.1; done
  kill -TERM $p; set +e; wait $p; c=$?; set -e
  [ $c = 3 ] || { cat "$WORK/preempt.log"; fail "preempted run: exit $c"; }
}
preempt "$WORK/mixA.h5"
preempt "$WORK/mixB.h5" scoring.random_seed=5
# Forced: another config's marker put over A's checkpoints (what same-second runs used to do).
sed 's/mixB\.h5/mixA.h5/' "$WORK/mixB.h5.partial/config.yaml" >"$WORK/mixA.h5.partial/config.yaml"
before=$(cd "$WORK/mixA.h5.partial" && sha256sum * | sha256sum)
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/mixA.h5" scoring.random_seed=5 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "mixA.h5.partial/.*rank0-0.h5: checkpoint of a run with another config or other inputs" "$WORK/err" \
  || fail "a forced resume with another config's checkpoints: exit $code $(cat "$WORK/err")"
[ "$before" = "$(cd "$WORK/mixA.h5.partial" && sha256sum * | sha256sum)" ] || fail "the refused resume changed the checkpoints"
[ ! -e "$WORK/mixA.h5" ] || fail "a refused resume wrote results"
# Same config, changed input (the questions file): refused as well.
cp "$WORK/data/questions.json" "$WORK/questions2.json"; echo " " >>"$WORK/questions2.json"
preempt "$WORK/mixC.h5" data.questions="$WORK/data/questions.json"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/mixC.h5" data.questions="$WORK/questions2.json" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "partial results of a different config\|checkpoint of a run with another config or other inputs" "$WORK/err" \
  || fail "a resume with changed inputs: exit $code $(cat "$WORK/err")"
cp "$WORK/questions2.json" "$WORK/data/questions_same_path.json"
preempt "$WORK/mixD.h5" data.questions="$WORK/data/questions_same_path.json"
echo " " >>"$WORK/data/questions_same_path.json"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/mixD.h5" data.questions="$WORK/data/questions_same_path.json" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "checkpoint of a run with another config or other inputs" "$WORK/err" \
  || fail "a resume with a changed questions file at the same path: exit $code $(cat "$WORK/err")"
# And the untouched one still resumes to the uninterrupted run's results.
run output.path="$WORK/mixB.h5" scoring.random_seed=5
grep -q "resume:" "$WORK/stderr" || fail "the untouched partial results did not resume"
run output.path="$WORK/mixB_ref.h5" scoring.random_seed=5
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/mixB_ref.h5" "$WORK/mixB.h5" || fail "resumed run B differs"

echo "== output paths are checked before any work"
mkdir -p "$WORK/outdir"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/outdir" --overwrite 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "outdir: is a folder" "$WORK/err" && ! grep -q "resolved config" "$WORK/err" \
  || fail "output path that is a folder: exit $code $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/outdir")" ] && [ ! -e "$WORK/outdir.partial" ] && [ ! -e "$WORK/outdir.tmp" ] || fail "left behind: $(ls -d "$WORK"/outdir*)"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/no/such/folder/out.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "folder .*no/such/folder does not exist" "$WORK/err" || fail "missing output folder: exit $code $(cat "$WORK/err")"
set +e; "$BIN" merge "$WORK/outdir" "$WORK/np1.h5" --overwrite 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "outdir: is a folder" "$WORK/err" || fail "merge onto a folder: exit $code $(cat "$WORK/err")"
set +e; "$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/outdir" --overwrite 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "outdir: is a folder" "$WORK/err" || fail "import onto a folder: exit $code $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/outdir")" ] && [ ! -e "$WORK/outdir.partial" ] && [ ! -e "$WORK/outdir.tmp" ] || fail "left behind: $(ls -d "$WORK"/outdir*)"
set +e; "$BIN" conformance --reference "$SRC/tests/data/lxmert" --out "$WORK/outdir" --overwrite 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "outdir: is a folder" "$WORK/err" || fail "conformance --out onto a folder: exit $code $(cat "$WORK/err")"
set +e; "$BIN" conformance --reference "$WORK/data" --out "$WORK/conf.h5" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ ! -e "$WORK/conf.h5.partial" ] && [ ! -e "$WORK/conf.h5" ] || fail "conformance error left $(ls -d "$WORK"/conf.h5* 2>/dev/null)"

echo "== command-line usage errors: one line with the prefix"
set +e; "$BIN" run 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ "$(grep -c '' "$WORK/err")" = 1 ] && grep -q "^headprune: error: " "$WORK/err" || fail "usage error: exit $code $(cat "$WORK/err")"
set +e; "$BIN" merge "$WORK/m.h5" "$WORK/np1.h5" --no-such-flag 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && [ "$(grep -c '' "$WORK/err")" = 1 ] && grep -q "^headprune: error: .*no-such-flag" "$WORK/err" || fail "unknown flag: exit $code $(cat "$WORK/err")"

echo "== drawings of an earlier run are not replaced without --overwrite"
mkdir -p "$WORK/vis" && echo "<html>mine</html>" >"$WORK/vis/index.html"
set +e; "$BIN" run "$WORK/run.yaml" output.path="$WORK/vis.h5" visualize.samples=[1] visualize.out_dir="$WORK/vis" 2>"$WORK/err"; code=$?; set -e
[ $code = 2 ] && grep -q "holds the drawings of an earlier run" "$WORK/err" || fail "existing drawings: exit $code $(cat "$WORK/err")"
[ ! -e "$WORK/vis.h5" ] && [ ! -e "$WORK/vis.h5.partial" ] || fail "the refused run started anyway"
grep -q "mine" "$WORK/vis/index.html" || fail "the earlier drawings were changed"
echo "all run-job checks passed"
