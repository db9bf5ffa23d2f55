// The global (dataset-level) protocol's ranking, as Michel et al. and HF bertology do it:
// each unit's score is averaged over the scoring samples, the units are ranked once, and one
// mask per ratio is applied to every evaluation sample.
//
// The aggregate is a sum and a count, so ranks accumulate their shards and one reduction
// (sum) combines them.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "headprune/prune/protocol.hpp"

namespace headprune::prune {

class GlobalRanking {
 public:
  /// `units` = [M,H] (head) or [M] (layer).
  explicit GlobalRanking(at::IntArrayRef units);

  void add(const at::Tensor& scores);        ///< per-sample scores [B, units...]
  void merge(const GlobalRanking& other);     ///< the reduction: element-wise sum of sums and counts
  /// Sum and count as one float64 tensor [units + 1] (for a communicator's allreduce) and back.
  at::Tensor pack() const;
  void unpack(const at::Tensor& packed);

  int64_t count() const { return count_; }
  /// Mean score per unit; `per_layer_normalise` divides each module's head scores by their L2 norm.
  at::Tensor mean(bool per_layer_normalise = false) const;
  /// One keep mask per ratio, uint8 [S, units...].
  at::Tensor masks(Sign sign, CountRule rule, const std::vector<double>& ratios, bool per_layer_normalise = false) const;

 private:
  at::Tensor sum_;  // float64
  int64_t count_ = 0;
};

}  // namespace headprune::prune
