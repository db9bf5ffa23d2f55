// The global (dataset-level) protocol, as Michel et al. and HF bertology prune: every unit's score
// is averaged over all samples, the units are ranked once (the protocol's cross-sample step), and
// one mask per ratio prunes every sample alike. In the job every rank ranks the units from the
// exact mean over all ranks' samples (run/reduce.cpp) and builds the same masks, then evaluates its
// (ratio, batch) cells (run/phase_global.cpp) with this object.
//
// Its sibling is prune/per_sample.hpp (each sample pruned by its own ranking, no cross-sample
// step); both give the keep masks of a (granularity, sign) and evaluate a batch under the masks
// of several combos in one batched masked forward.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"

namespace headprune::prune {

class GlobalProtocol {
 public:
  /// `per_layer_normalise`: divide each module's mean head scores by their L2 norm before ranking
  /// (HF bertology's option). `max_rows`: masked forward rows per chunk.
  GlobalProtocol(std::vector<double> ratios, CountRule rule, bool per_layer_normalise, int64_t max_rows = 256)
      : ratios_(std::move(ratios)), rule_(rule), normalise_(per_layer_normalise), max_rows_(max_rows) {}

  const std::vector<double>& ratios() const { return ratios_; }

  /// The cross-sample step's outcome for one (method, granularity).
  struct Ranking {
    at::Tensor mean;   ///< [M(,H)] float64 mean score over the samples, normalised per layer when asked
    at::Tensor std;    ///< [M(,H)] population standard deviation over the samples
    at::Tensor order;  ///< flat unit indices by decreasing mean (stable: ties by index)
  };
  /// Ranks the units from their mean and standard deviation of scores over all samples, however
  /// those were reduced (run/reduce.cpp: exact sums over the ranks).
  Ranking rank(const at::Tensor& mean, const at::Tensor& std) const;

  /// Keep masks of one sign at every ratio: uint8 [ratios, M(,H)]. `eligible` [M(,H)]: only
  /// those units are pruned (protocol.hpp: keep_mask).
  at::Tensor masks(const Ranking& ranking, Sign sign, const at::Tensor& eligible = {}) const;

  /// One combo's mask at the evaluated ratio, as evaluate() takes it.
  struct ComboMask {
    at::Tensor mask;  ///< uint8 [M(,H)]
    Granularity granularity;
  };
  /// Answers of the batch under each combo's mask: int64 [B, combos] (on the model's device).
  at::Tensor evaluate(const models::VqaModel& model, const models::Batch& batch,
                      const std::vector<ComboMask>& combos) const;

 private:
  std::vector<double> ratios_;
  CountRule rule_;
  bool normalise_;
  int64_t max_rows_;
};

}  // namespace headprune::prune
