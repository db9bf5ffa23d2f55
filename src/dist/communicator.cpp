// MPI session and the MPI communicator backend; make_communicator picks NCCL when it can.
#include "headprune/dist/communicator.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "dist/backends.hpp"
#include "headprune/common/crash.hpp"
#include "headprune/common/error.hpp"

namespace headprune::dist {
namespace {

/// Largest element count handed to one MPI call (counts are int).
constexpr int64_t kChunk = int64_t{1} << 30;

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error code " + std::to_string(code);
  return std::string(text, len);
}

int world_rank() {
  int initialized = 0, finalized = 0, rank = -1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

/// MPI return code -> RuntimeFailure naming the call, the rank and MPI's own message.
void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  throw RuntimeFailure(std::string(what) + " failed on rank " + std::to_string(world_rank()) + ": " +
                       mpi_error_string(rc));
}

/// The rank within this node and the number of ranks on it.
std::pair<int, int> node_local(MPI_Comm comm) {
  int rank = 0;
  mpi_check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  MPI_Comm local;
  mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  int local_rank = 0, local_size = 1;
  mpi_check(MPI_Comm_rank(local, &local_rank), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(local, &local_size), "MPI_Comm_size");
  MPI_Comm_free(&local);
  return {local_rank, local_size};
}

/// A contiguous host tensor with the same values (a view when `t` already is one).
at::Tensor host_contiguous(const at::Tensor& t) {
  at::Tensor h = t.is_cpu() ? t : t.cpu();
  return h.contiguous();
}

MPI_Datatype sum_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kDouble: return MPI_DOUBLE;
    case at::kFloat: return MPI_FLOAT;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kByte: return MPI_UINT8_T;
    default:
      HP_ASSERT(false, std::string("allreduce_sum: unsupported dtype ") + c10::toString(t.scalar_type()) +
                           " (float64, float32, int64, int32, uint8)");
  }
  return MPI_DATATYPE_NULL;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) throw RuntimeFailure("MPI is not initialised: create a dist::MpiSession first");
    mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    local_rank_ = node_local(comm_).first;
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  void barrier() override { mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }

  void allreduce_sum(at::Tensor& tensor) override { allreduce(tensor, MPI_SUM, "allreduce_sum"); }
  void allreduce_max(at::Tensor& tensor) override { allreduce(tensor, MPI_MAX, "allreduce_max"); }

  void broadcast(at::Tensor& tensor, int root) override {
    HP_ASSERT(tensor.defined(), "broadcast of an undefined tensor");
    // Every rank must bring a tensor of root's dtype and size: check before moving data.
    int64_t shape[2] = {tensor.numel(), static_cast<int64_t>(tensor.scalar_type())};
    int64_t mine[2] = {shape[0], shape[1]};
    mpi_check(MPI_Bcast(shape, 2, MPI_INT64_T, root, comm_), "MPI_Bcast");
    HP_ASSERT(shape[0] == mine[0] && shape[1] == mine[1],
              "broadcast: rank " + std::to_string(rank_) + " has " + std::to_string(mine[0]) + " elements of dtype " +
                  std::to_string(mine[1]) + ", root has " + std::to_string(shape[0]) + " of dtype " +
                  std::to_string(shape[1]));
    at::Tensor buf = host_contiguous(tensor);
    bcast_raw(static_cast<char*>(buf.data_ptr()), buf.numel() * static_cast<int64_t>(buf.element_size()), root);
    if (!buf.is_same(tensor)) tensor.copy_(buf);
  }

  void broadcast_bytes(std::string& bytes, int root) override {
    int64_t n = static_cast<int64_t>(bytes.size());
    mpi_check(MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_), "MPI_Bcast");
    if (rank_ != root) bytes.assign(static_cast<size_t>(n), '\0');
    bcast_raw(bytes.data(), n, root);
  }

  std::vector<std::string> gather_bytes(const std::string& bytes, int root) override {
    std::vector<int64_t> sizes(rank_ == root ? size_ : 0);
    int64_t mine = static_cast<int64_t>(bytes.size());
    mpi_check(MPI_Gather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, root, comm_), "MPI_Gather");
    // MPI counts and displacements are int: the root tells everybody whether the total fits.
    std::vector<int> counts, displs;
    int64_t total = 0;
    if (rank_ == root)
      for (int64_t s : sizes) {
        counts.push_back(static_cast<int>(std::min<int64_t>(s, INT_MAX)));
        displs.push_back(static_cast<int>(std::min<int64_t>(total, INT_MAX)));
        total += s;
      }
    int fits = total <= INT_MAX ? 1 : 0;
    mpi_check(MPI_Bcast(&fits, 1, MPI_INT, root, comm_), "MPI_Bcast");
    if (!fits) throw RuntimeFailure("gather_bytes: more than 2 GiB in total to rank " + std::to_string(root));
    std::string all(rank_ == root ? static_cast<size_t>(total) : 0, '\0');
    mpi_check(MPI_Gatherv(bytes.data(), static_cast<int>(mine), MPI_BYTE, all.data(), counts.data(), displs.data(),
                          MPI_BYTE, root, comm_),
              "MPI_Gatherv");
    std::vector<std::string> out;
    if (rank_ == root)
      for (int r = 0; r < size_; ++r) out.emplace_back(all.data() + displs[r], static_cast<size_t>(counts[r]));
    return out;
  }

  at::Tensor gather_rows_to_root(const at::Tensor& rows) override {
    constexpr int kMaxDims = 8;
    HP_ASSERT(rows.defined() && rows.dim() >= 1 && rows.dim() <= kMaxDims,
              "gather_rows_to_root needs a tensor of 1 to 8 dims");
    at::Tensor buf = host_contiguous(rows);
    // Header: rows, dtype, dims, the shape. Rank 0 checks that everybody agrees on all but rows.
    constexpr int kHeader = 3 + kMaxDims;
    std::vector<int64_t> header(kHeader, 0);
    header[0] = buf.size(0);
    header[1] = static_cast<int64_t>(buf.scalar_type());
    header[2] = buf.dim();
    for (int64_t d = 0; d < buf.dim(); ++d) header[3 + d] = buf.size(d);
    std::vector<int64_t> headers(rank_ == 0 ? kHeader * size_ : 0);
    mpi_check(MPI_Gather(header.data(), kHeader, MPI_INT64_T, headers.data(), kHeader, MPI_INT64_T, 0, comm_),
              "MPI_Gather");

    int64_t row_bytes = buf.element_size();
    for (int64_t d = 1; d < buf.dim(); ++d) row_bytes *= buf.size(d);
    HP_ASSERT(row_bytes <= INT_MAX, "gather_rows_to_root: one row is over 2 GiB");

    std::vector<int> counts, displs;
    at::Tensor out;
    if (rank_ == 0) {
      int64_t total = 0;
      for (int r = 0; r < size_; ++r) {
        const int64_t* h = &headers[r * kHeader];
        for (int k = 1; k < kHeader; ++k)
          if (k != 3)
            HP_ASSERT(h[k] == header[k], "gather_rows_to_root: rank " + std::to_string(r) +
                                             " sends rows of another dtype or shape than rank 0");
        HP_ASSERT(total + h[0] <= INT_MAX, "gather_rows_to_root: over 2^31 rows");
        counts.push_back(static_cast<int>(h[0]));
        displs.push_back(static_cast<int>(total));
        total += h[0];
      }
      std::vector<int64_t> shape(buf.sizes().begin(), buf.sizes().end());
      shape[0] = total;
      out = at::empty(shape, buf.options());
    }
    if (row_bytes == 0) return out;  // rows of zero bytes: nothing to move
    MPI_Datatype row_type;
    mpi_check(MPI_Type_contiguous(static_cast<int>(row_bytes), MPI_BYTE, &row_type), "MPI_Type_contiguous");
    mpi_check(MPI_Type_commit(&row_type), "MPI_Type_commit");
    int rc = MPI_Gatherv(buf.data_ptr(), static_cast<int>(buf.size(0)), row_type, rank_ == 0 ? out.data_ptr() : nullptr,
                         counts.data(), displs.data(), row_type, 0, comm_);
    MPI_Type_free(&row_type);
    mpi_check(rc, "MPI_Gatherv");
    return out;
  }

  bool all_true(bool ok) override {
    int local = ok ? 1 : 0, all = 0;
    mpi_check(MPI_Allreduce(&local, &all, 1, MPI_INT, MPI_LAND, comm_), "MPI_Allreduce");
    return all != 0;
  }

 private:
  void allreduce(at::Tensor& tensor, MPI_Op op, const char* what) {
    HP_ASSERT(tensor.defined(), std::string(what) + " of an undefined tensor");
    MPI_Datatype type = sum_type(tensor);
    at::Tensor buf = host_contiguous(tensor);
    char* data = static_cast<char*>(buf.data_ptr());
    const int64_t n = buf.numel();
    for (int64_t off = 0; off < n; off += kChunk) {
      int count = static_cast<int>(std::min(kChunk, n - off));
      mpi_check(MPI_Allreduce(MPI_IN_PLACE, data + off * buf.element_size(), count, type, op, comm_), "MPI_Allreduce");
    }
    if (!buf.is_same(tensor)) tensor.copy_(buf);
  }

  void bcast_raw(char* data, int64_t nbytes, int root) {
    for (int64_t off = 0; off < nbytes; off += kChunk)
      mpi_check(MPI_Bcast(data + off, static_cast<int>(std::min(kChunk, nbytes - off)), MPI_BYTE, root, comm_),
                "MPI_Bcast");
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// MpiSession
// ---------------------------------------------------------------------------------------------
MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) throw RuntimeFailure("MPI_Init_thread failed: " + mpi_error_string(rc));
    owns_ = true;
  } else {
    MPI_Query_thread(&provided);
  }
  mpi_check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  std::tie(local_rank_, local_size_) = node_local(MPI_COMM_WORLD);
  if (size_ > 1) set_crash_rank(rank_);
  if (provided < MPI_THREAD_FUNNELED && rank_ == 0)
    spdlog::warn("MPI provides thread level {} < MPI_THREAD_FUNNELED; only the main thread may call MPI", provided);

  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  mpi_check(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
  std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME, '\0');
  mpi_check(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                          MPI_COMM_WORLD),
            "MPI_Allgather");
  for (int r = 0; r < size_; ++r) {
    const char* p = all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    host_names_.emplace_back(p, strnlen(p, MPI_MAX_PROCESSOR_NAME));
  }
}

