// rollout: attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
// Transformers", ACL), head score = the head's share of the explained token's rolled-out
// attention.
//
// The rollout follows the path of the seed's relevance propagation (the model's
// relevance_maps(): Chefer et al. 2021's rules) with the raw attention, averaged over heads, in
// place of the seed's gradient-weighted maps: a self-attention module updates R <- R + Abar R,
// i.e. R = prod_l (I + Abar_l) = 2^L x Abnar & Zuidema's prod_l (I + Abar_l) / 2 (rows of
// Abar sum to 1); LXMERT's cross-attention modules use the seed's bi-modal rule (R_sq +=
// norm(R_ss)^T Abar norm(R_qq), R_ss += Abar R_qs) and its two streams' order. The explained
// token is the one whose row the seed explains (LXMERT: the language [CLS]; VisualBERT: the
// classifier token at T - 2), and its row without its own entry is the explanation:
//   f = sum of the explained token's rolled-out attention to the other inputs
// (LXMERT: R_t_t[0] with [0,0] = 0, plus R_t_i[0]; VisualBERT: R[T-2] with [T-2] = 0).
//
// Rollout conserves mass (every row of a module's map sums to 1), so "the mass routed through a
// head" is the same for every head of a layer; what differs is where the head sends it. The share
// of head h of module m is therefore the part of f carried by the paths that use head h there:
//   share(m, h) = sum_{q,k} A_mh[q,k] df/dA_mh[q,k] / f,
// exactly that part for self-attention (f is linear in each module's map, Abar = mean_h A_h),
// the first-order (Taylor) part through the cross rule's row normalisation. The derivative
// comes from autograd through relevance_maps(): its maps are (grad * attn).clamp(0).mean(heads)
// with grad = 1, so d f / d grad at grad = 1 equals A * df/dA.
// Head score = share(m, h); layer score = mean over the module's heads. Computed per sample on
// its real tokens and regions (padding dropped). Cost: the shared forward plus, per sample, M
// products of token-count-sized matrices and their backward (no model weights): about 1
// forward-pass equivalent.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_rollout(const Pass& pass) {
  const int64_t B = pass.batch.size(), M = static_cast<int64_t>(pass.attention.size());
  at::Tensor head = at::zeros({B, M, pass.model.heads()}, at::kDouble);
  at::AutoGradMode grad_mode(true);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<at::Tensor> attention, ones;
    for (int64_t m = 0; m < M; ++m) {
      const at::Tensor valid = pass.valid[static_cast<size_t>(m)][b][0];  // [Q,K]
      const at::Tensor q = valid.amax(1).nonzero().view(-1), k = valid.amax(0).nonzero().view(-1);
      at::Tensor a = pass.attention[static_cast<size_t>(m)][b].index_select(1, q).index_select(2, k).unsqueeze(0);
      attention.push_back(a);
      ones.push_back(at::ones_like(a, a.options().dtype(accumulate_type(a).scalar_type())).requires_grad_(true));
    }
    const int64_t text_tokens = pass.batch.text_mask[b].sum().item<int64_t>();
    models::RelevanceMaps maps = pass.model.relevance_maps(attention, ones, {}, text_tokens);
    at::Tensor f = maps.text.sum() + maps.image.sum();
    if (maps.model_tokens.defined()) f = f + maps.model_tokens.sum();
    f.backward();
    for (int64_t m = 0; m < M; ++m)
      head[b].select(0, m).copy_(to_output(ones[static_cast<size_t>(m)].grad()[0].sum({1, 2}) / f.detach()));
  }
  return {head, head.mean(2)};
}

}  // namespace headprune::explain
