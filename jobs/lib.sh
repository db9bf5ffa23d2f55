#!/usr/bin/env bash
# Shared by the scripts in jobs/ (sourced, not run). Needs HP_REPO = the repository root.

# Reads $HP_SETTINGS (if set) and jobs/settings.env with every variable exported, so that sbatch
# (which passes the environment on) and the job steps see the same values.
hp_load_settings() {
  set -a
  if [ -n "${HP_SETTINGS:-}" ]; then
    # shellcheck disable=SC1090
    source "$HP_SETTINGS" || { set +a; echo "jobs: cannot read HP_SETTINGS=$HP_SETTINGS" >&2; return 2; }
  fi
  # shellcheck source=jobs/settings.env
  source "$HP_REPO/jobs/settings.env"
  set +a
}

# The device= override of grid and multinode runs: HP_DEVICE, or cuda when the jobs ask for GPUs
# (HP_GPUS_PER_NODE > 0), or nothing (the config decides).
hp_device() {
  if [ -n "${HP_DEVICE:-}" ]; then
    echo "$HP_DEVICE"
  elif [ "${HP_GPUS_PER_NODE:-0}" -gt 0 ]; then
    echo cuda
  fi
}

# GPU runs start without Open MPI's memory patcher, which rewrites munmap & co. inside the process
# for its registration cache: on the lent H200 a CUDA run crashed in library teardown after
# MPI_Finalize (results complete, exit status 139) with it loaded (docs/gpu.md). A value the
# cluster or the user set already wins. DEVICE: the run's device (cuda or anything else).
# Sets HP_GPU_ENV_NOTE to what it exported, for the job log ("" if nothing).
# shellcheck disable=SC2034  # HP_GPU_ENV_NOTE is read by the calling job script
hp_gpu_mpi_env() {
  HP_GPU_ENV_NOTE=""
  case "${1:-}" in cuda | cuda:*) ;; *) return 0 ;; esac
  # Set but empty counts as the user's choice too (Open MPI's defaults).
  if [ -z "${OMPI_MCA_memory+x}" ]; then
    export OMPI_MCA_memory='^patcher'
    HP_GPU_ENV_NOTE="OMPI_MCA_memory=^patcher"
  fi
}

# The device a run of CONFIG with OVERRIDES will use: the last device=... override, else the
# config's top-level `device:` line (block-style YAML, as configs/ are written), else cpu.
hp_config_device() {
  local config="$1" dev="" arg
  shift
  for arg in "$@"; do
    case "$arg" in device=*) dev="${arg#device=}" ;; esac
  done
  if [ -z "$dev" ] && [ -r "$config" ]; then
    dev="$(sed -n -E 's/^device:[[:space:]]*["'\'']?([A-Za-z0-9:]+).*/\1/p' "$config" | tail -n 1)"
  fi
  echo "${dev:-cpu}"
}

# Loads $HP_MODULES with the cluster's `module` command (environment modules or Lmod).
hp_load_modules() {
  [ -n "${HP_MODULES:-}" ] || return 0
  if ! command -v module >/dev/null 2>&1; then
    local init
    for init in /etc/profile.d/modules.sh /etc/profile.d/lmod.sh /usr/share/lmod/lmod/init/bash \
                /usr/share/modules/init/bash; do
      # shellcheck disable=SC1090
      [ -r "$init" ] && source "$init" && break
    done
  fi
  command -v module >/dev/null 2>&1 || { echo "jobs: HP_MODULES is set but there is no 'module' command" >&2; return 2; }
  # shellcheck disable=SC2086  # a space-separated list on purpose
  module load $HP_MODULES
}

# The headprune binary: $HP_HEADPRUNE, else `headprune` on PATH, else build/headprune.
hp_binary() {
  if [ -n "${HP_HEADPRUNE:-}" ]; then
    echo "$HP_HEADPRUNE"
  elif command -v headprune >/dev/null 2>&1; then
    command -v headprune
  else
    echo "$HP_REPO/build/headprune"
  fi
}

