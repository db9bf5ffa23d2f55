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

}  // namespace headprune::models
