#include "headprune/prune/protocol.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "headprune/common/error.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/families.hpp"

namespace headprune::prune {

CountRule seed_count_rule(const models::VqaModel& model) {
  const models::FamilyInfo& family = models::find_family(model.name(), "model");
  return parse_count_rule(family.seed_count_rule, "the " + family.name + " row of models/families");
}

int64_t pruned_count(CountRule rule, double ratio, int64_t total) {
  switch (rule) {
    case CountRule::keep_floor: return total - static_cast<int64_t>((1.0 - ratio) * static_cast<double>(total));
    case CountRule::prune_floor: return static_cast<int64_t>(ratio * static_cast<double>(total));
    case CountRule::nearest: return static_cast<int64_t>(std::llround(ratio * static_cast<double>(total)));
  }
  return 0;
}

at::Tensor keep_mask(const at::Tensor& scores, double ratio, Sign sign, CountRule rule, const at::Tensor& eligible) {
  at::Tensor flat = scores.reshape({scores.numel()}).to(at::kDouble).contiguous();
  const double* s = flat.data_ptr<double>();
  std::vector<int64_t> order;  // the units that may be pruned, by index
  if (eligible.defined()) {
    HP_ASSERT(eligible.numel() == scores.numel(), "eligible must have the shape of scores");
    at::Tensor e = eligible.reshape({-1}).to(at::kByte).contiguous();
    for (int64_t i = 0; i < e.numel(); ++i)
      if (e.data_ptr<uint8_t>()[i]) order.push_back(i);
  } else {
    order.resize(static_cast<size_t>(scores.numel()));
    std::iota(order.begin(), order.end(), 0);
  }
  const int64_t n = static_cast<int64_t>(order.size());
  const int64_t prune = std::min<int64_t>(n, std::max<int64_t>(0, pruned_count(rule, ratio, n)));
  // Prune order: most important first (positive) or least important first (negative).
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return sign == Sign::positive ? s[a] > s[b] : s[a] < s[b];
  });
  at::Tensor keep = at::ones({scores.numel()}, at::kByte);
  auto k = keep.accessor<uint8_t, 1>();
  for (int64_t i = 0; i < prune; ++i) k[order[static_cast<size_t>(i)]] = 0;
  return keep.view(scores.sizes());
}

at::Tensor per_sample_masks(const at::Tensor& scores, Granularity g, Sign sign, CountRule rule,
                            const std::vector<double>& ratios, const at::Tensor& eligible) {
  const int64_t B = scores.size(0);
  at::Tensor ranked = g == Granularity::layer ? scores.to(at::kFloat) : scores;
  std::vector<at::Tensor> per_sample;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<at::Tensor> per_ratio;
    for (double r : ratios) per_ratio.push_back(keep_mask(ranked[b], r, sign, rule, eligible));
    per_sample.push_back(at::stack(per_ratio));
  }
  return at::stack(per_sample);
}

ModuleKind module_kind(const models::AttentionModule& module) {
  using models::Segment;
  if (module.queries == Segment::joint || module.keys == Segment::joint) return ModuleKind::joint;
  if (module.queries != module.keys) return ModuleKind::cross;
  return module.queries == Segment::text ? ModuleKind::text : ModuleKind::image;
}

at::Tensor eligible_units(const models::VqaModel& model, ModuleKind kind, Granularity g) {
  if (kind == ModuleKind::all) return {};
  const auto& modules = model.attention_modules();
  at::Tensor e = at::zeros({static_cast<int64_t>(modules.size())}, at::kByte);
  for (size_t m = 0; m < modules.size(); ++m) e[static_cast<int64_t>(m)] = module_kind(modules[m]) == kind ? 1 : 0;
  return g == Granularity::head ? e.unsqueeze(1).expand({-1, model.heads()}).contiguous() : e;
}

at::Tensor to_head_keep(const at::Tensor& mask, Granularity g, int64_t heads, at::ScalarType dtype) {
  at::Tensor m = mask.to(dtype);
  if (g == Granularity::layer) m = m.unsqueeze(-1).expand({-1, -1, -1, heads});
  return m;
}

models::Batch repeat_batch(const models::Batch& batch, int64_t times) {
  auto rep = [&](const at::Tensor& t) { return t.defined() ? t.repeat_interleave(times, 0) : t; };
  models::Batch out;
  out.input_ids = rep(batch.input_ids);
  out.token_type_ids = rep(batch.token_type_ids);
  out.text_mask = rep(batch.text_mask);
  out.visual_feats = rep(batch.visual_feats);
  out.visual_pos = rep(batch.visual_pos);
  out.region_mask = rep(batch.region_mask);
  return out;
}


at::Tensor masked_logits(const models::VqaModel& model, const models::Batch& batch, const at::Tensor& keep,
                         int64_t max_rows) {
  HP_ASSERT(keep.dim() == 4 && keep.size(0) == batch.size(), "keep must be [B,S,M,H]");
  at::NoGradGuard no_grad;
  const int64_t B = keep.size(0), S = keep.size(1);
  models::Batch rows = repeat_batch(batch, S);
  at::Tensor flat_keep = keep.reshape({B * S, keep.size(2), keep.size(3)}).to(model.device(), model.dtype());
  std::vector<at::Tensor> chunks;
  for (int64_t begin = 0; begin < B * S; begin += max_rows) {
    int64_t end = std::min(B * S, begin + max_rows);
    models::ForwardOptions fo;
    fo.keep = flat_keep.slice(0, begin, end);
    chunks.push_back(model.forward(models::slice(rows, begin, end), fo).logits);
  }
  return at::cat(chunks).view({B, S, -1}).cpu();
}

double python_round(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);  // glibc: exact value, ties to even, like CPython
  return std::strtod(buf, nullptr);
}

}  // namespace headprune::prune
