#!/usr/bin/env bash
# Peak memory of rank 0 against the workers in a large `headprune run` (issue 18: rank 0 holds no
# more than a worker). A synthetic run of N samples (default 200 000) of the tiny LXMERT fixture
# model on R ranks (default 4): per-sample protocol, random head scores (no gradient pass), both signs,
# ratios 0, 0.5 and 0.9. Every rank runs under /usr/bin/time; the script prints each rank's peak
# RSS and the ratio of rank 0's to the largest worker's.
#   scripts/bench-memory.sh [BINARY] [SAMPLES] [RANKS]
# Run it with an older binary to see what it was (before streaming, rank 0 gathered every row).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$SRC/build/headprune}"; N="${2:-200000}"; RANKS="${3:-4}"
PY=/usr/bin/python3
WORK="$(mktemp -d /tmp/headprune-bench-memory.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export OMPI_MCA_rmaps_base_oversubscribe=1
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$PY" "$SRC/tests/support/make_tiny_dataset.py" "$WORK/data" --questions "$N" --images 50 >/dev/null
"$BIN" import-features --tsv "$WORK/data/features.tsv" --out "$WORK/data/features.h5" 2>/dev/null
cat > "$WORK/run.yaml" <<YAML
name: memory
model: {family: lxmert, path: $SRC/tests/data/lxmert}
data: {questions: $WORK/data/questions.json, features: $WORK/data/features.h5, answers: $WORK/data/answers, num_samples: $N, selection: first_n}
scoring: {methods: [random]}
prune: {protocols: [per_sample], granularities: [head], ratios: [0, 0.5, 0.9]}
run: {batch_size: 256, threads_per_rank: 1, checkpoint_every: 1000000, progress_seconds: 0}
output: {path: $WORK/out.h5}
YAML
start=$(date +%s)
mpirun -n "$RANKS" --bind-to none sh -c \
  'exec /usr/bin/time -f "rank $OMPI_COMM_WORLD_RANK peak_rss_kib %M" "$0" run "$1" log_level=warn' "$BIN" "$WORK/run.yaml" \
  2>"$WORK/stderr" || { cat "$WORK/stderr"; exit 1; }
seconds=$(( $(date +%s) - start ))
"$PY" - "$WORK/stderr" "$WORK/out.h5" "$N" "$RANKS" "$seconds" <<'PYEOF'
import os, re, sys
rss = {int(r): int(k) for r, k in re.findall(r"rank (\d+) peak_rss_kib (\d+)", open(sys.argv[1]).read())}
n, ranks, seconds = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"headprune run: {n} samples, {ranks} ranks, {seconds} s; results file {os.path.getsize(sys.argv[2]) / 2**20:.1f} MiB")
for r in sorted(rss):
    print(f"  rank {r}: peak RSS {rss[r] / 1024:8.1f} MiB")
workers = [rss[r] for r in rss if r != 0]
if workers:
    print(f"rank 0 / largest worker: {rss[0] / max(workers):.2f}")
PYEOF
