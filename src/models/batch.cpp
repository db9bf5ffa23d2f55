#include "headprune/models/batch.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::models {

Batch collate(const std::vector<Batch>& examples) {
  HP_ASSERT(!examples.empty(), "collate needs at least one example");
  int64_t T = 0, R = 0;
  bool any_region_mask = false, same_regions = true;
  for (const auto& e : examples) {
    T = std::max(T, e.input_ids.size(1));
    if (R && R != e.visual_feats.size(1)) same_regions = false;
    R = std::max(R, e.visual_feats.size(1));
    any_region_mask |= e.region_mask.defined();
  }
  auto pad = [](const at::Tensor& t, int64_t dim, int64_t to) {
    if (t.size(dim) == to) return t;
    std::vector<int64_t> shape = t.sizes().vec();
    shape[static_cast<size_t>(dim)] = to - t.size(dim);
    return at::cat({t, at::zeros(shape, t.options())}, dim);
  };
  std::vector<at::Tensor> ids, tts, tmask, feats, pos, rmask;
  for (const auto& e : examples) {
    ids.push_back(pad(e.input_ids, 1, T));
    tts.push_back(pad(e.token_type_ids, 1, T));
    tmask.push_back(pad(e.text_mask, 1, T));
    feats.push_back(pad(e.visual_feats, 1, R));
    if (e.visual_pos.defined()) pos.push_back(pad(e.visual_pos, 1, R));
    at::Tensor rm = e.region_mask.defined() ? e.region_mask : at::ones({1, e.visual_feats.size(1)}, e.text_mask.options());
    rmask.push_back(pad(rm, 1, R));
  }
  Batch b;
  b.input_ids = at::cat(ids);
  b.token_type_ids = at::cat(tts);
  b.text_mask = at::cat(tmask);
  b.visual_feats = at::cat(feats);
  if (pos.size() == examples.size()) b.visual_pos = at::cat(pos);
  if (any_region_mask || !same_regions) b.region_mask = at::cat(rmask);
  return b;
}

Batch slice(const Batch& batch, int64_t begin, int64_t end) {
  auto sl = [&](const at::Tensor& t) { return t.defined() ? t.slice(0, begin, end) : t; };
  return {sl(batch.input_ids), sl(batch.token_type_ids), sl(batch.text_mask),
          sl(batch.visual_feats), sl(batch.visual_pos), sl(batch.region_mask)};
}

Batch unpad(const Batch& batch, int64_t b) {
  const int64_t T = batch.text_mask[b].sum().item<int64_t>();
  const int64_t R = batch.region_mask.defined() ? batch.region_mask[b].sum().item<int64_t>() : batch.visual_feats.size(1);
  Batch one = slice(batch, b, b + 1);
  one.input_ids = one.input_ids.slice(1, 0, T);
  one.token_type_ids = one.token_type_ids.slice(1, 0, T);
  one.text_mask = one.text_mask.slice(1, 0, T);
  one.visual_feats = one.visual_feats.slice(1, 0, R);
  if (one.visual_pos.defined()) one.visual_pos = one.visual_pos.slice(1, 0, R);
  one.region_mask = at::Tensor();
  return one;
}

at::Tensor patch_grid_boxes(int64_t rows, int64_t cols) {
  HP_ASSERT(rows > 0 && cols > 0, "patch_grid_boxes: an empty grid");
  std::vector<float> v;
  v.reserve(static_cast<size_t>(rows * cols * 4));
  // In float32, as the image loader computes them from pixel coordinates.
  const float c = static_cast<float>(cols), r = static_cast<float>(rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      for (float x : {static_cast<float>(j) / c, static_cast<float>(i) / r, static_cast<float>(j + 1) / c,
                      static_cast<float>(i + 1) / r})
        v.push_back(x);
  return at::tensor(v, at::kFloat).view({rows * cols, 4});
}

at::Tensor synthetic_visual_pos(const VqaModel& model, int64_t batch, int64_t regions, at::Generator& gen) {
  const InputSpec spec = model.input_spec();
  if (spec.patch_size > 0) {
    int64_t rows = 1;
    for (int64_t r = 1; r * r <= regions; ++r)
      if (regions % r == 0) rows = r;
    return patch_grid_boxes(rows, regions / rows).unsqueeze(0).expand({batch, regions, 4}).contiguous();
  }
  if (!spec.needs_boxes) return {};
  at::Tensor xy = at::rand({batch, regions, 2}, gen) * 0.7;
  return at::cat({xy, xy + 0.25}, 2).to(at::kFloat);
}

}  // namespace headprune::models
