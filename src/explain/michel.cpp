// michel: |d loss / d gate_h|, gate = 1 multiplying each head's probabilities, loss = the VQA
// soft-label binary cross-entropy (Michel et al. 2019). d loss / d gate_h = the sum over the real
// pairs of grad * attn with grad = d loss / d attn (the shared pass's second backward).
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_michel(const Pass& pass) {
  std::vector<at::Tensor> head;
  for (size_t m = 0; m < pass.loss_grads.size(); ++m) {
    const at::Tensor a = accumulate_type(pass.attention[m]);
    head.push_back(
        to_output((accumulate_type(pass.loss_grads[m]) * a * pass.valid[m].to(a.scalar_type())).sum({2, 3}).abs()));
  }
  at::Tensor h = at::stack(head, 1);  // [B,M,H]
  if (pass.options.michel_normalize) h = h / h.norm(2, {2}, true).clamp_min(1e-20);  // per-layer L2 (HF bertology)
  return {h, h.mean(2)};
}

}  // namespace headprune::explain
