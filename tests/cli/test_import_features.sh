#!/usr/bin/env bash
# CLI test of `headprune import-features`: exit codes, progress line, error lines.
#   bash test_import_features.sh <headprune-binary> <source-dir>
set -euo pipefail
BIN="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# base64 of little-endian raw arrays, built from bytes with printf (no Python needed).
b64() { printf "$1" | base64 -w0; }
F1='\x00\x00\x80\x3f'      # float32 1.0
F2='\x00\x00\x00\x40'      # float32 2.0
I7='\x07\x00\x00\x00\x00\x00\x00\x00'  # int64 7
# Two boxes, 3-d features.
OBJ_ID=$(b64 "$I7$I7"); CONF=$(b64 "$F1$F2"); BOXES=$(b64 "$F1$F1$F2$F2$F1$F1$F2$F2")
FEATS=$(b64 "$F1$F2$F1$F2$F1$F2")
line() { printf '%s\t480\t640\t%s\t%s\t%s\t%s\t2\t%s\t%s\n' "$1" "$OBJ_ID" "$CONF" "$OBJ_ID" "$CONF" "$BOXES" "$FEATS"; }
{ line COCO_val2014_000000000001; line COCO_val2014_000000000002; } > "$TMP/ok.tsv"

# 1. A good import: exit 0, the store exists, a progress line and the summary are logged.
"$BIN" import-features --tsv "$TMP/ok.tsv" --out "$TMP/ok.h5" --progress-every 0.000001 >"$TMP/out.txt" 2>&1 \
  || { cat "$TMP/out.txt"; fail "import of a good TSV failed"; }
[ -f "$TMP/ok.h5" ] || fail "no output file"
[ ! -e "$TMP/ok.h5.partial" ] || fail "partial file left behind"
grep -q "images/s" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "no progress line with a rate"; }
grep -q "ETA" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "no ETA in the progress line"; }
grep -q "wrote 2 images, 4 boxes, 3-d features" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "no summary line"; }
# --progress-every 0: no progress lines (as run.progress_seconds: 0), the summary still.
"$BIN" import-features --tsv "$TMP/ok.tsv" --out "$TMP/quiet.h5" --progress-every 0 >"$TMP/quiet.txt" 2>&1 || fail "quiet import"
if grep -q "ETA" "$TMP/quiet.txt"; then cat "$TMP/quiet.txt"; fail "--progress-every 0 printed progress lines"; fi
grep -q "wrote 2 images" "$TMP/quiet.txt" || fail "--progress-every 0: no summary line"
if command -v h5dump >/dev/null; then
  h5dump -d /image_ids "$TMP/ok.h5" | grep -q COCO_val2014_000000000002 || fail "image ids not in the store"
fi

# 2. The output exists: exit 2 with one line naming it.
set +e
"$BIN" import-features --tsv "$TMP/ok.tsv" --out "$TMP/ok.h5" >"$TMP/out.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "expected exit 2 for an existing output, got $rc"; }
grep -q "ok.h5: exists already (pass --overwrite to replace it)" "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "message"; }
"$BIN" import-features --tsv "$TMP/ok.tsv" --out "$TMP/ok.h5" --overwrite --compress 5 >/dev/null 2>&1 \
  || fail "--overwrite --compress 5 failed"

# 3. A truncated line: exit 2, file:line and the missing columns named, no output left.
{ line COCO_val2014_000000000001; line COCO_val2014_000000000002 | cut -f1-7; } > "$TMP/cut.tsv"
set +e
"$BIN" import-features --tsv "$TMP/cut.tsv" --out "$TMP/cut.h5" >"$TMP/out.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "expected exit 2 for a truncated line, got $rc"; }
grep -q "cut.tsv:2: truncated line (image COCO_val2014_000000000002): 7 of 10 tab-separated columns, missing 'num_boxes', 'boxes', 'features'" \
  "$TMP/out.txt" || { cat "$TMP/out.txt"; fail "truncated-line message"; }
[ ! -e "$TMP/cut.h5" ] && [ ! -e "$TMP/cut.h5.partial" ] || fail "output left after a failed import"

# 3b. A JSON file given by mistake: one short line, not the file's first line in full.
{ printf '['; for i in $(seq 1 500); do printf '{"question_id": %d, "img_id": "COCO_val2014_%012d"},' "$i" "$i"; done; printf '{}]\n'; } > "$TMP/valid.json"
set +e
"$BIN" import-features --tsv "$TMP/valid.json" --out "$TMP/json.h5" >"$TMP/out.txt" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$TMP/out.txt"; fail "expected exit 2 for a JSON file, got $rc"; }
err_line="$(grep "valid.json:1:" "$TMP/out.txt")"
[ "${#err_line}" -lt 400 ] || fail "the error line quotes too much (${#err_line} characters)"
echo "$err_line" | grep -q "is this an LXMERT obj36 TSV file?" || fail "JSON input: $err_line"

# 3c. SIGTERM mid-import: exit 3 with one line, no half-written store, no lock left.
{ for i in $(seq 1 40); do line "COCO_val2014_$(printf %012d "$i")"; done; } > "$TMP/many.tsv"
HEADPRUNE_TEST_IMPORT_DELAY_MS=100 "$BIN" import-features --tsv "$TMP/many.tsv" --out "$TMP/many.h5" >"$TMP/out.txt" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$TMP/many.h5.partial" ] && break; sleep 0.05; done
sleep 0.3
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" -eq 3 ] || { cat "$TMP/out.txt"; fail "expected exit 3 after SIGTERM, got $rc"; }
grep -q "^headprune: stopped: import-features: stopped by a signal at .*many.tsv:[0-9]*; nothing was written" "$TMP/out.txt" \
  || { cat "$TMP/out.txt"; fail "SIGTERM message"; }
[ ! -e "$TMP/many.h5" ] && [ ! -e "$TMP/many.h5.partial" ] && [ ! -e "$TMP/many.h5.lock" ] || fail "SIGTERM left $(ls "$TMP")"

# 4. Bad option value: CLI11 rejects it with exit 2.
set +e
"$BIN" import-features --tsv "$TMP/ok.tsv" --out "$TMP/x.h5" --compress 12 >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "expected exit 2 for --compress 12, got $rc"
echo "ok"
