// Pruning protocols: which units (heads or whole attention modules) a ratio removes, and the
// batched masked evaluation that measures VQA accuracy. The choices (CountRule, Granularity,
// Sign) and their names are in prune/units.hpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/prune/units.hpp"

namespace headprune::prune {

/// The seed's rule for the model's family (models/families.hpp): keep_floor for LXMERT,
/// prune_floor for VisualBERT.
CountRule seed_count_rule(const models::VqaModel& model);

/// Units a ratio removes out of `total`.
int64_t pruned_count(CountRule rule, double ratio, int64_t total);

/// Keep mask (1 keep, 0 prune; uint8) over the units of `scores` [N] (any float dtype; ranked as
/// given). Ties break by unit index (stable order). With `eligible` (uint8, the shape of
/// `scores`), only its units are ranked and pruned, the ratio taken of their number; the others
/// are kept (prune.modalities).
at::Tensor keep_mask(const at::Tensor& scores, double ratio, Sign sign, CountRule rule, const at::Tensor& eligible = {});

/// Per-sample keep masks for every ratio: scores [B,M,H] (head) or [B,M] (layer) ->
/// uint8 [B, ratios, M, H] or [B, ratios, M]. Layer scores are ranked after rounding to float32,
/// as the seed does (`torch.tensor(list)`). `eligible` [M(,H)]: as keep_mask's, for every sample.
at::Tensor per_sample_masks(const at::Tensor& scores, Granularity g, Sign sign, CountRule rule,
                            const std::vector<double>& ratios, const at::Tensor& eligible = {});

/// The kind of an attention module from what its queries and keys cover (units.hpp: ModuleKind;
/// never `all`).
ModuleKind module_kind(const models::AttentionModule& module);

/// The units a curve of module kind `kind` may prune: uint8 [M] (layer) or [M,H] (head); undefined
/// for ModuleKind::all (every unit).
at::Tensor eligible_units(const models::VqaModel& model, ModuleKind kind, Granularity g);

/// Expands a mask to the model's [.., M, H] shape in the compute dtype.
at::Tensor to_head_keep(const at::Tensor& mask, Granularity g, int64_t heads, at::ScalarType dtype);

/// Logits of the batch under per-example masks: `keep` [B, S, M, H] -> logits [B, S, answers].
/// The S masked forwards of each example run as one batched forward (chunked by `max_rows`).
at::Tensor masked_logits(const models::VqaModel& model, const models::Batch& batch, const at::Tensor& keep,
                         int64_t max_rows = 256);

/// Repeats every example of `batch` `times` times (example-major).
models::Batch repeat_batch(const models::Batch& batch, int64_t times);

/// Python's round(x, digits) (correctly rounded, ties to even on the exact binary value).
double python_round(double x, int digits);

}  // namespace headprune::prune
