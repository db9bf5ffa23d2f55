// Versions baked in at configure time, written into every results file's /meta.
#pragma once

#include <string>

namespace headprune {

struct BuildInfo {
  std::string version;     ///< project version (CMake)
  std::string git_commit;  ///< short commit at configure time, or "unknown"
  bool with_nccl;          ///< NCCL backend compiled in
  std::string source_dir;  ///< the source tree it was built from (for analysis/ scripts)
};

const BuildInfo& build_info();

/// "LibTorch 1.13.1, Open MPI v4.1.4, HDF5 1.10.8" (queried at run time).
std::string library_versions();

}  // namespace headprune
