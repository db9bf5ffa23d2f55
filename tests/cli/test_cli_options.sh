#!/usr/bin/env bash
# CLI test of numeric option checks: exit 2 and one readable, prefixed line naming the option (CLI11's own
# range messages print 1.8e308, and an unsigned option would wrap "-1" to 2^64 - 1).
#   bash test_cli_options.sh <headprune-binary> <source-dir>
set -euo pipefail
BIN="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # expected-line args...
  local expected="$1" out rc
  shift
  set +e
  out="$("$BIN" "$@" 2>&1)"; rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "$*: exit $rc (expected 2): $out"
  [ "$(echo "$out" | grep -c '')" = 1 ] || fail "$*: more than one line: $out"
  [ "$out" = "headprune: error: $expected (see headprune --help)" ] || fail "$*: '$out', expected '$expected'"
}
check "--ranks: 0 is less than 1" demo --ranks 0
check "--seed: -1 is less than 0" demo --seed -1
check "--epochs: '1.5' is not an integer" train --epochs 1.5 --out /nonexistent/x
check "--progress-every: -1 is less than 0" import-features --tsv a --out b --progress-every -1
check "--probes: Value 100 not in range 0 to 64" conformance --reference x --probes 100
check "--progress-every: 'nan' is not a number" import-features --tsv a --out b --progress-every nan
echo "ok: option checks"
