#!/usr/bin/env bash
# analysis/report.py on synthetic results files: every number of the Markdown tables equals the
# HDF5 data, the plots exist (PNG + PDF), report.md embeds them, output is deterministic.
#   bash test_analysis_report.sh <headprune-binary> <source-dir>     (the binary is not used)
set -euo pipefail
SRC="${2:-$(cd "$(dirname "$0")/../.." && pwd)}"
PY="${HEADPRUNE_PYTHON:-/usr/bin/python3}"   # Debian's python3 (h5py, numpy, matplotlib)
if ! "$PY" -c 'import h5py, numpy, matplotlib' 2>/dev/null; then
  echo "FAIL: $PY lacks h5py/numpy/matplotlib (apt-get install python3-h5py python3-numpy python3-matplotlib," \
       "or run scripts/install-deps.sh)" >&2
  exit 1
fi
export MPLBACKEND=Agg
exec "$PY" "$SRC/tests/analysis/test_report.py" "$SRC"
