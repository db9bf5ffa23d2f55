#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole test suite.
#   scripts/test.sh            everything
#   scripts/test.sh -L fast    only the fast subset (ctest labels: fast, fixture, mpi, slow)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
BUILD="${HEADPRUNE_BUILD_DIR:-$ROOT/build}"
# MPI as root in containers (tests spawn mpirun): see docs/platform.md.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
cd "$BUILD"
ctest --output-on-failure -j 2 "$@"
