#!/usr/bin/env bash
# CLI test of `headprune import-features --mmf-lmdb`: an LMDB written as MMF writes it imports
# (exit 0, no partial file); broken entries give exit 2, one error line naming the LMDB and the
# entry key, and leave no store behind.
#   bash test_import_mmf.sh <headprune-binary> <source-dir>
set -euo pipefail
BIN="$1"
SRC="$2"
PY=/usr/bin/python3   # Debian's python3 with python3-numpy and python3-lmdb
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. A good import.
"$PY" "$SRC/tests/support/make_mmf_data.py" "$TMP/ok" >/dev/null || fail "make_mmf_data.py"
"$BIN" import-features --mmf-lmdb "$TMP/ok/features.lmdb" --out "$TMP/ok.h5" >"$TMP/out.txt" 2>&1 \
  || { cat "$TMP/out.txt"; fail "import of a good LMDB failed"; }
[ -f "$TMP/ok.h5" ] || fail "no output file"
[ ! -e "$TMP/ok.h5.partial" ] || fail "partial file left behind"
grep -q "wrote 4 images, 58 boxes, 2048-d features" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "no summary line"; }
if command -v h5dump >/dev/null; then
  h5dump -d /image_ids "$TMP/ok.h5" | grep -q '"265148"' || fail "image keys not in the store"
fi

# 2. Broken entries: exit 2, one error line naming the LMDB and the key, nothing left behind.
expect_error() {  # <bad kind> <expected message start>
  "$PY" "$SRC/tests/support/make_mmf_data.py" "$TMP/$1" --bad "$1" >/dev/null || fail "make_mmf_data.py --bad $1"
  set +e
  "$BIN" import-features --mmf-lmdb "$TMP/$1/features.lmdb" --out "$TMP/$1.h5" >"$TMP/out.txt" 2>&1; rc=$?
  set -e
  [ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "$1: expected exit 2, got $rc"; }
  [ "$(grep -c 'error' "$TMP/out.txt")" -eq 1 ] || { cat "$TMP/out.txt"; fail "$1: expected one error line"; }
  grep -qF "headprune: error: $TMP/$1/features.lmdb: entry '265148': $2" "$TMP/out.txt" \
    || { cat "$TMP/out.txt"; fail "$1: message"; }
  [ ! -e "$TMP/$1.h5" ] && [ ! -e "$TMP/$1.h5.partial" ] || fail "$1: output left after a failed import"
}
expect_error no_features "no 'features' (keys: feature_path, image_height"
expect_error bad_shape "'features' is a float32 array [19], expected a float array [N, D]"
expect_error bad_class "unsupported class fractions.Fraction"
expect_error truncated "truncated pickle"

# 3. Exactly one input.
set +e
"$BIN" import-features --out "$TMP/none.h5" >"$TMP/out.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "no input: expected exit 2, got $rc"; }
grep -q "give the input as --tsv FILE (LXMERT obj36) or --mmf-lmdb DIR (MMF)" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "no-input message"; }
set +e
"$BIN" import-features --tsv x.tsv --mmf-lmdb "$TMP/ok/features.lmdb" --out "$TMP/both.h5" >"$TMP/out.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "two inputs: expected exit 2, got $rc"; }
[ ! -e "$TMP/both.h5" ] || fail "two inputs: output written"
echo "PASS"