# sbatch options shared by the grid array and multinode jobs, from the settings (one per line).
hp_sbatch_site_args() {
  echo "--partition=$HP_PARTITION"
  [ -z "$HP_ACCOUNT" ] || echo "--account=$HP_ACCOUNT"
  [ -z "$HP_QOS" ] || echo "--qos=$HP_QOS"
  [ -z "$HP_CONSTRAINT" ] || echo "--constraint=$HP_CONSTRAINT"
  echo "--time=$HP_TIME"
  [ -z "$HP_MEM" ] || echo "--mem=$HP_MEM"
  [ "$HP_GPUS_PER_NODE" -le 0 ] || echo "--gres=$HP_GPU_GRES:$HP_GPUS_PER_NODE"
  echo "--cpus-per-task=$HP_CPUS_PER_RANK"
  echo "--requeue"
  echo "--signal=B:USR1@$HP_SIGNAL_LEAD"
  echo "--open-mode=append"
}

# hp_run_requeueable CMD ARGS...
# Runs CMD (an srun line) in the background and waits for it. SIGUSR1 (sent by Slurm
# HP_SIGNAL_LEAD s before the time limit, --signal=B:USR1@...) and SIGTERM (preemption,
# scancel) are passed on to it; headprune then finishes its batch, checkpoints and exits with
# HP_REQUEUE_EXIT_CODE (3). On that code the job requeues itself (scontrol requeue), at most
# HP_MAX_REQUEUES times; the rerun of the same command resumes from the checkpoint.
# Returns CMD's exit code (0 after a successful requeue request).
hp_run_requeueable() {
  local child rc=0 sig
  "$@" &
  child=$!
  for sig in USR1 TERM INT; do
    # shellcheck disable=SC2064  # expand $child and $sig now
    trap "echo \"jobs: got SIG$sig, passing it on to $1 (pid $child)\" >&2; kill -$sig $child 2>/dev/null" "$sig"
  done
  # `wait` returns early (> 128) when a trapped signal arrives: wait again until the child is gone.
  while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
  done
  trap - USR1 TERM INT
  if [ "$rc" -eq "$HP_REQUEUE_EXIT_CODE" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    local restarts="${SLURM_RESTART_COUNT:-0}"
    if [ "$restarts" -ge "$HP_MAX_REQUEUES" ]; then
      echo "jobs: exit code $rc (checkpointed) but already requeued $restarts times (HP_MAX_REQUEUES): giving up" >&2
      return "$rc"
    fi
    echo "jobs: exit code $rc (checkpointed): requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))" >&2
    if scontrol requeue "$SLURM_JOB_ID"; then
      return 0
    fi
    echo "jobs: scontrol requeue $SLURM_JOB_ID failed" >&2
  fi
  return "$rc"
}

# Prints a command line, shell-quoted (for logs and --dry-run).
hp_print_cmd() {
  local out="" a
  for a in "$@"; do out+="$(printf '%q' "$a") "; done
  echo "${out% }"
}

# yaml_get FILE SECTION KEY: the value of SECTION.KEY (SECTION empty: a top-level key), lists
# (flow [a, b] or block "- a") printed as space-separated items. Enough for the run configs'
# simple keys; the run itself validates the full config.
hp_yaml_get() {
  awk -v want_sec="$2" -v want_key="$3" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    function unquote(s) { s = trim(s); if (s ~ /^".*"$/ || s ~ /^\x27.*\x27$/) s = substr(s, 2, length(s) - 2); return s }
    function strip_comment(s) { sub(/[ \t]+#.*$/, "", s); return s }
    function emit(v,   n, i, parts, out) {
      v = trim(strip_comment(v))
      if (v ~ /^\[/) {
        v = substr(v, 2); sub(/\][ \t]*$/, "", v)
        n = split(v, parts, ","); out = ""
        for (i = 1; i <= n; i++) { p = unquote(parts[i]); if (p != "") out = out (out == "" ? "" : " ") p }
        print out; found = 1; exit
      }
      if (v != "") { print unquote(v); found = 1; exit }
      inlist = 1
    }
    /^[ \t]*(#|$)/ { next }
    inlist {
      if ($0 ~ /^[ \t]*- /) { item = $0; sub(/^[ \t]*- /, "", item); items = items (items == "" ? "" : " ") unquote(strip_comment(item)); next }
      print items; found = 1; exit
    }
    /^[^ \t]/ {
      line = $0; k = line; sub(/:.*/, "", k); sec = k
      if (want_sec == "" && k == want_key) { v = line; sub(/^[^:]*:/, "", v); emit(v) }
      next
    }
    {
      if (sec != want_sec) next
      line = $0; k = trim(line); sub(/:.*/, "", k)
      if (k == want_key) { v = line; sub(/^[^:]*:/, "", v); emit(v) }
    }
    END { if (inlist && !found) print items }
  ' "$1"
}
