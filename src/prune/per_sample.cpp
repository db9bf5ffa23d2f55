#include "headprune/prune/per_sample.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::prune {

at::Tensor PerSampleProtocol::masks(const at::Tensor& scores, Granularity g, Sign sign, const at::Tensor& eligible) const {
  return per_sample_masks(scores, g, sign, rule_, ratios_, eligible);
}

PerSampleProtocol::Evaluation PerSampleProtocol::evaluate(const models::VqaModel& model, const models::Batch& batch,
                                                          const std::vector<ComboMasks>& combos,
                                                          const at::Tensor& unpruned_logits) const {
  HP_ASSERT(!combos.empty(), "evaluate needs at least one combo");
  const int64_t B = batch.size(), C = static_cast<int64_t>(combos.size()), S = static_cast<int64_t>(ratios_.size());
  const int64_t H = model.heads();
  std::vector<at::Tensor> keeps;
  for (const ComboMasks& c : combos) keeps.push_back(to_head_keep(c.masks, c.granularity, H, model.dtype()));  // [B,S,M,H]
  const at::Tensor keep = at::stack(keeps, 1);  // [B,C,S,M,H]

  // The ratios that need a masked forward: all, or those above 0 when the unpruned answer is known.
  std::vector<int64_t> evaluated;
  for (int64_t k = 0; k < S; ++k)
    if (!unpruned_logits.defined() || ratios_[static_cast<size_t>(k)] > 0) evaluated.push_back(k);
  Evaluation out;
  out.pred = unpruned_logits.defined()
                 ? unpruned_logits.argmax(1).cpu().view({B, 1, 1}).expand({B, C, S}).clone()
                 : at::zeros({B, C, S}, at::kLong);
  if (evaluated.empty()) return out;
  const at::Tensor idx = at::tensor(evaluated, at::kLong);
  // One masked forward group per ratio (its B x C rows, chunked by max_rows), never rows of two
  // ratios together: a row's logits depend in the last bits on the rows BLAS multiplies beside it,
  // and with this grouping a ratio's answers are the same bits whichever other ratios are
  // evaluated in the same call (run.shard: samples_x_ratios evaluates blocks of ratios).
  std::vector<at::Tensor> per_ratio;
  for (int64_t k : evaluated) per_ratio.push_back(masked_logits(model, batch, keep.select(2, k), max_rows_));  // [B,C,A]
  out.logits = at::stack(per_ratio, 2);  // [B,C,S',A]
  out.pred.index_copy_(2, idx, out.logits.argmax(3));
  return out;
}

}  // namespace headprune::prune
