// Physically pruned models (issue 20; docs/export.md): the heads a keep mask removes are taken
// out of the weights (their Q/K/V rows and output-projection columns), so that the model is
// smaller and its forward does less work, and a model whose attention module lost every head
// adds only its output projection's bias, as the masked model does with an all-zero keep row.
//
// The exported config.json is the source's plus `headprune_attention_heads` {module: heads kept}
// (read back by load_model: src/models/model_internal.hpp HeadCounts). Modules that run through
// one set of weights (LXMERT's two cross-attention directions) but keep different heads each get
// their own copy, under the module's own name (x_layers.i.visual_attention_copy.*).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/models/weights.hpp"

namespace headprune::models {

struct PrunedModel {
  std::string config_json;  ///< config.json text
  TensorMap weights;        ///< checkpoint names (the source's layout) -> CPU tensors of the model's dtype
  int64_t heads_total = 0;  ///< scored heads of the source (modules x heads)
  int64_t heads_kept = 0;   ///< of those, kept
  std::vector<std::string> removed_modules;  ///< attention weights left with no head
  std::vector<std::string> split_modules;    ///< modules given their own copy of shared weights
};

/// The model `model` (unpruned, loaded from a folder with config.json) without the heads that
/// `keep` removes: keep is 0/1 [M, H] (heads) or [M] (whole modules) in attention_modules() order,
/// as a results file's keep_mask stores it. UserError for a wrong shape, an already pruned model or
/// a model without config.json (an MMF zoo folder).
PrunedModel prune_model(const VqaModel& model, const at::Tensor& keep);

/// Writes config.json and model.safetensors of `pruned` into `folder` (which must exist).
void write_pruned_model(const PrunedModel& pruned, const std::string& folder);

/// The pruned model in memory, in `options.dtype` on `options.device` (the bench: no files).
std::unique_ptr<VqaModel> load_pruned_model(const VqaModel& source, const PrunedModel& pruned, const LoadOptions& options);

}  // namespace headprune::models
