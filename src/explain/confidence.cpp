// confidence: the mean over the real queries of the largest attention weight over the real keys
// (Voita et al. 2019).
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_confidence(const Pass& pass) {
  std::vector<at::Tensor> head;
  for (size_t m = 0; m < pass.attention.size(); ++m) {
    at::Tensor a = accumulate_type(pass.attention[m]);
    at::Tensor v = pass.valid[m].to(a.scalar_type());
    at::Tensor qmask = v.amax(3);              // [B,1,Q] real queries
    at::Tensor top = (a * v).amax(3) * qmask;  // [B,H,Q]
    head.push_back(to_output(top.sum(2) / qmask.sum(2)));
  }
  at::Tensor h = at::stack(head, 1);
  return {h, h.mean(2)};
}

}  // namespace headprune::explain
