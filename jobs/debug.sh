#!/usr/bin/env bash
# A quick single-process look before a long run, no Slurm needed (a laptop, a GPU node you are
# logged in to, or inside `salloc`):
#   jobs/debug.sh [CONFIG] [key=value ...]
#     = mpirun -n ${HP_DEBUG_RANKS:-1} headprune run CONFIG [device=$HP_DEVICE] key=value ...
# CONFIG defaults to configs/lxmert_debug.yaml (64 questions, two methods, three ratios).
# HP_DEVICE=cuda runs on the (first) GPU; the default is what the config says (cpu for the
# debug config). HP_DEBUG_RANKS=2 tries two ranks. --dry-run prints the command only.
# The headprune binary: $HP_HEADPRUNE, else headprune on PATH, else build/headprune.
set -euo pipefail

HP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HP_REPO
# shellcheck source=jobs/lib.sh
source "$HP_REPO/jobs/lib.sh"
hp_load_settings
hp_load_modules

dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
config="$HP_REPO/configs/lxmert_debug.yaml"
if [ $# -gt 0 ] && [[ "$1" != *=* ]]; then config="$1"; shift; fi
[ -f "$config" ] || { echo "debug.sh: no such config: $config" >&2; exit 2; }

mpi=(mpirun -n "${HP_DEBUG_RANKS:-1}" --bind-to none)
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
overrides=()
[ -z "$HP_DEVICE" ] || overrides+=("device=$HP_DEVICE")
overrides+=("$@")
cmd=("${mpi[@]}" "$(hp_binary)" run "$config" "${overrides[@]}")
hp_gpu_mpi_env "$(hp_config_device "$config" "${overrides[@]}")"
echo "debug.sh: ${HP_GPU_ENV_NOTE:+$HP_GPU_ENV_NOTE }$(hp_print_cmd "${cmd[@]}")" >&2
[ "$dry" -eq 1 ] && exit 0
exec "${cmd[@]}"
