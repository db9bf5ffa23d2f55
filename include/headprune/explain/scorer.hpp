// What a scoring method's file implements (src/explain/<name>.cpp): a function from the shared
// pass of score_batch to the method's head and layer scores. score_batch runs the pass once,
// computing only what the requested methods need (explain/methods.hpp's Needs), then calls each
// requested method's function (its row of src/explain/registry.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "headprune/explain/methods.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/model.hpp"

namespace headprune::explain {

/// The shared pass over one batch. Fields a method's Needs do not cover may be empty.
struct Pass {
  const models::VqaModel& model;
  const models::Batch& batch;
  const ScoringOptions& options;
  const at::Tensor& labels;                 ///< [B, answers] soft scores (may be undefined)
  const std::vector<int64_t>& sample_index;  ///< [B] global sample indices
  at::Tensor target;                        ///< [B] int64 explained answer
  std::vector<at::Tensor> valid;            ///< per module [B,1,Q,K] real (query, key) pairs
  std::vector<at::Tensor> attention;        ///< attention: per module [B,H,Q,K] detached probabilities
  std::vector<at::Tensor> grads;            ///< logit_gradient: per module d logit[target] / d attn
  std::vector<at::Tensor> loss_grads;       ///< loss_gradient: per module d loss / d attn
  std::vector<std::vector<at::Tensor>> lrp_cams;  ///< lrp_per_sample: [sample][module] attn_cam [1,H,Q,K]
  /// integrated_gradients: per module [B,H,Q,K], the mean over k = 1 .. S of d logit[target] / dX at
  /// X = (k/S) attn (integrated_attention_gradients)
  std::vector<at::Tensor> ig_grads;
  /// attnlrp_relevance: per module [B,H,Q,K], AttnLRP's relevance of the attention probabilities
  /// (attnlrp_attention_relevance)
  std::vector<at::Tensor> attnlrp_relevance;
};

using ScoreFn = UnitScores (*)(const Pass& pass);

/// The function of the method called `name` (a registry row).
ScoreFn scorer_of(const std::string& name);

// Helpers shared by the method files.
/// Scores and relevance accumulate in at least float32 (bf16 models).
at::Tensor accumulate_type(const at::Tensor& t);
/// To CPU float64, the dtype of every score.
at::Tensor to_output(const at::Tensor& t);
/// Head and layer means of x [B,H,Q,K] (per module) over the valid pairs [B,1,Q,K].
UnitScores mean_over_valid_pairs(const std::vector<at::Tensor>& per_module, const std::vector<at::Tensor>& valid);

/// Integrated gradients over the attention probabilities, one module at a time (Hao et al. 2021):
/// per module m, [B,H,Q,K] = (1/steps) sum_{k=1..steps} d logit[b, target_b] / dX at X = (k/steps)
/// A_m, A_m = module m's probabilities, every other module as it is (the right Riemann sum of
/// the path integral; attr = A_m * this). The model multiplies a module's probabilities by a
/// keep factor (ForwardOptions::keep), so each step is a forward with keep = k/steps on module m
/// and the gradient of the recorded probabilities divided by k/steps. The steps of a sample run
/// as one batch: each forward holds the steps of max(1, max_batch / steps) samples.
std::vector<at::Tensor> integrated_attention_gradients(const models::VqaModel& model, const models::Batch& batch,
                                                       const at::Tensor& target, int64_t steps, int64_t max_batch);

/// AttnLRP's relevance of every module's attention probabilities (Achtibat et al. 2024): per
/// module [B,H,Q,K] = A * g, g = d logit[b, target_b] / dA through the model's modified backward
/// (ForwardOptions::attnlrp), one forward and one backward for the whole batch (samples never
/// mix). In at least float32 (accumulate_type). Defined in src/explain/attnlrp.cpp.
std::vector<at::Tensor> attnlrp_attention_relevance(const models::VqaModel& model, const models::Batch& batch,
                                                    const at::Tensor& target);

}  // namespace headprune::explain
