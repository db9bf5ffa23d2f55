#!/usr/bin/env bash
# The Slurm jobs of jobs/ on a real single-node Slurm, started and stopped by this test:
#   bash test_slurm.sh <headprune-binary> <source-dir>
#
# 1. Installs slurm-wlm and munge when missing (apt-get --no-install-recommends), starts munged,
#    slurmctld and slurmd in a temporary folder (tests/cli/slurm_local.sh) and ALWAYS stops them
#    again (trap).
# 2. Generates a tiny VQA dataset (tests/support/make_tiny_dataset.py + headprune
#    import-features) and one run config per model family of FAMILIES below (each the bundled
#    fixture model tests/data/<family>), every scoring method of the binary's registry in each.
# 3. jobs/submit.sh --dry-run prints the two sbatch lines and submits nothing; with the shipped
#    configs and no flags it lists the seed's 16 cells (both models x ours, lrp x head, layer x
#    positive, negative) plus VisualBERT's baselines; --multinode --dry-run prints a 2-node sbatch
#    line; jobs/debug.sh runs one config on one rank (mpirun).
# 4. jobs/submit.sh submits the grid: one config per family x method cells {ours+random, every
#    other method} (--methods) x granularities {head, layer} (from the configs) x signs
#    {positive+negative} = 4 array tasks per family of 2 MPI ranks each (srun --mpi=pmix), and the
#    merge + report job (afterok).
# 5. Preemption: while task 0 runs, Slurm's time-limit warning (SIGUSR1 to the batch shell, as
#    --signal=B:USR1@... sends it) is sent by hand; the job script passes it on, headprune
#    checkpoints and exits 3, the task requeues itself; the requeue hold (Slurm delays a requeued
#    job by ~2 min) is lifted with scontrol so the test stays short; the rerun resumes.
# 6. Waits (bounded: $HP_SLURM_TEST_TIMEOUT s, default 240, polling squeue), then checks: every
#    task and the merge job COMPLETED; the merged file holds every grid cell as an experiment,
#    each with the curves of its methods x granularities x signs and the right model family, and
#    every method of the registry in some cell of every config; the report ranks every method of
#    every family by faithfulness (faithfulness.csv);
#    the preempted cell restarted once, resumed, and equals an uninterrupted run of the same
#    command; report.md, tables.md (a row for every cell) and the plots exist; the merge job drew
#    the relevance pictures of each config (the first two questions of its selection) and
#    report.md links them.
set -euo pipefail
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
SRC="$(cd "$2" && pwd)"
PY=/usr/bin/python3
TIMEOUT="${HP_SLURM_TEST_TIMEOUT:-240}"
# The model families of the grid: one config each (tiny_<family>, model tests/data/<family>); a
# family whose inputs are not region features also gets a case in data_keys below.
FAMILIES=(lxmert visualbert vilt)

