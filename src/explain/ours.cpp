// ours: the seed's gradient x attention. Mean over the real (query, key) pairs of grad * attn,
// grad = d logit[target] / d attn; the sign is kept.
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_ours(const Pass& pass) {
  std::vector<at::Tensor> grad_x_attn;
  for (size_t m = 0; m < pass.grads.size(); ++m)
    grad_x_attn.push_back(accumulate_type(pass.grads[m]) * accumulate_type(pass.attention[m]));
  return mean_over_valid_pairs(grad_x_attn, pass.valid);
}

}  // namespace headprune::explain
