#!/usr/bin/env bash
# analysis/stats.py and the report's breakdowns against closed forms, exact binomial sums and
# hand-counted tiny files (bootstrap, paired test at the nominal rate, McNemar, Holm, Kendall,
# Spearman, split-half, answer types, random repeats).
#   bash test_analysis_stats.sh <headprune-binary> <source-dir>     (the binary is not used)
set -euo pipefail
SRC="${2:-$(cd "$(dirname "$0")/../.." && pwd)}"
PY="${HEADPRUNE_PYTHON:-/usr/bin/python3}"   # Debian's python3 (h5py, numpy, matplotlib)
if ! "$PY" -c 'import h5py, numpy, matplotlib' 2>/dev/null; then
  echo "FAIL: $PY lacks h5py/numpy/matplotlib (apt-get install python3-h5py python3-numpy python3-matplotlib," \
       "or run scripts/install-deps.sh)" >&2
  exit 1
fi
export MPLBACKEND=Agg
exec "$PY" "$SRC/tests/analysis/test_stats.py" "$SRC"
