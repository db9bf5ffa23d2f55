#include "headprune/prune/per_sample.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "headprune/common/error.hpp"

namespace headprune::prune {

int64_t ratios_per_forward(int64_t rows_per_ratio) {
  HP_ASSERT(rows_per_ratio >= 1, "ratios_per_forward needs rows");
  return std::max<int64_t>(1, kForwardRows / rows_per_ratio);
}

std::vector<std::pair<int64_t, int64_t>> forward_groups(int64_t n, int64_t per_forward) {
  HP_ASSERT(n >= 0 && per_forward >= 1, "forward_groups needs a count and a group size");
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t groups = (n + per_forward - 1) / per_forward;
  for (int64_t g = 0, begin = 0; g < groups; ++g) {
    const int64_t size = n / groups + (g < n % groups ? 1 : 0);
    out.emplace_back(begin, begin + size);
    begin += size;
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> forward_blocks(const std::vector<double>& ratios, int64_t per_forward) {
  const auto S = static_cast<int64_t>(ratios.size());
  const int64_t first = S > 0 && ratios[0] == 0.0 ? 1 : 0;
  auto blocks = forward_groups(S - first, per_forward);
  for (auto& [begin, end] : blocks) {
    begin += first;
    end += first;
  }
  if (blocks.empty()) return S > 0 ? std::vector<std::pair<int64_t, int64_t>>{{0, S}} : blocks;  // the grid [0]
  blocks.front().first = 0;
  return blocks;
}

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
  // One masked forward per group of consecutive ratios (its B x C x ratios rows, chunked by
  // max_rows). A row's logits can depend in the last bits on the rows BLAS multiplies beside it,
  // so the groups are fixed by the ratios and per_forward alone: a ratio's answers are the same
  // bits whether the whole grid or only its group is evaluated (run.shard: samples_x_ratios
  // evaluates one group per unit).
  std::vector<at::Tensor> per_ratio;
  for (const auto& [begin, end] : forward_groups(static_cast<int64_t>(evaluated.size()), per_forward_)) {
    std::vector<at::Tensor> group;
    for (int64_t i = begin; i < end; ++i) group.push_back(keep.select(2, evaluated[static_cast<size_t>(i)]));
    const at::Tensor logits = masked_logits(model, batch, at::cat(group, 1), max_rows_);  // [B, ratios x C, A]
    for (int64_t i = 0; i < end - begin; ++i) per_ratio.push_back(logits.slice(1, i * C, (i + 1) * C));  // [B,C,A]
  }
  out.logits = at::stack(per_ratio, 2);  // [B,C,S',A]
  out.pred.index_copy_(2, idx, out.logits.argmax(3));
  return out;
}

}  // namespace headprune::prune