MpiSession::~MpiSession() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  // A crash in library teardown (CUDA, NCCL, MPI) from here on is reported as such. Installing
  // again also covers an MPI that replaced the handlers main() installed.
  install_crash_handlers("exit, after MPI_Finalize");
}

void abort_job(int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

// ---------------------------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------------------------
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

std::unique_ptr<Communicator> make_communicator(const std::string& device) {
  if (device != "cpu" && device != "cuda")
    throw UserError("device '" + device + "': expected cpu or cuda");
  std::unique_ptr<Communicator> mpi = make_mpi_communicator();
  if (device == "cpu") return mpi;
#ifdef HEADPRUNE_WITH_NCCL
  std::string why;
  std::unique_ptr<Communicator> nccl = detail::make_nccl_communicator(mpi, &why);
  if (nccl) return nccl;
  // Rank 0 reports the first rank that said why.
  std::vector<std::string> reasons = mpi->gather_bytes(why, 0);
  if (mpi->rank() == 0) {
    std::string first = "unknown reason";
    for (size_t r = 0; r < reasons.size(); ++r)
      if (!reasons[r].empty()) {
        first = "rank " + std::to_string(r) + ": " + reasons[r];
        break;
      }
    spdlog::warn("device: cuda but the NCCL backend could not start ({}); reductions use MPI", first);
  }
#else
  if (mpi->rank() == 0)
    spdlog::warn("device: cuda but this build has no NCCL backend (configure with -DHEADPRUNE_NCCL=ON); "
                 "reductions use MPI through host memory");
#endif
  return mpi;
}

namespace detail {

std::string shared_gpu_clash(const std::vector<std::string>& gpus) {
  std::map<std::string, size_t> first_rank;
  for (size_t r = 0; r < gpus.size(); ++r) {
    auto [it, fresh] = first_rank.emplace(gpus[r], r);
    if (fresh) continue;
    const std::string& id = gpus[r];
    const size_t tab = id.find('\t');
    const std::string host = tab == std::string::npos ? "" : id.substr(0, tab);
    const std::string bus = tab == std::string::npos ? id : id.substr(tab + 1);
    return "ranks " + std::to_string(it->second) + " and " + std::to_string(r) + " share GPU " + bus +
           (host.empty() ? "" : " on " + host);
  }
  return "";
}

}  // namespace detail

bool nccl_compiled() {
#ifdef HEADPRUNE_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string nccl_version() {
#ifdef HEADPRUNE_WITH_NCCL
  return detail::nccl_library_version();
#else
  return "";
#endif
}

}  // namespace headprune::dist
