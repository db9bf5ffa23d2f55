// attnlrp: AttnLRP (Achtibat, Hatefi, Dreyer, Jain, Wiegand, Lapuschkin & Samek 2024, "AttnLRP:
// Attention-Aware Layer-Wise Relevance Propagation for Transformers", ICML): layer-wise relevance
// propagation of the explained answer's logit with the paper's rules for the parts of a
// transformer that LRP's classic rules do not cover:
//   - softmax: the linearisation rule (Proposition 3.1), R_x = x (R_s - s sum_j R_s,j);
//   - products of two activations (q k^T, A V): the epsilon rule over the summed terms, then the
//     uniform rule on each product, half to each operand (Propositions 3.2 and 3.3);
//   - LayerNorm: the identity rule on the normalisation (Proposition 3.4; the standard deviation
//     a constant, the centring and the affine part linear);
//   - element-wise nonlinearities (GELU, LXMERT's pooler tanh): the identity rule (Eq. 9),
//     R_x = R_y;
//   - linear layers and sums: the epsilon rule (Eq. 8) with eps -> 0 (biases and the softmax's
//     bias term absorb some relevance: conservation holds up to those).
// Computed as gradient x input (the authors' "efficient" formulation, LXT library): the model's
// forward with ForwardOptions::attnlrp records a backward whose gradients are the rules'
// relevance divided by the activation (src/models/layers.hpp, AttnLrpMode), so one backward of
// logit[target] gives, on each attention map A, its relevance R_A = A * dF/dA. The relevance of
// the probabilities is what 'lrp' scores (Chefer et al.'s rules there): head score = the mean of
// R_A over the module's real (query, key) pairs, sign kept; layer = the mean over all its real
// entries.
// Cost per sample: 3 forward-pass equivalents (the shared forward, then the modified forward and
// its backward, batched).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

std::vector<at::Tensor> attnlrp_attention_relevance(const models::VqaModel& model, const models::Batch& batch,
                                                    const at::Tensor& target) {
  at::AutoGradMode grad_mode(true);
  models::ForwardOptions fo;
  fo.record_attention = true;
  fo.attnlrp = true;
  models::ForwardResult fwd = model.forward(batch, fo);
  // d sum_b logit[b, target_b]: the relevance starts as the explained logit alone (one-hot times
  // the logit, i.e. gradient one-hot); samples never mix, so one backward serves the batch.
  at::Tensor one_hot = at::zeros_like(fwd.logits).scatter_(1, target.to(fwd.logits.device()).view({-1, 1}), 1.0);
  fwd.logits.backward(one_hot);
  std::vector<at::Tensor> relevance;
  for (const auto& a : fwd.attention) {
    // A map the logit does not depend on gets no gradient: no relevance.
    const at::Tensor g = a.grad().defined() ? a.grad().detach() : at::zeros_like(a.detach());
    relevance.push_back(accumulate_type(a.detach()) * accumulate_type(g));
  }
  return relevance;
}

UnitScores score_attnlrp(const Pass& pass) { return mean_over_valid_pairs(pass.attnlrp_relevance, pass.valid); }

}  // namespace headprune::explain
