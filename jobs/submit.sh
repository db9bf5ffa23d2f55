#!/usr/bin/env bash
# Builds the experiment grid from run configs and submits it to Slurm: one array task per grid
# cell (jobs/grid.sbatch), then the merge + report job (jobs/merge.sbatch) with
# --dependency=afterok on the array.
#
#   jobs/submit.sh [OPTIONS] [CONFIG ...]
#
# CONFIG ...             run configs, one per model (default: configs/lxmert_vqa.yaml
#                        configs/visualbert_vqa.yaml)
# The grid is CONFIG x methods x granularities x signs. Each of the three lists is a set of
# cells separated by spaces; values joined by ',' share one cell (one run, scores computed once):
#   --methods "LIST"        default: each method of the config's scoring.methods on its own
#   --granularities "LIST"  default: each of the config's prune.granularities on its own
#   --signs "LIST"          default: each of the config's prune.signs on its own
#   e.g. --methods "ours,random lrp" --granularities "head layer" --signs "positive,negative"
#   gives 2 x 2 x 1 cells per config.
# --set KEY=VALUE        a config override for every cell (repeatable), e.g. --set model.path=/m
# --out DIR              grid folder (default $HP_OUT = results/grid): grid.tsv, overrides.txt,
#                        runs/<cell>.h5, logs/, results.h5 (merged), report/
# --dry-run              print the grid and the sbatch lines; submit nothing, write nothing
# --multinode            instead of the grid: one jobs/multinode.sbatch job per CONFIG over
#                        $HP_NODES_MULTINODE nodes (the config's own methods etc., plus --set)
#
# Cluster settings (partition, account, time, GPUs, ranks, modules): jobs/settings.env, or
# environment variables of the same names (HP_PARTITION=... jobs/submit.sh ...).
# A cell is named <config name>.<methods>.<granularities>.<signs> (lists joined by '+'); it is
# the experiment's name in the merged file. Prints the array and merge job ids.
set -euo pipefail

HP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HP_REPO
# shellcheck source=jobs/lib.sh
source "$HP_REPO/jobs/lib.sh"
hp_load_settings

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "submit.sh: $*" >&2; exit 2; }

configs=()
methods_arg="" grans_arg="" signs_arg=""
sets=()
out="$HP_OUT"
dry=0
multinode=0
while [ $# -gt 0 ]; do
  case "$1" in
    --methods) methods_arg="${2:?--methods needs a value}"; shift 2 ;;
    --granularities) grans_arg="${2:?--granularities needs a value}"; shift 2 ;;
    --signs) signs_arg="${2:?--signs needs a value}"; shift 2 ;;
    --set) [[ "${2:-}" == *=* ]] || die "--set needs KEY=VALUE"; sets+=("$2"); shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --multinode) multinode=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || configs=("$HP_REPO/configs/lxmert_vqa.yaml" "$HP_REPO/configs/visualbert_vqa.yaml")

abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
out="$(abspath "$out")"

yaml_get() { hp_yaml_get "$@"; }

to_cells() { # "a,b c" -> lines "a,b" and "c"
  local w
  for w in $1; do echo "$w"; done
}

# Checks a run's config and overrides with `headprune run --check` here, before anything is
# queued: a typo in --set or --methods would otherwise fail every task after its wait in the queue.
# Exit 2 (a config error) stops the submission; where the binary cannot run on the submit host
# (not there, or its libraries come with HP_MODULES on the compute nodes) the tasks check instead.
check_run() { # CONFIG OVERRIDE...
  local bin rc=0
  bin="$(hp_binary)"
  [ -z "${cannot_check:-}" ] || return 0
  if [ -x "$bin" ]; then
    "$bin" run --check "$@" >/dev/null 2>"$check_log" || rc=$?
  else
    rc=127
  fi
  if [ "$rc" -eq 2 ]; then
    cat "$check_log" >&2
    die "$1: the config check failed (the line above; nothing was submitted)"
  elif [ "$rc" -ne 0 ]; then
    echo "submit.sh: cannot run $bin here (exit $rc); the tasks check their configs themselves" >&2
    cannot_check=1
  fi
}
check_log="$(mktemp)"
trap 'rm -f "$check_log"' EXIT

device="$(hp_device)"  # the device= override the jobs pass (jobs/grid.sbatch, jobs/multinode.sbatch)

# --- multinode: one job per config ---------------------------------------------------------------
if [ "$multinode" -eq 1 ]; then
  mapfile -t site < <(hp_sbatch_site_args)
  for cfg in "${configs[@]}"; do
    [ -f "$cfg" ] || die "no such config: $cfg"
    name="$(yaml_get "$cfg" "" name)"
    [ -n "$name" ] || name="$(basename "$cfg" .yaml)"
    check_run "$(abspath "$cfg")" ${device:+"device=$device"} "${sets[@]}"
    cmd=(sbatch --parsable "${site[@]}" --nodes="$HP_NODES_MULTINODE" --ntasks-per-node="$HP_RANKS_PER_TASK"
         --job-name="hp-$name" --output="$out/logs/multinode-$name-%j.out" --chdir="$HP_REPO"
         --export=ALL "$HP_REPO/jobs/multinode.sbatch" "$(abspath "$cfg")" "${sets[@]}")
    if [ "$dry" -eq 1 ]; then
      hp_print_cmd "${cmd[@]}"
    else
      mkdir -p "$out/logs"
      "${cmd[@]}"
    fi
  done
  exit 0
