// The scoring methods headprune knows: one row per method in src/explain/registry.cpp, each
// method's arithmetic in its own file (src/explain/<name>.cpp). Config validation
// (scoring.methods), the job, the visualisations and the results' paths name a method by its
// row's name. Adding a method = its file and one row of that table.
//
// Torch-free: config/ includes this header.
#pragma once

#include <string>
#include <vector>

namespace headprune::explain {

/// The answer whose logit is explained (scoring.explain).
enum class Target { predicted, ground_truth };

/// "predicted", "ground_truth".
const char* target_name(Target t);
/// Parses a target name; throws UserError naming `where` otherwise.
Target parse_target(const std::string& name, const std::string& where);

/// What a method reads from score_batch's one shared pass (explain/scorer.hpp). The pass
/// computes the union of the requested methods' needs.
enum class Needs {
  nothing,         ///< no forward output (the random baseline)
  attention,       ///< a forward with the attention probabilities recorded
  logit_gradient,  ///< + one backward of the explained logit: d logit[target] / d attn
  loss_gradient,   ///< + a second backward, of the VQA BCE loss, through the same graph
  lrp_per_sample,  ///< a forward with LRP recorded and relprop, per sample (batch size 1)
  /// + integrated gradients along each module's scaled probabilities: for every scored module,
  /// scoring.ig_steps forwards + backwards with that module's probabilities multiplied by
  /// k / ig_steps (k = 1 .. ig_steps), the steps of a sample run as one batch
  integrated_gradients,
  /// + a forward recording AttnLRP's modified backward (ForwardOptions::attnlrp) and one backward
  /// of the explained logit: each attention map's AttnLRP relevance
  attnlrp_relevance,
};

struct MethodInfo {
  std::string name;     ///< scoring.methods value, results path component, ScoringResult key
  std::string summary;  ///< one line, for docs and messages
  Needs needs;
  /// Cost per sample in forward-pass equivalents (a backward through the attention only, the
  /// weights never requiring gradients, costs about one forward); M = scored modules, S =
  /// scoring.ig_steps. `headprune bench` prints it beside the measured figure.
  std::string cost;
  /// A random baseline: its scores are one draw of a seeded generator, and a run makes
  /// scoring.random_repeats draws of it (explain/scores.hpp: repeat_key), each a curve sample.
  bool drawn = false;
};

/// Every method, in table order.
const std::vector<MethodInfo>& methods();

/// The method names in table order (config validation).
std::vector<std::string> method_names();

/// The method called `name`; UserError "<where>: unknown scoring method '<name>' (expected ...)".
const MethodInfo& find_method(const std::string& name, const std::string& where);

}  // namespace headprune::explain
