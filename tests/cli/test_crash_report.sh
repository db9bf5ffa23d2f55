#!/usr/bin/env bash
# CLI test of the fatal-signal report (src/common/crash.cpp): a crash prints one line naming the
# signal and the phase, then a backtrace, and the process still dies of that signal (exit 139 for
# SIGSEGV), so launchers and Slurm see a crash and not a success.
#   bash test_crash_report.sh <headprune-binary> <source-dir>
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A benchmark long enough to be interrupted mid-computation.
"$BIN" bench --models lxmert --samples 500 --lrp true >"$TMP/out.txt" 2>"$TMP/err.txt" &
pid=$!
for _ in $(seq 1 300); do
  [ -s "$TMP/out.txt" ] && break
  sleep 0.1
done
[ -s "$TMP/out.txt" ] || { kill -9 "$pid"; fail "the benchmark printed nothing in 30 s"; }
sleep 0.5
kill -SEGV "$pid"
set +e
wait "$pid"; rc=$?
set -e
[ "$rc" -eq 139 ] || { cat "$TMP/err.txt"; fail "expected exit status 139 (SIGSEGV), got $rc"; }
grep -Eq "^headprune\[pid $pid\]: fatal signal 11 \(SIGSEGV, sent by pid $$\) during the command; backtrace:$" "$TMP/err.txt" \
  || { cat "$TMP/err.txt"; fail "no fatal-signal line naming the pid, the signal, its sender and the phase"; }
# The backtrace reaches below the handler: frames in the libraries doing the work.
grep -Eq "lib(torch_cpu|torch|c10|openblas|gomp)[^ ]*\.so" "$TMP/err.txt" \
  || { cat "$TMP/err.txt"; fail "no frame of LibTorch/OpenBLAS in the backtrace"; }
echo "ok: fatal signal reported with $(grep -c '\[0x' "$TMP/err.txt") frames, exit $rc"