fi

# --- the grid ------------------------------------------------------------------------------------
grid=()     # "index<TAB>cell<TAB>config<TAB>methods<TAB>grans<TAB>signs"
declare -A seen=()
for cfg in "${configs[@]}"; do
  [ -f "$cfg" ] || die "no such config: $cfg"
  cfg_abs="$(abspath "$cfg")"
  name="$(yaml_get "$cfg" "" name)"
  [ -n "$name" ] || die "$cfg: no top-level 'name'"
  m="${methods_arg:-$(yaml_get "$cfg" scoring methods)}"; m="${m:-ours}"
  g="${grans_arg:-$(yaml_get "$cfg" prune granularities)}"; g="${g:-head}"
  s="${signs_arg:-$(yaml_get "$cfg" prune signs)}"; s="${s:-positive negative}"
  while read -r mc; do
    while read -r gc; do
      while read -r sc; do
        cell="$name.${mc//,/+}.${gc//,/+}.${sc//,/+}"
        [[ "$cell" =~ ^[A-Za-z0-9._+-]+$ ]] || die "cell name '$cell' has characters a run name cannot have"
        [ -z "${seen[$cell]:-}" ] || die "two grid cells named $cell (two configs with the same name?)"
        seen[$cell]=1
        grid+=("${#grid[@]}"$'\t'"$cell"$'\t'"$cfg_abs"$'\t'"$mc"$'\t'"$gc"$'\t'"$sc")
      done < <(to_cells "$s")
    done < <(to_cells "$g")
  done < <(to_cells "$m")
done
n=${#grid[@]}
[ "$n" -gt 0 ] || die "empty grid"

overrides=()
[ -z "$device" ] || overrides+=("device=$device")
overrides+=("${sets[@]}")
for line in "${grid[@]}"; do  # exactly the overrides jobs/grid.sbatch passes
  IFS=$'\t' read -r _ cell cfg_abs mc gc sc <<<"$line"
  check_run "$cfg_abs" "${overrides[@]}" "name=$cell" "scoring.methods=[$mc]" "prune.granularities=[$gc]" \
    "prune.signs=[$sc]" "output.path=$out/runs/$cell.h5"
done

mapfile -t site < <(hp_sbatch_site_args)
array="0-$((n - 1))"
[ -z "$HP_ARRAY_MAX_PARALLEL" ] || array+="%$HP_ARRAY_MAX_PARALLEL"
array_cmd=(sbatch --parsable "${site[@]}" --array="$array" --ntasks="$HP_RANKS_PER_TASK"
           --output="$out/logs/grid-%A_%a.out" --chdir="$HP_REPO" --export=ALL
           "$HP_REPO/jobs/grid.sbatch" "$out/grid.tsv")
merge_site=("--partition=${HP_MERGE_PARTITION:-$HP_PARTITION}" "--time=$HP_MERGE_TIME")
[ -z "$HP_ACCOUNT" ] || merge_site+=("--account=$HP_ACCOUNT")
[ -z "$HP_QOS" ] || merge_site+=("--qos=$HP_QOS")
merge_cmd=(sbatch --parsable "${merge_site[@]}" --ntasks=1 --cpus-per-task=1 --kill-on-invalid-dep=yes
           --output="$out/logs/merge-%j.out" --chdir="$HP_REPO" --export=ALL)

echo "# grid: $n cell(s) -> $out"
for row in "${grid[@]}"; do echo "#   ${row//$'\t'/  }"; done
[ ${#overrides[@]} -eq 0 ] || echo "# overrides for every cell: ${overrides[*]}"

if [ "$dry" -eq 1 ]; then
  hp_print_cmd "${array_cmd[@]}"
  hp_print_cmd "${merge_cmd[@]}" "--dependency=afterok:<ARRAY_JOB_ID>" "$HP_REPO/jobs/merge.sbatch" "$out"
  exit 0
fi

mkdir -p "$out/runs" "$out/logs"
printf '%s\n' "${grid[@]}" >"$out/grid.tsv"
if [ ${#overrides[@]} -gt 0 ]; then printf '%s\n' "${overrides[@]}" >"$out/overrides.txt"; else : >"$out/overrides.txt"; fi

bin="$(hp_binary)"
[ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1 || echo "submit.sh: warning: headprune binary '$bin' not found here" >&2

array_id="$("${array_cmd[@]}")"
array_id="${array_id%%;*}"
merge_id="$("${merge_cmd[@]}" "--dependency=afterok:$array_id" "$HP_REPO/jobs/merge.sbatch" "$out")"
merge_id="${merge_id%%;*}"
echo "array job $array_id ($n task(s)), merge job $merge_id"
echo "ARRAY_JOB_ID=$array_id"
echo "MERGE_JOB_ID=$merge_id"
