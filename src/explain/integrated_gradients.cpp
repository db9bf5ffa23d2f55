// Integrated gradients over one module's attention probabilities at a time (the shared pass's
// Needs::integrated_gradients; used by 'attattr'). See explain/scorer.hpp.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "headprune/common/error.hpp"
#include "headprune/explain/scorer.hpp"

namespace headprune::explain {
namespace {

// Rows `rows` of every tensor of the batch (a sample may appear several times).
models::Batch take_rows(const models::Batch& b, const at::Tensor& rows) {
  auto pick = [&](const at::Tensor& t) { return t.defined() ? t.index_select(0, rows.to(t.device())) : t; };
  return {pick(b.input_ids), pick(b.token_type_ids), pick(b.text_mask),
          pick(b.visual_feats), pick(b.visual_pos), pick(b.region_mask)};
}

}  // namespace

std::vector<at::Tensor> integrated_attention_gradients(const models::VqaModel& model, const models::Batch& batch,
                                                       const at::Tensor& target, int64_t steps, int64_t max_batch) {
  HP_ASSERT(steps >= 1, "integrated gradients need at least one step");
  const int64_t B = batch.size(), M = model.num_modules(), H = model.heads();
  const int64_t per_forward = std::max<int64_t>(1, max_batch / steps);  // samples whose steps share a forward
  const auto opts = at::TensorOptions().dtype(model.dtype()).device(model.device());
  // The step factors k/S, k = 1..S (the right Riemann sum: S = 1 is plain gradient x attention).
  const at::Tensor alphas = at::arange(1, steps + 1, at::TensorOptions().dtype(at::kDouble)) / static_cast<double>(steps);
  at::AutoGradMode grad_mode(true);
  std::vector<std::vector<at::Tensor>> parts(static_cast<size_t>(M));
  for (int64_t begin = 0; begin < B; begin += per_forward) {
    const int64_t n = std::min(B, begin + per_forward) - begin;
    // Replica r = (sample begin + r / S, step r % S): the sample's steps are consecutive rows.
    const at::Tensor rows = at::arange(begin, begin + n, at::kLong).repeat_interleave(steps);
    const models::Batch replicas = take_rows(batch, rows);
    const at::Tensor alpha = alphas.repeat({n}).to(opts);  // [n*S]
    const at::Tensor replica_target = target.to(at::kLong).cpu().index_select(0, rows);
    for (int64_t m = 0; m < M; ++m) {
      models::ForwardOptions fo;
      fo.record_attention = true;
      fo.keep = at::ones({n * steps, M, H}, opts);
      fo.keep.select(1, m).copy_(alpha.unsqueeze(1).expand({n * steps, H}));
      models::ForwardResult fwd = model.forward(replicas, fo);
      // d sum_r logit[r, target_r]: replicas never mix, so one backward gives every row's gradient.
      at::Tensor one_hot =
          at::zeros_like(fwd.logits).scatter_(1, replica_target.to(fwd.logits.device()).view({-1, 1}), 1.0);
      fwd.logits.backward(one_hot);
      // The recorded probabilities P enter as X = alpha * P, so dF/dP = alpha * dF/dX.
      at::Tensor g = accumulate_type(fwd.attention[static_cast<size_t>(m)].grad().detach());
      g = g / alpha.to(g.scalar_type()).view({-1, 1, 1, 1});
      parts[static_cast<size_t>(m)].push_back(g.view({n, steps, H, g.size(2), g.size(3)}).mean(1));
    }
  }
  std::vector<at::Tensor> out;
  for (auto& p : parts) out.push_back(at::cat(p, 0));
  return out;
}

}  // namespace headprune::explain
