#!/usr/bin/env bash
# Packs the Debian files headprune builds against (Open MPI, HDF5, yaml-cpp, spdlog, fmt, CLI11,
# nlohmann-json, ICU, GoogleTest and their shared-library dependencies; not LibTorch) into
# .gpu/gpu-deps.tar.gz, for a GPU machine that has CUDA LibTorch but no network and no
# Debian packages. scripts/gpu-check.sh unpacks it there with --skip-old-files (never
# replacing a file the machine already has). Run on a machine where scripts/install-deps.sh ran.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKGS=(libopenmpi3 openmpi-bin openmpi-common libopenmpi-dev libpmix2 libpmix-dev libhwloc15 libhwloc-dev
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libevent-2.1-7 libevent-extra-2.1-7 libevent-openssl-2.1-7 libevent-dev
  libfabric1 libucx0 libibverbs1 ibverbs-providers librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1
  libpsm-infinipath1 libpsm2-2 libmunge2 libltdl7
  libhdf5-103-1 libhdf5-dev libhdf5-hl-100 libhdf5-cpp-103-1 hdf5-helpers libsz2 libaec0 libaec-dev
  libcurl4 libcurl3-gnutls libcurl4-openssl-dev libssl-dev libssl3 libnghttp2-14 librtmp1 libssh2-1 libpsl5
  libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libbrotli1 libzstd1
  libgnutls30 libhogweed6 libnettle8 libgmp10 libidn2-0 libunistring2 libtasn1-6 libp11-kit0 libffi8
  libxml2 liblzma5 zlib1g-dev
  libyaml-cpp0.7 libyaml-cpp-dev libspdlog1.10 libspdlog-dev libfmt9 libfmt-dev nlohmann-json3-dev libcli11-dev
  libicu72 libicu-dev libudev1 libatomic1 libgtest-dev libstb-dev libstb0)
list="$(mktemp)"
for p in "${PKGS[@]}"; do dpkg -L "$p"; done | grep -v '^/usr/share/doc\|^/usr/share/man\|^/usr/share/lintian\|^/usr/src\|\.a$' |
  while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then echo "${f#/}"; fi; done | sort -u >"$list"
# update-alternatives links (mpicxx, mpirun, the MPI include folder, pkg-config files)
for a in mpi mpicxx mpic++ mpiCC mpirun mpiexec mpi-x86_64-linux-gnu mpi.pc-x86_64-linux-gnu mpi-cxx.pc-x86_64-linux-gnu \
         mpi-c.pc-x86_64-linux-gnu hdf5.pc libmpi.so-x86_64-linux-gnu libmpi++.so-x86_64-linux-gnu; do
  if [ -e "/etc/alternatives/$a" ]; then echo "etc/alternatives/$a"; fi
done >>"$list"
for b in mpicc mpicxx mpic++ mpiCC mpirun mpiexec; do if [ -L "/usr/bin/$b" ]; then echo "usr/bin/$b"; fi; done >>"$list"
mkdir -p "$ROOT/.gpu"
tar -C / -czf "$ROOT/.gpu/gpu-deps.tar.gz" -T "$list"
rm -f "$list"
ls -la "$ROOT/.gpu/gpu-deps.tar.gz"
