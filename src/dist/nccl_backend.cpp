// NCCL communicator backend: CUDA tensors reduced and broadcast by NCCL, everything else (bytes,
// barriers, gathers, CPU tensors) through the MPI communicator it wraps. Compiled only when CMake
// defines HEADPRUNE_WITH_NCCL; it needs the CUDA runtime and NCCL headers, not LibTorch's CUDA
// headers: tensors are passed by data_ptr() and run on the default (legacy) stream, which is
// LibTorch's current stream unless the caller changed it. Every call waits for its stream, so a
// NCCL or CUDA failure surfaces at the call that caused it.
#include <ATen/core/Tensor.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "dist/backends.hpp"
#include "headprune/common/error.hpp"

namespace headprune::dist {
namespace {

std::string cuda_error(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

ncclDataType_t nccl_type(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kDouble: return ncclFloat64;
    case at::kFloat: return ncclFloat32;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kByte: return ncclUint8;
    case at::kChar: return ncclInt8;
    default:
      HP_ASSERT(false, std::string(op) + ": dtype " + c10::toString(t.scalar_type()) + " has no NCCL type");
  }
  return ncclFloat32;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> host, ncclComm_t comm, int device)
      : host_(std::move(host)), comm_(comm), device_(device) {}
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  int local_rank() const override { return host_->local_rank(); }
  void barrier() override { host_->barrier(); }

  void allreduce_sum(at::Tensor& tensor) override { allreduce(tensor, ncclSum, "allreduce_sum"); }
  void allreduce_max(at::Tensor& tensor) override { allreduce(tensor, ncclMax, "allreduce_max"); }

  void broadcast(at::Tensor& tensor, int root) override {
    if (!tensor.is_cuda()) return host_->broadcast(tensor, root);
    at::Tensor buf = on_device(tensor, "broadcast");
    // Bytes, so that any dtype can travel.
    check(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), static_cast<size_t>(buf.numel()) * buf.element_size(), ncclUint8,
                        root, comm_, stream()),
          "ncclBroadcast");
    finish(buf, tensor);
  }

  void broadcast_bytes(std::string& bytes, int root) override { host_->broadcast_bytes(bytes, root); }
  std::vector<std::string> gather_bytes(const std::string& bytes, int root) override {
    return host_->gather_bytes(bytes, root);
  }
  at::Tensor gather_rows_to_root(const at::Tensor& rows) override { return host_->gather_rows_to_root(rows); }
  bool all_true(bool ok) override { return host_->all_true(ok); }

 private:
  static cudaStream_t stream() { return nullptr; }  // the legacy default stream

  void allreduce(at::Tensor& tensor, ncclRedOp_t op, const char* what) {
    if (!tensor.is_cuda()) {
      if (op == ncclMax) return host_->allreduce_max(tensor);
      return host_->allreduce_sum(tensor);
    }
    at::Tensor buf = on_device(tensor, what);
    check(ncclAllReduce(buf.data_ptr(), buf.data_ptr(), static_cast<size_t>(buf.numel()), nccl_type(buf, what), op,
                        comm_, stream()),
          "ncclAllReduce");
    finish(buf, tensor);
  }

  at::Tensor on_device(const at::Tensor& t, const char* op) const {
    HP_ASSERT(t.device().index() == device_, std::string(op) + ": tensor on cuda:" + std::to_string(t.device().index()) +
                                                 ", this rank's NCCL communicator is on cuda:" + std::to_string(device_));
    return t.contiguous();
  }

  void finish(const at::Tensor& buf, at::Tensor& tensor) {
    cudaError_t e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess)
      throw RuntimeFailure("cudaStreamSynchronize after NCCL on rank " + std::to_string(rank()) + ": " + cuda_error(e));
    if (!buf.is_same(tensor)) tensor.copy_(buf);
  }

  void check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    std::string detail = ncclGetLastError(comm_);
    throw RuntimeFailure(std::string(what) + " failed on rank " + std::to_string(rank()) + ": " + ncclGetErrorString(r) +
                         (detail.empty() ? "" : " (" + detail + ")"));
  }

  std::unique_ptr<Communicator> host_;
  ncclComm_t comm_ = nullptr;
  int device_ = 0;
};

/// This rank's part of starting CUDA: the GPU of its node-local rank, modulo the GPUs it sees
/// (with --gpus-per-task=1 or --gpu-bind each rank sees one GPU, its own, as device 0).
bool select_device(int local_rank, int* device, std::string* why) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    *why = e != cudaSuccess ? "no usable CUDA device (" + cuda_error(e) + ")" : "no CUDA device visible";
    return false;
  }
  const int dev = local_rank % count;
  e = cudaSetDevice(dev);
  if (e != cudaSuccess) {
    *why = "cudaSetDevice(" + std::to_string(dev) + "): " + cuda_error(e);
    return false;
  }
  *device = dev;
  return true;
}

/// "host<TAB>PCI bus id" of `device`: comparable across ranks whatever each one's
/// CUDA_VISIBLE_DEVICES.
std::string gpu_identity(int device) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, device) != cudaSuccess) std::snprintf(bus, sizeof bus, "cuda:%d", device);
  return std::string(host) + "\t" + bus;
}

}  // namespace

namespace detail {

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator>& host, std::string* why) {
  HP_ASSERT(host, "make_nccl_communicator needs the MPI communicator");
  // 1. Every rank selects its GPU; all must succeed, or nobody starts NCCL (a partial start hangs).
  int device = -1;
  bool ok = select_device(host->local_rank(), &device, why);
  if (!host->all_true(ok)) {
    if (ok) *why = "";
    return nullptr;
  }
  // 2. One GPU per rank (NCCL refuses two ranks on one GPU): rank 0 compares the bus ids, makes
  //    the id if they all differ and broadcasts it (first byte: 1 = valid) over MPI.
  std::vector<std::string> gpus = host->gather_bytes(gpu_identity(device), 0);
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  std::string packet(1 + sizeof id, '\0');
  const std::string clash = host->rank() == 0 ? shared_gpu_clash(gpus) : "";
  if (!clash.empty()) {
    *why = clash + " (NCCL needs one GPU per rank)";
  } else if (host->rank() == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r == ncclSuccess) {
      packet[0] = 1;
      std::memcpy(&packet[1], &id, sizeof id);
    } else {
      *why = std::string("ncclGetUniqueId: ") + ncclGetErrorString(r);
    }
  }
  host->broadcast_bytes(packet, 0);
  if (packet[0] != 1) return nullptr;
  std::memcpy(&id, &packet[1], sizeof id);
  // 3. The communicator itself; agree that everybody has one before anybody uses it.
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRank(&comm, host->size(), id, host->rank());
  if (r != ncclSuccess) *why = std::string("ncclCommInitRank: ") + ncclGetErrorString(r);
  if (!host->all_true(r == ncclSuccess)) {
    if (comm) ncclCommAbort(comm);
    return nullptr;
  }
  return std::make_unique<NcclCommunicator>(std::move(host), comm, device);
}

std::string nccl_library_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch; older ones major*1000 + minor*100 + patch.
  int major = v >= 10000 ? v / 10000 : v / 1000;
  int minor = v >= 10000 ? (v % 10000) / 100 : (v % 1000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

}  // namespace detail
}  // namespace headprune::dist
