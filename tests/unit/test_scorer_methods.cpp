// ctest-labels: fixture
// The scorers 'attention', 'rollout' and 'attattr' (docs/methods.md):
// - attention and rollout against tests/data/scorers/reference.h5, numbers computed by
//   tools/make_scorer_refs.py in numpy from the attention maps the seed's fixtures store
//   (tolerances: tests/data/scorers/README.md), in float64 and float32;
// - attattr: integrated-gradients completeness (a module's attributions sum to
//   F(A) - F(0 * A), the error shrinking as the steps grow), the batched pass equal to a naive
//   loop over samples and steps, and one step = 'ours';
// - attnlrp: against the same file (numbers of the paper's rules applied module by module in
//   numpy, checked there against a complex-step derivative), in float64 and float32; a padded
//   batch equal to each sample alone; conservation: with the attention scores zeroed, the
//   explained logit equals the relevance reaching the encoder's inputs + the biases' + the
//   attention maps' (the softmax keeps all it receives when its input is 0) to float64 rounding.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "fixtures.hpp"
#include "headprune/explain/scorer.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "headprune/models/batch.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

namespace {

// Tolerances of tests/data/scorers/README.md: elementwise, absolute.
struct Tolerance {
  double f64, f32;
};
const Tolerance kAttention{1e-12, 1e-5};
const Tolerance kRollout{1e-10, 1e-6};
const Tolerance kAttnLrp{1e-12, 1e-6};

explain::ScoringOptions only(std::vector<std::string> methods, int64_t ig_steps = 20) {
  explain::ScoringOptions o;
  o.methods = std::move(methods);
  o.ig_steps = ig_steps;
  return o;
}

// logit[target] of one sample with module m's probabilities multiplied by `factor`.
double logit_scaled(const models::VqaModel& model, const models::Batch& batch, int64_t m, double factor, int64_t target) {
  at::NoGradGuard ng;
  models::ForwardOptions fo;
  fo.keep = at::ones({1, model.num_modules(), model.heads()}, at::TensorOptions().dtype(model.dtype()));
  fo.keep.select(1, m).fill_(factor);
  return model.forward(batch, fo).logits[0][target].item<double>();
}

}  // namespace

class ScorerMethods : public ::testing::TestWithParam<std::string> {};

TEST_P(ScorerMethods, AttentionAndRolloutEqualThePythonReference) {
  const std::string family = GetParam();
  h5::File ref(hptest::data_path("scorers/reference.h5"), h5::File::Mode::read);
  for (at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    auto model = hptest::fixture_model(family, dtype);
    auto samples = hptest::fixture_samples(family, dtype);
    ASSERT_EQ(static_cast<int64_t>(samples.size()), ref.attr_i64("/" + family, "n_samples"));
    double worst_attention = 0, worst_rollout = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      auto scored = explain::score_batch(*model, samples[i].batch, only({"attention", "rollout"}), {}, {0});
      char group[64];
      std::snprintf(group, sizeof group, "/%s/sample_%03zu/", family.c_str(), i);
      for (const std::string method : {"attention", "rollout"}) {
        const auto& s = scored.scores.at(method);
        const double d = std::max(hptest::max_abs_diff(s.head[0], h5::read_tensor(ref, group + method + "_head")),
                                  hptest::max_abs_diff(s.layer[0], h5::read_tensor(ref, group + method + "_layer")));
        (method == "attention" ? worst_attention : worst_rollout) = std::max(
            method == "attention" ? worst_attention : worst_rollout, d);
      }
    }
    const bool f64 = dtype == at::kDouble;
    EXPECT_LE(worst_attention, f64 ? kAttention.f64 : kAttention.f32) << family << " " << c10::toString(dtype);
    EXPECT_LE(worst_rollout, f64 ? kRollout.f64 : kRollout.f32) << family << " " << c10::toString(dtype);
    std::printf("[%s %s] max |port - ref|: attention %.3g, rollout %.3g\n", family.c_str(), c10::toString(dtype),
                worst_attention, worst_rollout);
  }
}

