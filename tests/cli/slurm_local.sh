#!/usr/bin/env bash
# A throwaway single-node Slurm (munged + slurmctld + slurmd) in one folder, for tests.
# Settings: the one-node slurm.conf written by slurm_up below (slurmctld + slurmd on localhost,
# proctrack/linuxproc instead of cgroups, MpiDefault=pmix). Sourced by tests/cli/test_slurm.sh:
#
#   source tests/cli/slurm_local.sh
#   slurm_install            # apt-get slurm-wlm + munge when missing (root or sudo)
#   slurm_up DIR [PARTITION] # writes DIR/slurm.conf, starts the daemons, exports SLURM_CONF,
#                            # waits until the node is idle (bounded); returns non-zero on failure
#   slurm_down               # scancel all jobs, stop slurmd, slurmctld, munged (by PID); idempotent
# A watchdog started by slurm_up runs slurm_down if the calling shell dies without doing so
# (SIGKILL from a test timeout).
#
# Nothing outside DIR is touched: own munge key and socket, own state, spool, log and pid files,
# free TCP ports picked at start. Can also be run directly for a smoke test:
#   bash tests/cli/slurm_local.sh selftest

SLURM_LOCAL_DIR=""

slurm_log() { echo "slurm_local: $*" >&2; }

slurm_install() {
  local missing=()
  command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 \
    || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 && command -v mungekey >/dev/null 2>&1 || missing+=(munge)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  slurm_log "installing ${missing[*]}"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_pid_of() { [ -s "$1" ] && cat "$1"; }

# slurm_up DIR [PARTITION]
slurm_up() {
  local dir="$1" part="${2:-hptest}"
  SLURM_LOCAL_DIR="$dir"
  local host
  host="$(hostname -s)"
  mkdir -p "$dir"/{munge,state,spool,log,run}
  chmod 755 "$dir" "$dir/munge"

  # munge: own key, socket, pid, log, seed.
  mungekey -c -k "$dir/munge/munge.key" -f >/dev/null 2>&1 || { slurm_log "mungekey failed"; return 1; }
  chmod 600 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket.2" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    || { slurm_log "munged failed to start:"; cat "$dir/log/munged.log" >&2; return 1; }
  local pid

  local ctld_port slurmd_port
  ctld_port="$(slurm_free_port)"
  slurmd_port="$(slurm_free_port)"
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port="$(slurm_free_port)"; done
  cat >"$dir/slurm.conf" <<EOF
ClusterName=hptest
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${dir}/munge/munge.socket.2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${dir}/run/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${dir}/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=10
NodeName=${host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=${part} Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"

  slurmctld -f "$SLURM_CONF" || { slurm_log "slurmctld failed:"; tail -20 "$dir/log/slurmctld.log" >&2; return 1; }
  for _ in $(seq 1 50); do [ -s "$dir/run/slurmctld.pid" ] && break; sleep 0.1; done
  slurmd -f "$SLURM_CONF" -N "$host" || { slurm_log "slurmd failed:"; tail -20 "$dir/log/slurmd.log" >&2; return 1; }
  for _ in $(seq 1 50); do [ -s "$dir/run/slurmd.pid" ] && break; sleep 0.1; done

  # A watchdog stops the daemons if this shell dies without calling slurm_down (e.g. killed by a
  # test timeout with SIGKILL, where no trap runs). It lives in its own session so that a kill
  # of our process group does not take it along.
  local me=$$ lib="${BASH_SOURCE[0]}"
  # shellcheck disable=SC2016  # expanded by the watchdog's bash
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
                  [ -d "$2" ] || exit 0
                  source "$3"; SLURM_LOCAL_DIR="$2"; export SLURM_CONF="$2/slurm.conf"; slurm_down' \
    slurm-watchdog "$me" "$dir" "$lib" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/run/watchdog.pid"

  # Up when the node reports idle (about a second); 30 s at most.
  local state=""
  for _ in $(seq 1 150); do
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -1)"
    case "$state" in idle|mixed|allocated) slurm_log "cluster up (node $host: $state)"; return 0 ;; esac
    sleep 0.2
  done
  slurm_log "node not idle after 30 s (state '$state')"
  tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2
  return 1
}

slurm_down() {
  local dir="$SLURM_LOCAL_DIR"
  [ -n "$dir" ] || return 0
  local f pid
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ -s "$dir/run/slurmctld.pid" ]; then
    # Cancel every job of this cluster and give their steps up to 15 s to end, so that no
    # slurmstepd or task outlives the daemons.
    scancel --quiet --user="$(id -un)" >/dev/null 2>&1 || true
    for _ in $(seq 1 75); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # Stop order: slurmd, slurmctld, munged; each by its PID (from its pid file, or the one we noted).
  for f in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    pid="$(slurm_pid_of "$f")" || continue
    rm -f "$f"   # no stale PID for a later slurm_down (or the watchdog) to hit
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if pid="$(slurm_pid_of "$dir/run/watchdog.pid")"; then
    rm -f "$dir/run/watchdog.pid"
    [ "$pid" = "$$" ] || kill -TERM "$pid" 2>/dev/null || true
  fi
  SLURM_LOCAL_DIR=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = "selftest" ]; then
  set -euo pipefail
  slurm_install
  T="$(mktemp -d)"
  trap 'slurm_down; rm -rf "$T"' EXIT
  slurm_up "$T/slurm"
  # shellcheck disable=SC2016  # expanded by the job
  id=$(sbatch --parsable -o "$T/out.txt" --wrap 'echo hello from $SLURM_JOB_ID on $(hostname -s)')
  for _ in $(seq 1 100); do squeue -h -j "$id" 2>/dev/null | grep -q . || break; sleep 0.2; done
  cat "$T/out.txt"
  grep -q "hello from $id" "$T/out.txt"
  echo "selftest ok"
fi
