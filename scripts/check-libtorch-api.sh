#!/usr/bin/env bash
# Compiles every source of the project (-fsyntax-only, no precompiled header) against another
# LibTorch's headers: the API check before a run on a cluster or a lent GPU machine, whose
# LibTorch is 2.x while Debian 12's is 1.13. Headers suffice, so no CUDA or GPU is needed.
#
#   scripts/check-libtorch-api.sh --fetch        Debian 13's libtorch-dev (2.6) headers, downloaded
#                                                 with apt-get download into .gpu/libtorch-headers
#   scripts/check-libtorch-api.sh PREFIX         headers under PREFIX/include (e.g. an unpacked
#                                                 libtorch zip, or python -c 'import torch;
#                                                 print(torch.utils.cmake_prefix_path)'/../..)
# Needs a configured build tree ($HEADPRUNE_BUILD_DIR, default build) for the compile commands.
# Exit 0: every file compiles; 1: some do not (their first errors are printed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD="${HEADPRUNE_BUILD_DIR:-build}"
[ -f "$BUILD/compile_commands.json" ] || { echo "check-libtorch-api: no $BUILD/compile_commands.json (configure first: scripts/build.sh)" >&2; exit 2; }

case "${1:-}" in
  --fetch)
    PREFIX=.gpu/libtorch-headers/usr
    if [ ! -d "$PREFIX/include/ATen" ]; then
      work="$(mktemp -d)"
      mkdir -p "$work/lists/partial" "$work/archives/partial"
      echo "deb http://deb.debian.org/debian trixie main" >"$work/sources.list"
      apt_opts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
                -o Dir::Cache::archives="$work/archives" -o APT::Sandbox::User=root)
      apt-get "${apt_opts[@]}" update -qq
      (cd "$work" && apt-get "${apt_opts[@]}" download libtorch-dev >/dev/null)
      mkdir -p .gpu/libtorch-headers
      dpkg-deb -x "$work"/libtorch-dev_*.deb .gpu/libtorch-headers
      rm -rf "$work"
    fi
    ;;
  "" | -h | --help) sed -n '2,12p' "$0"; exit 2 ;;
  *) PREFIX="$1" ;;
esac
INC="$PREFIX/include"
[ -d "$INC/ATen" ] || { echo "check-libtorch-api: no ATen headers under $INC" >&2; exit 2; }
version_part() { sed -n -E "s/^#define TORCH_VERSION_$1 ([0-9]+).*/\\1/p" "$INC/torch/csrc/api/include/torch/version.h" 2>/dev/null; }
VERSION="$(version_part MAJOR).$(version_part MINOR).$(version_part PATCH)"
echo "check-libtorch-api: LibTorch ${VERSION:-?} headers in $INC"

LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
# One script per translation unit: the compile command with these headers first, the precompiled
# header removed (a cluster build may not use one), -fsyntax-only.
python3 - "$BUILD/compile_commands.json" "$(cd "$INC" && pwd)" "$LOGS" <<'PY'
import json, re, sys
entries = json.load(open(sys.argv[1]))
inc, logs = sys.argv[2], sys.argv[3]
n = 0
for e in entries:
    if "cmake_pch" in e["file"]:
        continue
    cmd = e["command"]
    cmd = re.sub(r" -include \S+", " ", cmd)
    cmd = re.sub(r" -o \S+", " ", cmd)
    cmd = cmd.replace(" -Winvalid-pch", "")
    cmd = re.sub(r" -c (\S+)$", r" -fsyntax-only \1", cmd)
    compiler, rest = cmd.split(" ", 1)
    cmd = f"{compiler} -I{inc} -I{inc}/torch/csrc/api/include {rest}"
    with open(f"{logs}/{n:03d}.sh", "w") as f:
        f.write(f"cd '{e['directory']}' && {cmd}\n")
    with open(f"{logs}/{n:03d}.src", "w") as f:
        f.write(e["file"])
    n += 1
PY
# shellcheck disable=SC2016  # expanded by the inner sh, once per file
find "$LOGS" -name '*.sh' -print0 | xargs -0 -P "$(nproc)" -n 1 sh -c 'sh "$0" >"${0%.sh}.log" 2>&1 || touch "${0%.sh}.failed"'
failed=0
total=$(find "$LOGS" -name '*.sh' | wc -l)
for f in "$LOGS"/*.failed; do
  [ -e "$f" ] || continue
  failed=$((failed + 1))
  echo "--- $(cat "${f%.failed}.src")"
  grep -E "error" "${f%.failed}.log" | head -n 5
done
echo "check-libtorch-api: $((total - failed)) of $total files compile against LibTorch ${VERSION:-?}"
[ "$failed" -eq 0 ]