// The rollout of a padded batch equals that of each sample alone (padding is dropped per sample).
TEST_P(ScorerMethods, RolloutOfAPaddedBatchEqualsOneByOne) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<models::Batch> singles;
  for (const auto& s : samples) singles.push_back(s.batch);
  auto batched = explain::score_batch(*model, models::collate(singles), only({"rollout", "attention"}), {}, {});
  for (size_t i = 0; i < samples.size(); ++i) {
    auto one = explain::score_batch(*model, samples[i].batch, only({"rollout", "attention"}), {}, {0});
    for (const std::string method : {"rollout", "attention"})
      EXPECT_LT(hptest::max_abs_diff(batched.scores.at(method).head[static_cast<int64_t>(i)], one.scores.at(method).head[0]),
                1e-12) << method << " sample " << i;
  }
}

// Completeness: sum over a module's entries of A * (mean gradient along k/S A) -> F(A) - F(0 A).
// The paper's right Riemann sum errs by about (g(1) - g(0)) / 2S (g = dF/dalpha along the path):
// the error falls like 1/S, and the Richardson combination 2 sum(2S) - sum(S), which cancels
// that term, lands on F(A) - F(0 A) to O(1/S^2).
TEST_P(ScorerMethods, AttattrIsCompleteAsTheStepsGrow) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  const models::Batch& batch = samples[2].batch;
  explain::ScoringOptions maps = only({"ours"});
  maps.keep_maps = true;  // the attention probabilities A
  auto scored = explain::score_batch(*model, batch, maps, {}, {0});
  const int64_t target = scored.target[0].item<int64_t>(), M = model->num_modules();
  for (int64_t m : {int64_t{0}, M - 1}) {
    const double delta = logit_scaled(*model, batch, m, 1.0, target) - logit_scaled(*model, batch, m, 0.0, target);
    std::vector<double> sum, err;
    for (int64_t steps : {32, 128, 256}) {
      auto ig = explain::integrated_attention_gradients(*model, batch, scored.target, steps, steps);
      sum.push_back((ig[static_cast<size_t>(m)] * scored.attention[static_cast<size_t>(m)]).sum().item<double>());
      err.push_back(std::abs(sum.back() - delta));
    }
    const double richardson = std::abs(2 * sum[2] - sum[1] - delta);
    std::printf("[%s module %lld] F(A) - F(0) = %.6g; |sum attr - that| at 32/128/256 steps: %.3g %.3g %.3g; "
                "Richardson 128/256: %.3g\n", GetParam().c_str(), (long long)m, delta, err[0], err[1], err[2], richardson);
    EXPECT_LT(err[2], err[0] / 4) << "module " << m;  // 8 x the steps: about 8 x less error
    EXPECT_LT(err[2], 5e-2 * std::abs(delta)) << "module " << m;
    EXPECT_LT(richardson, 1e-3 * std::abs(delta)) << "module " << m;
  }
}

