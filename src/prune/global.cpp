#include "headprune/prune/global.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::prune {

GlobalProtocol::Ranking GlobalProtocol::rank(const at::Tensor& mean, const at::Tensor& std) const {
  at::Tensor m = mean.to(at::kDouble);
  // HF bertology's option: each module's head scores divided by their L2 norm.
  if (normalise_ && m.dim() == 2) m = m / m.norm(2, {1}, true).clamp_min(1e-20);
  at::Tensor order = at::argsort(m.reshape({-1}), /*stable=*/true, 0, /*descending=*/true);
  return {m, std.to(at::kDouble), order};
}

at::Tensor GlobalProtocol::masks(const Ranking& ranking, Sign sign, const at::Tensor& eligible) const {
  std::vector<at::Tensor> out;
  for (double r : ratios_) out.push_back(keep_mask(ranking.mean, r, sign, rule_, eligible));
  return at::stack(out);
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
