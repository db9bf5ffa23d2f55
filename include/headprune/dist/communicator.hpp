// Distributed communication: the MPI session, and one small communicator interface with two
// backends, MPI (CPU tensors; always there) and NCCL (CUDA tensors; compiled when CMake finds
// NCCL and the CUDA toolkit, HEADPRUNE_WITH_NCCL).
//
//   dist::MpiSession mpi(&argc, &argv);            // first thing in main; works without mpirun
//   auto comm = dist::make_communicator("cpu");   // collective: every rank calls it
//   comm->broadcast_bytes(plan_bytes, 0);
//   comm->allreduce_sum(counts);                   // int64 counts: exact for any rank count
//   at::Tensor all = comm->gather_rows_to_root(my_rows);  // rank 0: every rank's rows, rank order
//
// Determinism. A floating-point sum depends on the order of its terms, and MPI/NCCL reductions
// choose their order by rank count and algorithm. Any float sum that must be bit-identical for 1,
// 2, 3 or 4 ranks is therefore NOT done with allreduce_sum: each rank contributes its per-sample
// rows, gather_rows_to_root concatenates them on rank 0 in rank order (= sample order, because
// shards are contiguous and ascending), and rank 0 sums them in sample order. allreduce_sum is for
// exact data: integers (int64/int32/uint8), and floats whose sums are exact (small integer counts).
// dist/exact_sum.hpp turns float64 sums into such exact int64 sums (fixed point), which is how the
// job reduces its rankings and accuracies.
//
// Every call below is collective over all ranks of the job, in the same order on every rank.
//
// Failure. An MPI error (MPI_ERRORS_RETURN is set on the communicators) or NCCL/CUDA error is a
// RuntimeFailure carrying the library's error string and the rank. Mismatched arguments between
// ranks (a broadcast tensor of another size, gathered rows of another dtype or row shape) are
// internal errors (HP_ASSERT: the process aborts and the launcher ends the job). An error seen by
// only some ranks must end the job with abort_job(), or the other ranks wait forever.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace headprune::dist {

/// RAII for MPI: MPI_Init_thread(MPI_THREAD_FUNNELED) ... MPI_Finalize. Started without a launcher
/// it is a singleton job of one rank. If MPI is already initialised it only reads the job's shape
/// and leaves finalisation to whoever initialised it. Sets MPI_ERRORS_RETURN on MPI_COMM_WORLD.
/// Throws RuntimeFailure when MPI cannot start.
class MpiSession {
 public:
  explicit MpiSession(int* argc = nullptr, char*** argv = nullptr);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  ///< rank among the ranks of this node
  int local_size() const { return local_size_; }  ///< ranks on this node
  /// MPI_Get_processor_name of every rank, indexed by rank (for /meta and logs).
  const std::vector<std::string>& host_names() const { return host_names_; }

 private:
  bool owns_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::vector<std::string> host_names_;
};

/// Ends every rank of the job now with `exit_code` (MPI_Abort; std::_Exit without MPI). For errors
/// only some ranks see, so that nobody waits in a collective for a rank that is gone.
[[noreturn]] void abort_job(int exit_code);

/// Collective operations of one job. Tensors are LibTorch tensors (any device this backend
/// supports; the MPI backend stages CUDA tensors through host memory).
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual std::string backend() const = 0;  ///< "mpi" or "nccl"
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  ///< rank among the ranks of this node (MPI_COMM_TYPE_SHARED)

  virtual void barrier() = 0;

  /// Element-wise sum over all ranks, in place, every rank gets the result. dtypes: float64,
  /// float32, int64, int32, uint8 (+ float16/bfloat16 on NCCL). Same shape and dtype on every rank.
  /// Not bit-reproducible across rank counts for floats: see the top of this file.
  virtual void allreduce_sum(at::Tensor& tensor) = 0;

  /// Element-wise maximum over all ranks, in place (exact and order-free for every dtype; same
  /// dtypes and rules as allreduce_sum). dist/exact_sum.hpp takes its scale from it.
  virtual void allreduce_max(at::Tensor& tensor) = 0;

  /// Copies `root`'s tensor into `tensor` on every rank, in place. Every rank must pass a tensor of
  /// the same dtype and element count (asserted).
  virtual void broadcast(at::Tensor& tensor, int root) = 0;

  /// Replaces `bytes` on every rank with `root`'s (any length, binary-safe): the plan, the config.
  virtual void broadcast_bytes(std::string& bytes, int root) = 0;

  /// Each rank's buffer (any length, may be empty) to `root`, indexed by rank. Empty on other ranks.
  virtual std::vector<std::string> gather_bytes(const std::string& bytes, int root) = 0;

  /// Rows [n_r, ...] of every rank r concatenated along dim 0 in rank order, as a CPU tensor on
  /// rank 0; an undefined tensor on other ranks. n_r may be 0; dtype and the shape after dim 0
  /// must match across ranks (asserted). This is the deterministic path for per-sample values.
  virtual at::Tensor gather_rows_to_root(const at::Tensor& rows) = 0;

  /// True on every rank when `ok` is true on every rank (logical AND): agree on a local check
  /// before a step that would hang if only some ranks took it.
  virtual bool all_true(bool ok) = 0;
};

/// The MPI backend over a duplicate of MPI_COMM_WORLD. Needs an MpiSession. Collective.
std::unique_ptr<Communicator> make_mpi_communicator();

/// "cpu": MPI. "cuda": NCCL when compiled in and it starts on every rank (each rank on GPU
/// node-local rank mod visible GPUs, no two ranks on one GPU - PCI bus ids compared per host -,
/// the NCCL id created on rank 0 and broadcast over MPI); otherwise MPI, with a warning on rank 0
/// giving the reason. Collective; throws UserError for another device name.
std::unique_ptr<Communicator> make_communicator(const std::string& device);

/// Whether this build contains the NCCL backend (HEADPRUNE_WITH_NCCL).
bool nccl_compiled();

/// The NCCL library version ("2.28.9") this build runs with; "" when not compiled in.
std::string nccl_version();

}  // namespace headprune::dist
