// Counts the matrix products that actually run: every aten::mm, addmm, bmm, baddbmm, addbmm, mv,
// addmv and dot dispatched while a MatmulCounter is alive (any thread, the autograd backward
// included), with their FLOPs (2 m n k; a product that calls another through the dispatcher
// counts once) and the wall time spent inside them. Built on ATen's RecordFunction observers,
// so it sees what LibTorch executes, not what a model says it does: `headprune bench` divides
// its times by these counts, and tests compare them with each model's forward_flops().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace headprune::models {

class MatmulCounter {
 public:
  MatmulCounter();   ///< starts counting (one counter at a time)
  ~MatmulCounter();  ///< stops
  MatmulCounter(const MatmulCounter&) = delete;
  MatmulCounter& operator=(const MatmulCounter&) = delete;

  double flops() const;    ///< FLOPs counted so far
  double seconds() const;  ///< wall seconds inside the counted products (CPU: they run synchronously)
  int64_t calls() const;
  /// FLOPs per product shape, e.g. "addmm 160x768x3072" (m x k x n; bmm: "bmm 96x20x64x36").
  std::map<std::string, double> flops_by_shape() const;

  struct State;  // shared with the observer callbacks (src/models/matmul_counter.cpp)

 private:
  std::shared_ptr<State> state_;
  uint64_t handle_ = 0;
};

}  // namespace headprune::models
