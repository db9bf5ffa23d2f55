// Head and layer importance scores, computed through the models' attention interface only.
//
// The methods are the rows of src/explain/registry.cpp (names and needs: explain/methods.hpp),
// each in its own file (src/explain/<name>.cpp). score_batch runs one shared pass computing only
// what the requested methods need: one forward + one backward gives ours (and confidence);
// michel adds a second backward through the same graph; lrp runs its own forward per sample
// (batch size 1, the seed's renormalisation sums over the whole tensor); attattr adds, per
// module, ig_steps scaled forwards + backwards (the steps of a sample batched); attnlrp adds one
// forward recording AttnLRP's modified backward and that backward (batched); attention and
// rollout read the forward's probabilities only. Layer scores average over all heads' entries
// (attention, rollout, confidence, michel: the mean of the module's head scores).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "headprune/explain/methods.hpp"
#include "headprune/models/model.hpp"

namespace headprune::explain {

struct ScoringOptions {
  std::vector<std::string> methods{"ours"};  ///< registry names (explain/methods.hpp)
  Target target = Target::predicted;
  bool michel_normalize = false;  ///< per-layer L2 normalisation (HF bertology)
  uint64_t random_seed = 0;
  int64_t ig_steps = 20;          ///< integrated-gradients steps of 'attattr' (>= 1)
  /// Draws of a random baseline (MethodInfo::drawn; >= 1): draw r > 0 of method m is scored as
  /// repeat_key(m, r)
  int64_t random_repeats = 1;
  bool keep_maps = false;         ///< also return attention, gradients, attn_cam (conformance, visualisation)
};

struct UnitScores {
  at::Tensor head;   ///< [B, modules, heads] float64
  at::Tensor layer;  ///< [B, modules] float64
};

struct ScoringResult {
  at::Tensor logits;      ///< [B, answers] unpruned forward (reused for ratio 0)
  at::Tensor target;      ///< [B] int64 explained answer
  std::map<std::string, UnitScores> scores;  ///< by method name
  // keep_maps: per module [B,H,Q,K] (padded), detached
  std::vector<at::Tensor> attention, gradients;
  std::vector<at::Tensor> attn_cam;                    ///< lrp only; per module, one entry per sample
  std::vector<std::map<std::string, at::Tensor>> lrp_outputs;  ///< per sample relprop outputs
};

/// The scores' key of draw r of a repeated method: the method's name for r = 0 (so one draw is
/// the plain method), "<method>#<r>" after it.
std::string repeat_key(const std::string& method, int64_t r);

/// Scores a batch; a method name outside the registry is a UserError. `labels` [B, answers] (soft scores) is needed for michel and ground_truth.
/// `sample_index` [B] (global indices) seeds 'random' so any sharding gives the same scores.
ScoringResult score_batch(const models::VqaModel& model, const models::Batch& batch, const ScoringOptions& options,
                          const at::Tensor& labels, const std::vector<int64_t>& sample_index);

/// Real-token mask of a module's map, [B,1,Q,K] (1 = real query and real key).
at::Tensor valid_pairs(const models::VqaModel& model, const models::Batch& batch, int64_t module);

}  // namespace headprune::explain
