#include "headprune/prune/global_ranking.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::prune {

GlobalRanking::GlobalRanking(at::IntArrayRef units) : sum_(at::zeros(units, at::kDouble)) {}

void GlobalRanking::add(const at::Tensor& scores) {
  HP_ASSERT(scores.sizes().slice(1) == sum_.sizes(), "scores do not match the ranking's units");
  sum_ += scores.to(at::kDouble).sum(0);
  count_ += scores.size(0);
}

void GlobalRanking::merge(const GlobalRanking& other) {
  HP_ASSERT(other.sum_.sizes() == sum_.sizes(), "merging rankings of different units");
  sum_ += other.sum_;
  count_ += other.count_;
}

at::Tensor GlobalRanking::pack() const {
  return at::cat({sum_.reshape({-1}), at::full({1}, static_cast<double>(count_), at::kDouble)});
}

void GlobalRanking::unpack(const at::Tensor& packed) {
  HP_ASSERT(packed.numel() == sum_.numel() + 1, "packed ranking has the wrong size");
  sum_ = packed.slice(0, 0, sum_.numel()).reshape(sum_.sizes()).clone();
  count_ = static_cast<int64_t>(packed[-1].item<double>());
}

at::Tensor GlobalRanking::mean(bool per_layer_normalise) const {
  HP_ASSERT(count_ > 0, "global ranking of zero samples");
  at::Tensor m = sum_ / static_cast<double>(count_);
  if (per_layer_normalise && m.dim() == 2) m = m / m.norm(2, {1}, true).clamp_min(1e-20);
  return m;
}

at::Tensor GlobalRanking::masks(Sign sign, CountRule rule, const std::vector<double>& ratios,
                                bool per_layer_normalise) const {
  at::Tensor m = mean(per_layer_normalise);
  std::vector<at::Tensor> out;
  for (double r : ratios) out.push_back(keep_mask(m, r, sign, rule));
  return at::stack(out);
}

}  // namespace headprune::prune
