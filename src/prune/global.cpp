#include "headprune/prune/global.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::prune {

GlobalProtocol::Ranking GlobalProtocol::fit(const at::Tensor& scores) const {
  GlobalRanking sums(scores.sizes().slice(1));
  sums.add(scores);
  at::Tensor mean = sums.mean(normalise_);
  at::Tensor std = (scores - scores.mean(0)).pow(2).mean(0).sqrt();  // population std
  at::Tensor order = at::argsort(mean.reshape({-1}), /*stable=*/true, 0, /*descending=*/true);
  return {std::move(sums), mean, std, order};
}

at::Tensor GlobalProtocol::masks(const Ranking& ranking, Sign sign) const {
  return ranking.sums.masks(sign, rule_, ratios_, normalise_);
}

at::Tensor GlobalProtocol::evaluate(const models::VqaModel& model, const models::Batch& batch,
                                    const std::vector<ComboMask>& combos) const {
  HP_ASSERT(!combos.empty(), "evaluate needs at least one combo");
  const int64_t B = batch.size(), H = model.heads();
  std::vector<at::Tensor> keeps;
  for (const ComboMask& c : combos)
    keeps.push_back(to_head_keep(c.mask.unsqueeze(0).unsqueeze(0), c.granularity, H, model.dtype())[0][0]);  // [M,H]
  const at::Tensor keep = at::stack(keeps).unsqueeze(0).expand({B, -1, -1, -1}).contiguous();  // [B,C,M,H]
  return masked_logits(model, batch, keep, max_rows_).argmax(2);                                // [B,C]
}

}  // namespace headprune::prune
