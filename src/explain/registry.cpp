// The table of scoring methods (explain/methods.hpp): one row per method, its arithmetic in
// src/explain/<name>.cpp. Adding a method = its file and one row here.
#include "headprune/common/error.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

// Each method's function, defined in its own file.
UnitScores score_ours(const Pass& pass);        // ours.cpp
UnitScores score_lrp(const Pass& pass);         // lrp.cpp
UnitScores score_michel(const Pass& pass);      // michel.cpp
UnitScores score_confidence(const Pass& pass);  // confidence.cpp
UnitScores score_random(const Pass& pass);      // random.cpp
UnitScores score_gradient(const Pass& pass);    // gradient.cpp
UnitScores score_attention(const Pass& pass);   // attention.cpp
UnitScores score_rollout(const Pass& pass);     // rollout.cpp
UnitScores score_attattr(const Pass& pass);     // attattr.cpp
UnitScores score_attnlrp(const Pass& pass);     // attnlrp.cpp

namespace {

struct Row {
  MethodInfo info;
  ScoreFn score;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table{
      {{"ours", "mean over the real (query, key) pairs of grad * attn, grad = d logit[target] / d attn (the seed's)",
        Needs::logit_gradient, "2 (forward + backward)"},
       score_ours},
      {{"lrp", "mean LRP relevance of the attention probabilities (Chefer et al. 2021)", Needs::lrp_per_sample,
        "2 + relprop, about 8 (the shared forward, then per sample a forward recording LRP and relprop)"},
       score_lrp},
      {{"michel", "|d loss / d gate| of a gate multiplying each head, loss = VQA BCE (Michel et al. 2019)",
        Needs::loss_gradient, "3 (forward + two backwards)"},
       score_michel},
      {{"confidence", "mean over queries of the largest attention weight (Voita et al. 2019)", Needs::attention,
        "1 (forward)"},
       score_confidence},
      {{"random", "uniform in [0,1), reproducible from (seed, sample index, unit)", Needs::nothing,
        "1 (the shared forward gives the logits; the scores cost nothing)", /*drawn=*/true},
       score_random},
      {{"gradient", "mean over the real (query, key) pairs of |d logit[target] / d attn|", Needs::logit_gradient,
        "2 (forward + backward)"},
       score_gradient},
      {{"attention", "raw attention: mean over the real queries of the attention-weighted mean weight sum_k a_qk^2",
        Needs::attention, "1 (forward)"},
       score_attention},
      {{"rollout",
        "the head's share of the explained token's rolled-out attention (Abnar & Zuidema 2020) along the seed's "
        "relevance path",
        Needs::attention, "1 + per sample M token-by-token matrix products and their backward (about 1)"},
       score_rollout},
      {{"attattr",
        "attention attribution (Hao et al. 2021): mean over the real pairs of attn * integrated gradient along "
        "(k/S) attn, one module at a time",
        Needs::integrated_gradients, "1 + 2 M S (S = scoring.ig_steps forwards + backwards per scored module)"},
       score_attattr},
      {{"attnlrp",
        "AttnLRP (Achtibat et al. 2024): mean over the real pairs of the attention probabilities' relevance under "
        "the paper's softmax, uniform (matrix product), LayerNorm and identity rules",
        Needs::attnlrp_relevance, "3 (the shared forward, then a forward recording the modified backward + that backward)"},
       score_attnlrp},
  };
  return table;
}

const Row& find_row(const std::string& name, const std::string& where) {
  for (const auto& r : rows())
    if (r.info.name == name) return r;
  std::string expected;
  const auto& all = rows();
  for (size_t i = 0; i < all.size(); ++i)
    expected += (i == 0 ? "" : i + 1 == all.size() ? " or " : ", ") + all[i].info.name;
  throw UserError(where + ": unknown scoring method '" + name + "' (expected " + expected + ")");
}

}  // namespace

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> infos = [] {
    std::vector<MethodInfo> out;
    for (const auto& r : rows()) out.push_back(r.info);
    return out;
  }();
  return infos;
}

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const auto& r : rows()) out.push_back(r.info.name);
  return out;
}

const MethodInfo& find_method(const std::string& name, const std::string& where) {
  return find_row(name, where).info;
}

ScoreFn scorer_of(const std::string& name) { return find_row(name, "scoring.methods").score; }

const char* target_name(Target t) { return t == Target::ground_truth ? "ground_truth" : "predicted"; }

Target parse_target(const std::string& name, const std::string& where) {
  for (Target t : {Target::predicted, Target::ground_truth})
    if (name == target_name(t)) return t;
  throw UserError(where + ": unknown explained answer '" + name + "' (expected predicted or ground_truth)");
}

}  // namespace headprune::explain
