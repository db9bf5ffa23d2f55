// lrp: the mean LRP relevance of the attention probabilities (Chefer et al. 2021), from the
// per-sample, unpadded relprop of the shared pass (the seed's Add renormalisation sums over the
// whole tensor, so padding would change it). Head: mean over (Q, K); layer: mean over all entries.
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_lrp(const Pass& pass) {
  std::vector<at::Tensor> head, layer;
  for (const auto& cams : pass.lrp_cams) {
    std::vector<at::Tensor> hs, ls;
    for (const auto& cam : cams) {
      hs.push_back(to_output(accumulate_type(cam[0]).mean({1, 2})));
      ls.push_back(to_output(accumulate_type(cam[0]).mean()));
    }
    head.push_back(at::stack(hs));
    layer.push_back(at::stack(ls));
  }
  return {at::stack(head), at::stack(layer)};
}

}  // namespace headprune::explain