// The batched pass (samples padded together, the steps of a sample in one forward) equals a naive
// loop: one sample, one module, one step at a time.
TEST_P(ScorerMethods, AttattrBatchedEqualsANaiveLoop) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  const int64_t S = 5, M = model->num_modules(), H = model->heads();
  std::vector<models::Batch> singles;
  for (size_t i : {size_t{0}, size_t{3}, size_t{4}}) singles.push_back(samples[i].batch);
  auto batched = explain::score_batch(*model, models::collate(singles), only({"attattr"}, S), {}, {});
  for (size_t i = 0; i < singles.size(); ++i) {
    const models::Batch& b = singles[i];
    explain::ScoringOptions maps = only({"ours"});
    maps.keep_maps = true;
    auto one = explain::score_batch(*model, b, maps, {}, {0});
    const int64_t target = one.target[0].item<int64_t>();
    for (int64_t m = 0; m < M; ++m) {
      at::Tensor sum_grad;
      for (int64_t k = 1; k <= S; ++k) {
        const double alpha = static_cast<double>(k) / S;
        models::ForwardOptions fo;
        fo.record_attention = true;
        fo.keep = at::ones({1, M, H}, at::TensorOptions().dtype(at::kDouble));
        fo.keep.select(1, m).fill_(alpha);
        models::ForwardResult f = model->forward(b, fo);
        f.logits[0][target].backward();
        at::Tensor g = f.attention[static_cast<size_t>(m)].grad() / alpha;  // d logit / dX, X = alpha * P
        sum_grad = sum_grad.defined() ? sum_grad + g : g;
      }
      const at::Tensor attr = (sum_grad / S * one.attention[static_cast<size_t>(m)])[0];  // [H,Q,K]
      const at::Tensor expected = attr.mean({1, 2});                                     // all pairs are real
      EXPECT_LT(hptest::max_abs_diff(batched.scores.at("attattr").head[static_cast<int64_t>(i)][m], expected), 1e-12)
          << "sample " << i << " module " << m;
      EXPECT_LT(std::abs(batched.scores.at("attattr").layer[static_cast<int64_t>(i)][m].item<double>() -
                         attr.mean().item<double>()),
                1e-12);
    }
  }
}

// With one step the Riemann sum is the gradient at A: attattr = 'ours' (gradient x attention).
TEST_P(ScorerMethods, AttattrWithOneStepIsOurs) {
  auto model = hptest::fixture_model(GetParam());
  auto sample = hptest::fixture_samples(GetParam())[1];
  auto scored = explain::score_batch(*model, sample.batch, only({"attattr", "ours"}, 1), {}, {0});
  EXPECT_LT(hptest::max_abs_diff(scored.scores.at("attattr").head, scored.scores.at("ours").head), 1e-13);
  EXPECT_LT(hptest::max_abs_diff(scored.scores.at("attattr").layer, scored.scores.at("ours").layer), 1e-13);
}

TEST_P(ScorerMethods, AttnLrpEqualsThePythonReference) {
  const std::string family = GetParam();
  h5::File ref(hptest::data_path("scorers/reference.h5"), h5::File::Mode::read);
  for (at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    auto model = hptest::fixture_model(family, dtype);
    auto samples = hptest::fixture_samples(family, dtype);
    ASSERT_EQ(static_cast<int64_t>(samples.size()), ref.attr_i64("/" + family, "n_samples"));
    double worst = 0, worst_rel = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      auto scored = explain::score_batch(*model, samples[i].batch, only({"attnlrp"}), {}, {0});
      char group[64];
      std::snprintf(group, sizeof group, "/%s/sample_%03zu/", family.c_str(), i);
      const auto& s = scored.scores.at("attnlrp");
      const at::Tensor head = h5::read_tensor(ref, std::string(group) + "attnlrp_head");
      const at::Tensor layer = h5::read_tensor(ref, std::string(group) + "attnlrp_layer");
      worst = std::max({worst, hptest::max_abs_diff(s.head[0], head), hptest::max_abs_diff(s.layer[0], layer)});
      worst_rel = std::max(worst_rel, hptest::max_abs_diff(s.head[0], head) / head.abs().max().item<double>());
    }
    EXPECT_LE(worst, dtype == at::kDouble ? kAttnLrp.f64 : kAttnLrp.f32) << family << " " << c10::toString(dtype);
    std::printf("[%s %s] max |port - ref| attnlrp: %.3g (%.3g of the largest head score)\n", family.c_str(),
                c10::toString(dtype), worst, worst_rel);
  }
}

