// Head and layer importance scores, computed through the models' attention interface only.
//
//   ours        mean over the real (query, key) pairs of grad ⊙ attn, grad = d logit[target] / d attn
//               (the seed's gradient × attention; sign kept)
//   lrp         mean of the LRP relevance of the attention probabilities (Chefer et al. 2021)
//   michel      |d loss / d gate|, gate = 1 multiplying each head's probabilities, loss = the VQA
//               soft-label binary cross-entropy (Michel et al. 2019)
//   confidence  mean over queries of the largest attention weight (Voita et al. 2019)
//   random      uniform in [0,1), reproducible from (seed, sample index, unit)
//
// One forward + one backward gives ours (and confidence); michel adds a second backward
// through the same graph; lrp runs its own forward per sample (batch size 1, the seed's
// renormalisation sums over the whole tensor). Layer scores average over all heads' entries.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "headprune/models/model.hpp"

namespace headprune::explain {

enum class Method { ours, lrp, michel, confidence, random };
enum class Target { predicted, ground_truth };

const char* method_name(Method m);
/// Parses "ours", "lrp", ...; throws UserError naming `where` otherwise.
Method parse_method(const std::string& name, const std::string& where);

struct ScoringOptions {
  std::vector<Method> methods{Method::ours};
  Target target = Target::predicted;
  bool michel_normalize = false;  ///< per-layer L2 normalisation (HF bertology)
  uint64_t random_seed = 0;
  bool keep_maps = false;         ///< also return attention, gradients, attn_cam (conformance, visualisation)
};

struct UnitScores {
  at::Tensor head;   ///< [B, modules, heads] float64
  at::Tensor layer;  ///< [B, modules] float64
};

struct ScoringResult {
  at::Tensor logits;      ///< [B, answers] unpruned forward (reused for ratio 0)
  at::Tensor target;      ///< [B] int64 explained answer
  std::map<Method, UnitScores> scores;
  // keep_maps: per module [B,H,Q,K] (padded), detached
  std::vector<at::Tensor> attention, gradients;
  std::vector<at::Tensor> attn_cam;                    ///< lrp only; per module, one entry per sample
  std::vector<std::map<std::string, at::Tensor>> lrp_outputs;  ///< per sample relprop outputs
};

/// Scores a batch. `labels` [B, answers] (soft scores) is needed for michel and ground_truth.
/// `sample_index` [B] (global indices) seeds 'random' so any sharding gives the same scores.
ScoringResult score_batch(const models::VqaModel& model, const models::Batch& batch, const ScoringOptions& options,
                          const at::Tensor& labels, const std::vector<int64_t>& sample_index);

/// Real-token mask of a module's map, [B,1,Q,K] (1 = real query and real key).
at::Tensor valid_pairs(const models::VqaModel& model, const models::Batch& batch, int64_t module);

}  // namespace headprune::explain
