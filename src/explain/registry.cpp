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

namespace {

struct Row {
  MethodInfo info;
  ScoreFn score;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table{
      {{"ours", "mean over the real (query, key) pairs of grad * attn, grad = d logit[target] / d attn (the seed's)",
        Needs::logit_gradient},
       score_ours},
      {{"lrp", "mean LRP relevance of the attention probabilities (Chefer et al. 2021)", Needs::lrp_per_sample},
       score_lrp},
      {{"michel", "|d loss / d gate| of a gate multiplying each head, loss = VQA BCE (Michel et al. 2019)",
        Needs::loss_gradient},
       score_michel},
      {{"confidence", "mean over queries of the largest attention weight (Voita et al. 2019)", Needs::attention},
       score_confidence},
      {{"random", "uniform in [0,1), reproducible from (seed, sample index, unit)", Needs::nothing}, score_random},
      {{"gradient", "mean over the real (query, key) pairs of |d logit[target] / d attn|", Needs::logit_gradient},
       score_gradient},
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