WORK="$(mktemp -d /tmp/headprune-slurm-test.XXXXXX)"
chmod 755 "$WORK"
# shellcheck source=tests/cli/slurm_local.sh
source "$SRC/tests/cli/slurm_local.sh"
cleanup() {
  local rc=$?
  slurm_down
  if [ "$rc" -ne 0 ] && [ -n "${KEEP_FAILED:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
  local f
  for f in "$WORK"/grid/logs/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  [ -f "$WORK/slurm/log/slurmctld.log" ] && { echo "--- slurmctld.log"; tail -n 20 "$WORK/slurm/log/slurmctld.log"; }
  return 0
}
fail() { echo "FAIL: $*" >&2; show_logs >&2; exit 1; }

# --- prerequisites -------------------------------------------------------------------------------
[ -x "$BIN" ] || fail "no headprune binary at $BIN"
help="$("$BIN" --help 2>&1)"
if ! grep -qE '^ +run ' <<<"$help" || ! grep -qE '^ +merge ' <<<"$help"; then
  fail "$BIN has no 'run' and 'merge' subcommands"
fi
"$PY" -c 'import h5py, numpy, matplotlib' 2>/dev/null \
  || fail "$PY lacks h5py/numpy/matplotlib (scripts/install-deps.sh installs them)"
slurm_install || fail "could not install slurm-wlm and munge"
if command -v shellcheck >/dev/null 2>&1; then
  (cd "$SRC" && shellcheck -x jobs/*.sh jobs/*.sbatch jobs/settings.env) || fail "shellcheck of jobs/"
fi

# Every scoring method of the binary's registry: a method added to src/explain/registry.cpp joins the grid.
# shellcheck source=tests/support/scoring_methods.sh
source "$SRC/tests/support/scoring_methods.sh"
METHODS="$(scoring_methods "$BIN" "$SRC")" || fail "could not read the scoring methods"
OTHER_METHODS="$(tr ',' '\n' <<<"$METHODS" | grep -vxE 'ours|random' | paste -sd, -)"

# --- data and configs ----------------------------------------------------------------------------
"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions 16 --images 6 >/dev/null
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" --progress-every 0 \
  >/dev/null 2>&1 || fail "import-features"
mkdir -p "$WORK/configs"
# ViLT reads pixels: the fixture's PNGs under the tiny dataset's image ids; its answers are its
# config.json's id2label.
mkdir -p "$WORK/data/images"
i=0
for id in $("$PY" -c 'import json, sys; print(" ".join(sorted({q["img_id"] for q in json.load(open(sys.argv[1]))})))' \
              "$WORK/data/questions.json"); do
  pngs=("$SRC"/tests/data/vilt/images/*.png)
  cp "${pngs[$(( i % ${#pngs[@]} ))]}" "$WORK/data/images/$id.png"
  i=$(( i + 1 ))
done
data_keys() { # FAMILY: the config's image inputs and answer list
  case "$1" in
    vilt) echo "  images: $WORK/data/images" ;;
    *) printf '  features: %s\n  answers: %s\n' "$WORK/data/features.h5" "$WORK/data/answers" ;;
  esac
}
write_config() { # FAMILY
  cat >"$WORK/configs/tiny_$1.yaml" <<YAML
# generated by test_slurm.sh
name: tiny_$1
model:
  family: $1
  path: $SRC/tests/data/$1
  max_regions: 7
data:
  questions: $WORK/data/questions.json   # tiny LXMERT-style questions
$(data_keys "$1")
  num_samples: 12
scoring:
  methods: [$METHODS]
  ig_steps: 2   # attattr: 1 + 2 M S forwards per sample
prune:
  protocols: [per_sample]
  granularities:
    - head
    - layer
  signs: [positive, negative]
  ratios: [0, 0.3, 0.6, 0.9]
run:
  batch_size: 1
  threads_per_rank: 1
  checkpoint_every: 1
  progress_seconds: 0
output:
  path: $WORK/unused.h5
YAML
}
CONFIGS=()
for family in "${FAMILIES[@]}"; do
  write_config "$family"
  CONFIGS+=("$WORK/configs/tiny_$family.yaml")
done
NCELLS=$(( ${#FAMILIES[@]} * 2 * 2 ))  # families x method cells x granularities

# --- cluster -------------------------------------------------------------------------------------
slurm_up "$WORK/slurm" hptest || fail "the Slurm cluster did not come up"

# The cluster's settings, as a user sets them: environment variables read by jobs/settings.env.
export HP_PARTITION=hptest HP_GPUS_PER_NODE=0 HP_DEVICE=cpu HP_RANKS_PER_TASK=2 HP_CPUS_PER_RANK=1
export HP_TIME=00:10:00 HP_MERGE_TIME=00:05:00 HP_HEADPRUNE="$BIN" HP_PYTHON="$PY" HP_MODULES=""
export HP_OUT="$WORK/grid" HP_MAX_REQUEUES=2
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1
# Slows each batch down so that the preemption below lands while task 0 is still running.
export HEADPRUNE_TEST_BATCH_DELAY_MS=250

submit=("$SRC/jobs/submit.sh" --methods "ours,random $OTHER_METHODS" --signs "positive,negative"
        --set run.progress_seconds=0 "${CONFIGS[@]}")

# Multi-node example: only its sbatch line (one node here). Debug script: a real one-rank run.
"$SRC/jobs/submit.sh" --multinode --dry-run "$WORK/configs/tiny_visualbert.yaml" >"$WORK/dry_mn.txt" 2>&1 \
  || { cat "$WORK/dry_mn.txt"; fail "submit.sh --multinode --dry-run"; }
grep -q -- "--nodes=2 .*jobs/multinode.sbatch $WORK/configs/tiny_visualbert.yaml" "$WORK/dry_mn.txt" \
  || { cat "$WORK/dry_mn.txt"; fail "multinode dry run"; }
HEADPRUNE_TEST_BATCH_DELAY_MS=0 "$SRC/jobs/debug.sh" "$WORK/configs/tiny_lxmert.yaml" "output.path=$WORK/debug.h5" \
  "scoring.methods=[ours,random]" \
  >"$WORK/debug.log" 2>&1 || { cat "$WORK/debug.log"; fail "jobs/debug.sh"; }
grep -q "debug.sh: mpirun -n 1 " "$WORK/debug.log" || fail "debug.sh: no mpirun -n 1 line"
[ -s "$WORK/debug.h5" ] || fail "debug.sh wrote no results"
# GPU runs go without Open MPI's memory patcher unless the user set OMPI_MCA_memory (jobs/lib.sh).
env -u OMPI_MCA_memory HP_DEVICE=cuda "$SRC/jobs/debug.sh" --dry-run "$WORK/configs/tiny_lxmert.yaml" 2>"$WORK/dbg_gpu.txt"
grep -q "debug.sh: OMPI_MCA_memory=^patcher mpirun -n 1 .* device=cuda" "$WORK/dbg_gpu.txt" \
  || { cat "$WORK/dbg_gpu.txt"; fail "debug.sh on cuda: no OMPI_MCA_memory=^patcher"; }
OMPI_MCA_memory=patcher HP_DEVICE=cuda "$SRC/jobs/debug.sh" --dry-run "$WORK/configs/tiny_lxmert.yaml" 2>"$WORK/dbg_gpu.txt"
if grep -q "OMPI_MCA_memory" "$WORK/dbg_gpu.txt"; then cat "$WORK/dbg_gpu.txt"; fail "debug.sh replaced the user's OMPI_MCA_memory"; fi
{ cat "$WORK/configs/tiny_lxmert.yaml"; echo "device: cuda:0"; } >"$WORK/gpu_config.yaml"
env -u OMPI_MCA_memory HP_DEVICE= "$SRC/jobs/debug.sh" --dry-run "$WORK/gpu_config.yaml" 2>"$WORK/dbg_gpu.txt"
grep -q "debug.sh: OMPI_MCA_memory=^patcher mpirun" "$WORK/dbg_gpu.txt" \
  || { cat "$WORK/dbg_gpu.txt"; fail "debug.sh, config on cuda:0: no OMPI_MCA_memory=^patcher"; }
env -u OMPI_MCA_memory HP_DEVICE=cpu "$SRC/jobs/debug.sh" --dry-run "$WORK/configs/tiny_lxmert.yaml" 2>"$WORK/dbg_cpu.txt"
if grep -q "OMPI_MCA_memory" "$WORK/dbg_cpu.txt"; then cat "$WORK/dbg_cpu.txt"; fail "debug.sh on cpu set OMPI_MCA_memory"; fi

# --- a typo in an override: refused before anything is queued ------------------------------------
set +e; "${submit[@]}" --set prune.ratio=[0] >"$WORK/typo.txt" 2>&1; rc=$?; set -e
[ "$rc" -ne 0 ] || { cat "$WORK/typo.txt"; fail "submit.sh accepted an unknown override key"; }
grep -q "unknown key 'prune.ratio' (did you mean 'prune.ratios'?)" "$WORK/typo.txt" || { cat "$WORK/typo.txt"; fail "typo message"; }
if grep -q '^[0-9]' "$WORK/typo.txt"; then cat "$WORK/typo.txt"; fail "a job id was printed: something was submitted"; fi
set +e; "${submit[@]}" --multinode --dry-run --set prune.ratio=[0] >"$WORK/typo.txt" 2>&1; rc=$?; set -e
[ "$rc" -ne 0 ] && grep -q "unknown key 'prune.ratio'" "$WORK/typo.txt" || { cat "$WORK/typo.txt"; fail "multinode: typo accepted"; }
# The check sees the device= override the jobs pass: tf32 is valid on cuda (and only there).
HP_DEVICE=cuda "${submit[@]}" --multinode --dry-run --set precision=tf32 >"$WORK/tf32.txt" 2>&1 \
  || { cat "$WORK/tf32.txt"; fail "multinode: precision=tf32 with HP_DEVICE=cuda refused"; }
HP_DEVICE=cuda "${submit[@]}" --dry-run --set precision=tf32 >"$WORK/tf32.txt" 2>&1 \
  || { cat "$WORK/tf32.txt"; fail "grid: precision=tf32 with HP_DEVICE=cuda refused"; }
# A binary that cannot start here (libraries from HP_MODULES on the nodes): the tasks check instead.
printf '#!/bin/sh\nexit 127\n' >"$WORK/nobin" && chmod +x "$WORK/nobin"
HP_HEADPRUNE="$WORK/nobin" "${submit[@]}" --dry-run >"$WORK/nobin.txt" 2>&1 \
  || { cat "$WORK/nobin.txt"; fail "a binary that cannot run on the submit host blocked the dry run"; }
grep -q "the tasks check their configs themselves" "$WORK/nobin.txt" || { cat "$WORK/nobin.txt"; fail "no note"; }

# --- dry run: the sbatch lines, nothing submitted ------------------------------------------------
"${submit[@]}" --dry-run >"$WORK/dry.txt" 2>&1 || { cat "$WORK/dry.txt"; fail "submit.sh --dry-run"; }
[ "$(grep -c '^sbatch ' "$WORK/dry.txt")" = 2 ] || { cat "$WORK/dry.txt"; fail "dry run: expected 2 sbatch lines"; }
grep -q -- "--array=0-$((NCELLS - 1)) " "$WORK/dry.txt" || { cat "$WORK/dry.txt"; fail "dry run: no --array=0-$((NCELLS - 1))"; }
grep -q -- '--dependency=afterok:' "$WORK/dry.txt" || fail "dry run: no afterok dependency"
[ ! -e "$WORK/grid" ] || fail "dry run wrote $WORK/grid"
[ -z "$(squeue -h -o %i)" ] || fail "dry run submitted jobs"

# --- the shipped configs, no flags: the seed's grid ---------------------------------------------
(cd "$SRC" && jobs/submit.sh --dry-run configs/lxmert_vqa.yaml configs/visualbert_vqa.yaml) >"$WORK/seed.txt" 2>&1 \
  || { cat "$WORK/seed.txt"; fail "submit.sh --dry-run of the shipped configs"; }
seed_cells=0
for model in lxmert_vqa visualbert_vqa; do
  for m in ours lrp; do
    for g in head layer; do
      for s in positive negative; do
        grep -qE "^#   [0-9]+  $model\.$m\.$g\.$s  " "$WORK/seed.txt" || { cat "$WORK/seed.txt"; fail "no seed cell $model.$m.$g.$s"; }
        seed_cells=$((seed_cells + 1))
      done
    done
  done
done
baselines=0
for m in michel confidence random; do
  for g in head layer; do
    for s in positive negative; do
      grep -qE "^#   [0-9]+  visualbert_vqa\.$m\.$g\.$s  " "$WORK/seed.txt" || { cat "$WORK/seed.txt"; fail "no baseline cell $m.$g.$s"; }
      baselines=$((baselines + 1))
    done
  done
done
total=$((seed_cells + baselines))
grep -q "^# grid: $total cell(s)" "$WORK/seed.txt" || { cat "$WORK/seed.txt"; fail "expected $seed_cells seed + $baselines baseline cells"; }
grep -q -- "--array=0-$((total - 1)) " "$WORK/seed.txt" || { cat "$WORK/seed.txt"; fail "seed grid: no --array=0-$((total - 1))"; }
echo "shipped configs: $seed_cells seed cells + $baselines baseline cells"

# --- the grid ------------------------------------------------------------------------------------
start=$(date +%s)
deadline=$((start + TIMEOUT))
"${submit[@]}" >"$WORK/submit.txt" 2>&1 || { cat "$WORK/submit.txt"; fail "submit.sh"; }
array_id="$(sed -n 's/^ARRAY_JOB_ID=//p' "$WORK/submit.txt")"
merge_id="$(sed -n 's/^MERGE_JOB_ID=//p' "$WORK/submit.txt")"
if [ -z "$array_id" ] || [ -z "$merge_id" ]; then cat "$WORK/submit.txt"; fail "no job ids from submit.sh"; fi
mapfile -t cells < <(cut -f2 "$WORK/grid/grid.tsv")
[ ${#cells[@]} -eq "$NCELLS" ] || fail "grid.tsv has ${#cells[@]} cells, expected $NCELLS"
echo "submitted array $array_id (${#cells[@]} tasks) and merge $merge_id"

# --- preemption of task 0 ------------------------------------------------------------------------
victim="${cells[0]}"
until compgen -G "$WORK/grid/runs/$victim.h5.partial/*" >/dev/null; do
  [ ! -f "$WORK/grid/runs/$victim.h5" ] || fail "task 0 finished before it could be preempted (raise the delay)"
  [ "$(date +%s)" -lt "$deadline" ] || fail "task 0 never wrote a checkpoint"
  sleep 0.1
done
# Slurm 22.05 delivers the signal to an array task's batch shell but may answer "Job can not be
# altered now, try again later", and scancel then retries for minutes: cut it short; whether the
# signal arrived is checked below (the task requeues itself).
timeout 5 scancel --batch --signal=USR1 "${array_id}_0" 2>/dev/null || true
echo "sent SIGUSR1 to task 0 ($victim) after its first checkpoint"
requeued=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  info="$(scontrol show job "${array_id}_0" 2>/dev/null || true)"
  if grep -q 'Restarts=1' <<<"$info" && grep -q 'JobState=PENDING' <<<"$info"; then
    # Slurm holds a requeued batch job for ~2 minutes (BeginTime); a test need not wait for that.
    scontrol update jobid="${array_id}_0" StartTime=now || fail "could not release the requeued task"
    requeued=1
    break
  fi
  if grep -qE 'JobState=(COMPLETED|FAILED|CANCELLED)' <<<"$info"; then break; fi
  sleep 0.2
done
[ "$requeued" -eq 1 ] || fail "task 0 was not requeued after SIGUSR1: $(grep -E 'JobState|Restarts' <<<"$info")"

# --- wait for everything -------------------------------------------------------------------------
while [ -n "$(squeue -h -j "$array_id,$merge_id" -o %i 2>/dev/null)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { squeue; fail "jobs still queued after ${TIMEOUT}s"; }
  sleep 0.5
done
echo "all jobs left the queue after $(( $(date +%s) - start ))s"

state_of() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
for i in "${!cells[@]}"; do
  st="$(state_of "${array_id}_$i")"
  [ "$st" = COMPLETED ] || fail "task $i (${cells[$i]}): state $st"
done
st="$(state_of "$merge_id")"
[ "$st" = COMPLETED ] || fail "merge job: state $st"

# --- the preempted task --------------------------------------------------------------------------
log0="$(ls "$WORK"/grid/logs/grid-"${array_id}"_0.out)"
grep -q "requeueing job" "$log0" || fail "task 0 log: no requeue"
grep -q "restart 1" "$log0" || fail "task 0 log: no second start"
grep -q "resume:" "$log0" || fail "task 0 log: the rerun did not resume from the checkpoint"
[ ! -e "$WORK/grid/runs/$victim.h5.partial" ] || fail "checkpoint of task 0 left behind"
IFS=$'\t' read -r _ _ cfg0 m0 g0 s0 < <(head -1 "$WORK/grid/grid.tsv")
HEADPRUNE_TEST_BATCH_DELAY_MS=0 "$BIN" run "$cfg0" device=cpu run.progress_seconds=0 "name=$victim" \
  "scoring.methods=[$m0]" "prune.granularities=[$g0]" "prune.signs=[$s0]" "output.path=$WORK/uninterrupted.h5" \
  >/dev/null 2>&1 || fail "uninterrupted run of $victim"
"$PY" "$SRC/tests/support/compare_results.py" "$WORK/uninterrupted.h5" "$WORK/grid/runs/$victim.h5" >/dev/null \
  || fail "the preempted and resumed cell differs from an uninterrupted run"

# --- the merged file and the report --------------------------------------------------------------
merged="$WORK/grid/results.h5"
[ -f "$merged" ] || fail "no merged file $merged"
"$PY" - "$merged" "$WORK/grid/grid.tsv" "$METHODS" <<'PYCHECK' || fail "merged file"
import sys
import h5py
merged, grid = sys.argv[1:3]
all_methods = set(sys.argv[3].split(","))
covered = {}
problems = []
with h5py.File(merged, "r") as f:
    exps = set(f["experiments"])
    cells = [line.rstrip("\n").split("\t") for line in open(grid) if line.strip()]
    want = {c[1] for c in cells}
    if exps != want:
        problems.append(f"experiments {sorted(exps)} != grid cells {sorted(want)}")
    for _, cell, _, methods, grans, signs in cells:
        if cell not in exps:
            continue
        g = f[f"experiments/{cell}"]
        fam = g["meta"].attrs["model_family"]
        config = cell.split(".")[0]
        want_fam = config[len("tiny_"):]
        covered.setdefault(config, set()).update(methods.split(","))
        if fam != want_fam:
            problems.append(f"{cell}: model_family {fam}")
        for m in methods.split(","):
            for gr in grans.split(","):
                for s in signs.split(","):
                    p = f"curves/per_sample/{m}/{gr}/{s}/accuracy_x100"
                    if p not in g or g[p].shape != (4,):
                        problems.append(f"{cell}: no {p}")
        got = {(m, gr, s) for m in g["curves/per_sample"] for gr in g[f"curves/per_sample/{m}"]
               for s in g[f"curves/per_sample/{m}/{gr}"]}
        if len(got) != len(methods.split(",")) * len(grans.split(",")) * len(signs.split(",")):
            problems.append(f"{cell}: curves {sorted(got)}")
for config, got in sorted(covered.items()):
    if got != all_methods:
        problems.append(f"{config}: methods {sorted(got)} != every method {sorted(all_methods)}")
print("\n".join(problems) if problems else f"merged file: {len(exps)} experiments = the grid cells, "
      f"{len(all_methods)} methods per config")
sys.exit(1 if problems else 0)
PYCHECK
rep="$WORK/grid/report"
[ -s "$rep/report.md" ] || fail "no report.md"
for c in "${cells[@]}"; do
  grep -q "^| $c | per_sample |" "$rep/tables.md" || fail "tables.md has no row of $c"
done
n_png=$(find "$rep/plots" -name '*.png' -size +1k | wc -l)
[ "$n_png" -ge 6 ] || fail "report: only $n_png PNG plots"
for family in "${FAMILIES[@]}"; do
  for g in head layer; do
    grep -q "](plots/curves_tiny_${family}_per_sample_$g.png)" "$rep/report.md" \
      || fail "report.md does not embed the $family $g curves"
  done
done
# The faithfulness ranking: every method of every family, per granularity.
"$PY" - "$rep/faithfulness.csv" "$METHODS" "${FAMILIES[@]}" <<'PYCHECK' || fail "faithfulness ranking"
import csv
import sys
path, methods, families = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3:]
rows = list(csv.DictReader(open(path, encoding="utf-8")))
problems = []
for fam in families:
    for g in ("head", "layer"):
        got = [r for r in rows if r["group"] == f"tiny_{fam}" and r["protocol"] == "per_sample" and r["granularity"] == g]
        if {r["method"] for r in got} != methods or len(got) != len(methods):
            problems.append(f"tiny_{fam} {g}: ranked {[r['method'] for r in got]}")
        gaps = [float(r["gap"]) for r in got]
        if gaps != sorted(gaps, reverse=True) or not all(float(r["ci_low"]) <= float(r["gap"]) <= float(r["ci_high"])
                                                         for r in got):
            problems.append(f"tiny_{fam} {g}: not ordered by the gap, or an interval misses its gap")
print("\n".join(problems) if problems else f"faithfulness ranking: {len(methods)} methods x {len(families)} families")
sys.exit(1 if problems else 0)
PYCHECK
grep -q "^### Faithfulness ranking of the methods" "$rep/report.md" || fail "report.md has no faithfulness ranking"
# The relevance pictures: per config the first two questions of its selection (as the cell's
# results list them), linked from report.md.
for family in "${FAMILIES[@]}"; do
  name="tiny_$family"
  [ -s "$rep/pictures/$name/index.html" ] || fail "no pictures of $name"
  cell="$(cut -f2 "$WORK/grid/grid.tsv" | grep -m1 "^$name\.")"
  mapfile -t first < <("$PY" -c 'import sys, h5py
q = h5py.File(sys.argv[1], "r")["experiments/" + sys.argv[2] + "/samples/question_id"][:2]
print("\n".join(x.decode() if isinstance(x, bytes) else str(x) for x in q))' "$WORK/grid/runs/$cell.h5" "$cell")
  [ ${#first[@]} = 2 ] || fail "$cell: no question ids"
  for q in "${first[@]}"; do
    [ -s "$rep/pictures/$name/$q/strip.png" ] || fail "no picture of question $q of $name"
    grep -qF "](pictures/$name/$q/strip.png)" "$rep/report.md" || fail "report.md does not show question $q of $name"
  done
  [ "$(find "$rep/pictures/$name" -name strip.png | wc -l)" = 2 ] || fail "$name: not two pictures"
  grep -qF "](pictures/$name/index.html)" "$rep/report.md" || fail "report.md does not link the pictures of $name"
done
echo "ok: ${#cells[@]} cells on Slurm, task 0 preempted + requeued + resumed, merged, report written" \
     "($(( $(date +%s) - start ))s)"
