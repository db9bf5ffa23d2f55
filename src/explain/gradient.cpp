// gradient: the plain gradient magnitude. Mean over the real (query, key) pairs of |grad|,
// grad = d logit[target] / d attn (the shared pass's first backward); unlike `ours`, the
// attention weight does not multiply it.
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_gradient(const Pass& pass) {
  std::vector<at::Tensor> magnitude;
  for (const auto& g : pass.grads) magnitude.push_back(accumulate_type(g).abs());
  return mean_over_valid_pairs(magnitude, pass.valid);
}

}  // namespace headprune::explain
