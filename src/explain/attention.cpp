// attention: the raw-attention baseline. A head's score is the mean, over its real queries, of
// the attention weight a query gives as the head itself averages it: sum_k a_qk * a_qk (keys
// weighted by their own weight; over the real keys).
//
// Why not the plain mean weight: every real query's row sums to 1 over the real keys, so the
// uniform mean over a head's real (query, key) pairs - or over the explained token's row - is
// 1/K for every head of a module and cannot rank heads. The attention-weighted mean is the
// smallest change that makes the mean weight informative: 1/K for a uniform head, 1 for a head
// whose queries each attend to one key (the collision probability of the row). It reads the
// attention only (no gradient, no explained answer): the baseline that explanation methods are
// compared with ("raw attention", e.g. Chefer et al. 2021; Abnar & Zuidema 2020). Layer score =
// mean over the module's heads. Cost: the shared forward (1 forward-pass equivalent).
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_attention(const Pass& pass) {
  std::vector<at::Tensor> head;
  for (size_t m = 0; m < pass.attention.size(); ++m) {
    at::Tensor a = accumulate_type(pass.attention[m]);
    at::Tensor v = pass.valid[m].to(a.scalar_type());
    at::Tensor qmask = v.amax(3);                    // [B,1,Q] real queries
    at::Tensor weighted = (a * a * v).sum(3) * qmask;  // [B,H,Q]
    head.push_back(to_output(weighted.sum(2) / qmask.sum(2)));
  }
  at::Tensor h = at::stack(head, 1);
  return {h, h.mean(2)};
}

}  // namespace headprune::explain
