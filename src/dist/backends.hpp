// Internal: the seam between the MPI backend (communicator.cpp) and the NCCL backend
// (nccl_backend.cpp, compiled only with HEADPRUNE_WITH_NCCL).
#pragma once

#include <memory>
#include <string>

#include "headprune/dist/communicator.hpp"

namespace headprune::dist::detail {

#ifdef HEADPRUNE_WITH_NCCL
/// Starts NCCL on every rank (collective over `host`). On success the returned communicator owns
/// `host` (used for bytes, barriers, gathers and CPU tensors) and `host` is null. On failure every
/// rank gets nullptr, `host` is untouched and *why says what failed (on the rank that saw it).
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>& host, std::string* why);

/// ncclGetVersion as "major.minor.patch".
std::string nccl_library_version();
#endif

}  // namespace headprune::dist::detail