// AttnLRP of a padded batch equals that of each sample alone: padded keys get no probability,
// padded queries reach nothing, and the valid pairs leave them out of the means.
TEST_P(ScorerMethods, AttnLrpOfAPaddedBatchEqualsOneByOne) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<models::Batch> singles;
  for (const auto& s : samples) singles.push_back(s.batch);
  auto batched = explain::score_batch(*model, models::collate(singles), only({"attnlrp"}), {}, {});
  for (size_t i = 0; i < samples.size(); ++i) {
    auto one = explain::score_batch(*model, samples[i].batch, only({"attnlrp"}), {}, {0});
    const auto& b = batched.scores.at("attnlrp");
    EXPECT_LT(hptest::max_abs_diff(b.head[static_cast<int64_t>(i)], one.scores.at("attnlrp").head[0]), 1e-12) << i;
    EXPECT_LT(hptest::max_abs_diff(b.layer[static_cast<int64_t>(i)], one.scores.at("attnlrp").layer[0]), 1e-12) << i;
  }
}

// Conservation. Every AttnLRP rule passes on all the relevance it receives, the biases taking
// their share (epsilon rule with eps -> 0 on linear layers, sums and LayerNorm's affine part,
// the identity rule on LayerNorm's normalisation and the nonlinearities, the uniform rule on
// q k^T and A V), except the softmax: its linearisation keeps sum R_A - sum x * (dF/dx) (its bias
// term). With every query projection zeroed (weights and bias) the softmax input x is 0, so each
// attention map keeps exactly the relevance that reaches it, and
//   logit[target] = sum(encoder inputs * grad) + sum_biases(b * grad b) + sum_modules sum(R_A).
// A missing half (uniform rule), a GELU or tanh gradient in place of the identity rule, or
// LayerNorm's full gradient breaks it by far more than rounding.
TEST_P(ScorerMethods, AttnLrpConservesTheLogit) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<at::Tensor> biases;
  {
    at::NoGradGuard ng;
    for (const auto& [name, w] : model->parameters()) {
      const bool query = name.find(".query.") != std::string::npos;
      if (query) w.zero_();
      if (!query && name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) biases.push_back(w);
    }
  }
  for (auto& b : biases) b.requires_grad_(true);
  int checked = 0;
  for (const auto& sample : samples) {
    auto scored = explain::score_batch(*model, sample.batch, only({"attnlrp"}), {}, {0});
    for (auto& b : biases) b.mutable_grad() = at::Tensor();  // the scorer's backward reached them too
    const int64_t target = scored.target[0].item<int64_t>();
    models::ForwardOptions fo;
    fo.record_attention = true;
    fo.record_hidden = true;  // the encoder's inputs (leaves of the graph)
    fo.attnlrp = true;
    models::ForwardResult f = model->forward(sample.batch, fo);
    const double logit = f.logits[0][target].item<double>();
    f.logits[0][target].backward();
    double total = 0, maps = 0;
    for (const char* leaf : {"embedding_output", "visual_feats_encoded"}) {
      auto it = f.hidden.find(leaf);
      if (it != f.hidden.end()) total += (it->second * it->second.grad()).sum().item<double>();
    }
    for (auto& b : biases)
      if (b.grad().defined()) total += (b.detach() * b.grad()).sum().item<double>();
    for (const auto& a : f.attention) maps += (a.detach() * a.grad()).sum().item<double>();
    total += maps;
    // The scorer's maps are the same relevance: their means times the pairs sum to `maps`.
    double from_scores = 0;
    for (int64_t m = 0; m < model->num_modules(); ++m) {
      const auto& a = f.attention[static_cast<size_t>(m)];
      from_scores += scored.scores.at("attnlrp").layer[0][m].item<double>() * static_cast<double>(a.numel());
    }
    EXPECT_NEAR(from_scores, maps, 1e-12 * std::max(1.0, std::abs(maps)));
    EXPECT_NEAR(total, logit, 1e-11 * std::max(1.0, std::abs(logit)));
    std::printf("[%s] logit %.6f, inputs + biases + maps %.6f (maps %.6f), difference %.2g\n", GetParam().c_str(),
                logit, total, maps, total - logit);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(samples.size()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ScorerMethods, ::testing::Values("lxmert", "visualbert"));
