#!/usr/bin/env bash
# Installs the Debian 12 packages headprune needs to build and test. Idempotent: when every
# package is present it only checks (about a second) and installs nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache git pkg-config procps      # procps: pgrep in the job tests
  libtorch-dev libopenblas0-openmp          # LibTorch (CPU) + an optimized BLAS (OpenMP build, see README)
  libopenmpi-dev openmpi-bin                # MPI
  libhdf5-dev hdf5-tools                    # results and feature files (h5dump, h5diff)
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libicu-dev
  libgtest-dev libgmock-dev
  libstb-dev                                # PNG/JPEG I/O (the demo's rendered scenes, visualisations)
  libjpeg62-turbo-dev                       # JPEG decoding as Pillow does it (ViLT's pixels, data/jpeg.hpp)
  liblmdb-dev                               # MMF's LMDB feature stores (import-features --mmf-lmdb)
  python3 python3-h5py python3-numpy        # fixture checks and analysis scripts
  python3-lmdb                              # tests write MMF-style LMDB feature stores
  python3-matplotlib                        # analysis/report.py plots
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
