// Internal: the seam between the MPI backend (communicator.cpp) and the NCCL backend
// (nccl_backend.cpp, compiled only with HEADPRUNE_WITH_NCCL).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "headprune/dist/communicator.hpp"

namespace headprune::dist::detail {

/// NCCL needs one GPU per rank. `gpus[r]` names rank r's GPU as "host<TAB>PCI bus id" (each rank
/// sees its own CUDA_VISIBLE_DEVICES, so device numbers do not compare across ranks; bus ids do).
/// Returns "" when all differ, else e.g. "ranks 0 and 2 share GPU 0000:1a:00.0 on node7".
std::string shared_gpu_clash(const std::vector<std::string>& gpus);

#ifdef HEADPRUNE_WITH_NCCL
/// Starts NCCL on every rank (collective over `host`). On success the returned communicator owns
/// `host` (used for bytes, barriers, gathers and CPU tensors) and `host` is null. On failure every
/// rank gets nullptr, `host` is untouched and *why says what failed (on the rank that saw it).
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>& host, std::string* why);

/// ncclGetVersion as "major.minor.patch".
std::string nccl_library_version();
#endif

}  // namespace headprune::dist::detail
