// Building padded batches from single examples, and taking examples back out.
#pragma once

#include <vector>

#include "headprune/models/model.hpp"

namespace headprune::models {

/// Pads single examples (batch size 1 each, any text length and region count) into one batch:
/// text right-padded with id 0 and text_mask 0; regions padded with zeros and region_mask 0
/// (region_mask stays undefined when every example has the same region count and none had one).
Batch collate(const std::vector<Batch>& examples);

/// Examples [begin, end) of a batch (views, no copy).
Batch slice(const Batch& batch, int64_t begin, int64_t end);

/// Example `b` without its padding (batch size 1).
Batch unpad(const Batch& batch, int64_t b);

/// [rows * cols, 4] float32: the boxes of a rows x cols patch grid normalised by the image,
/// (j / cols, i / rows, (j + 1) / cols, (i + 1) / rows) for patch i * cols + j - what
/// data::ImageFolder gives a pixel model (InputSpec::patch_size) as visual_pos.
at::Tensor patch_grid_boxes(int64_t rows, int64_t cols);

/// visual_pos [B, R, 4] float32 for synthetic inputs (bench, latency): a pixel model's R patches
/// on the squarest grid of R cells; random boxes otherwise. Undefined when the model reads none.
at::Tensor synthetic_visual_pos(const VqaModel& model, int64_t batch, int64_t regions, at::Generator& gen);

}  // namespace headprune::models
