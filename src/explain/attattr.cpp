// attattr: attention attribution (Hao, Dong, Wei & Xu 2021, "Self-Attention Attribution:
// Interpreting Information Interactions Inside Transformer", AAAI): integrated gradients over a
// module's attention probabilities scaled from 0 to 1,
//   Attr(A_m) = A_m * (1/S) sum_{k=1..S} dF(X) / dX at X = (k/S) A_m   (the paper's Riemann sum),
// F = logit[target] (the explained answer's logit, as 'ours'; the paper explains the predicted
// class), every other module as it is, S = scoring.ig_steps (default 20, the paper's m = 20).
// The attributions of a module sum to about F(A) - F(0 * A_m) (IG completeness, exact as S grows);
// with S = 1 attattr equals 'ours'.
// Head score: mean over the real (query, key) pairs of Attr, sign kept (as 'ours'; the paper
// ranks heads by the largest attribution entry, the mean keeps the completeness share: head
// mean x pairs = the head's part of F(A) - F(0)). Layer: mean over all the module's real entries.
// Cost per sample: 1 + 2 M S forward-pass equivalents (M scored modules, S steps: each step a
// forward and a backward), the S steps of a sample in one batched forward (the shared pass's
// integrated_attention_gradients).
#include <ATen/ATen.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_attattr(const Pass& pass) {
  std::vector<at::Tensor> attribution;
  for (size_t m = 0; m < pass.ig_grads.size(); ++m)
    attribution.push_back(accumulate_type(pass.ig_grads[m]) * accumulate_type(pass.attention[m]));
  return mean_over_valid_pairs(attribution, pass.valid);
}

}  // namespace headprune::explain
