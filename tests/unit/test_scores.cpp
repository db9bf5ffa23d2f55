// ctest-labels: fast fixture
// Scoring methods against second computations: batched = one-by-one, 'ours' = a finite
// difference, 'michel' = the gradient of an explicit gate tensor, 'random' from its seed.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/batch.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

namespace {
explain::ScoringOptions all_methods() {
  explain::ScoringOptions o;
  o.methods = explain::method_names();  // every method of the registry
  o.random_seed = 7;
  return o;
}
at::Tensor labels_of(const std::vector<verify::FixtureSample>& s) {
  std::vector<at::Tensor> v;
  for (const auto& x : s) v.push_back(x.label_vector);
  return at::stack(v);
}
}  // namespace

class ScoresPerModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ScoresPerModel, BatchedScoresEqualOneByOne) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<models::Batch> singles;
  std::vector<int64_t> index;
  for (size_t i = 0; i < samples.size(); ++i) {
    singles.push_back(samples[i].batch);
    index.push_back(static_cast<int64_t>(i) + 100);
  }
  auto batched = explain::score_batch(*model, models::collate(singles), all_methods(), labels_of(samples), index);
  for (size_t i = 0; i < samples.size(); ++i) {
    auto one = explain::score_batch(*model, samples[i].batch, all_methods(), samples[i].label_vector.unsqueeze(0),
                                    {index[i]});
    EXPECT_EQ(batched.target[static_cast<int64_t>(i)].item<int64_t>(), one.target[0].item<int64_t>());
    for (const auto& [method, s] : one.scores) {
      const auto& b = batched.scores.at(method);
      EXPECT_LT(hptest::max_abs_diff(b.head[static_cast<int64_t>(i)], s.head[0]), 1e-12) << method;
      EXPECT_LT(hptest::max_abs_diff(b.layer[static_cast<int64_t>(i)], s.layer[0]), 1e-12) << method;
    }
  }
}

TEST_P(ScoresPerModel, OursEqualsAFiniteDifferenceOfAHeadGate) {
  // ours_h * (number of pairs) = d logit[target] / d gate_h, gate multiplying head h's
  // probabilities. Central difference in float64, no autograd involved.
  auto model = hptest::fixture_model(GetParam());
  auto sample = hptest::fixture_samples(GetParam())[3];
  explain::ScoringOptions o;
  auto scored = explain::score_batch(*model, sample.batch, o, {}, {0});
  const int64_t target = scored.target[0].item<int64_t>();
  const int64_t M = model->num_modules(), H = model->heads();
  at::NoGradGuard ng;
  for (int64_t m : {int64_t{0}, M - 1}) {
    for (int64_t h = 0; h < H; h += 3) {
      const double eps = 1e-6;
      auto logit_at = [&](double g) {
        models::ForwardOptions fo;
        fo.keep = at::ones({1, M, H}, at::TensorOptions().dtype(at::kDouble));
        fo.keep[0][m][h] = g;
        return model->forward(sample.batch, fo).logits[0][target].item<double>();
      };
      const double fd = (logit_at(1 + eps) - logit_at(1 - eps)) / (2 * eps);
      at::Tensor pairs = explain::valid_pairs(*model, sample.batch, m).sum();
      const double ours_sum = scored.scores["ours"].head[0][m][h].item<double>() * pairs.item<double>();
      EXPECT_NEAR(ours_sum, fd, 1e-7 * std::max(1.0, std::abs(fd))) << "module " << m << " head " << h;
    }
  }
}

TEST_P(ScoresPerModel, MichelEqualsTheGradientOfAnExplicitGate) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  explain::ScoringOptions o;
  o.methods = {"michel"};
  for (size_t i : {size_t{0}, size_t{4}}) {
    auto scored = explain::score_batch(*model, samples[i].batch, o, samples[i].label_vector.unsqueeze(0), {0});
    at::Tensor gate = at::ones({1, model->num_modules(), model->heads()}, at::TensorOptions().dtype(at::kDouble))
                          .requires_grad_(true);
    models::ForwardOptions fo;
    fo.keep = gate;
    at::Tensor logits = model->forward(samples[i].batch, fo).logits;
    at::binary_cross_entropy_with_logits(logits, samples[i].label_vector.unsqueeze(0), {}, {}, at::Reduction::Sum)
        .backward();
    EXPECT_LT(hptest::max_abs_diff(scored.scores["michel"].head, gate.grad().abs()), 1e-12);
  }
}

// 'gradient' = mean |d logit[target] / d attn| over the real pairs: equal to the mean computed
// from the attention gradients a separate 'ours' pass returns (keep_maps), and never below
// |ours| (|mean(g a)| <= mean(|g| a) <= mean(|g|) as 0 <= a <= 1).
TEST_P(ScoresPerModel, GradientIsTheMeanGradientMagnitude) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  explain::ScoringOptions o;
  o.methods = {"gradient"};
  explain::ScoringOptions maps;
  maps.methods = {"ours"};
  maps.keep_maps = true;
  for (size_t i : {size_t{0}, size_t{3}}) {
    const auto& batch = samples[i].batch;
    auto scored = explain::score_batch(*model, batch, o, {}, {0});
    auto ours = explain::score_batch(*model, batch, maps, {}, {0});
    ASSERT_EQ(scored.scores.count("ours"), 0u);  // only what was asked for
    for (int64_t m = 0; m < model->num_modules(); ++m) {
      const at::Tensor g = ours.gradients[static_cast<size_t>(m)][0];  // [H,Q,K]
      const at::Tensor v = explain::valid_pairs(*model, batch, m)[0][0].to(g.scalar_type());  // [Q,K]
      for (int64_t h = 0; h < model->heads(); ++h) {
        const double expected = ((g[h].abs() * v).sum() / v.sum()).item<double>();
        const double got = scored.scores.at("gradient").head[0][m][h].item<double>();
        EXPECT_NEAR(got, expected, 1e-12 * std::max(1.0, std::abs(expected))) << "module " << m << " head " << h;
        EXPECT_GE(got + 1e-15, std::abs(ours.scores.at("ours").head[0][m][h].item<double>()));
      }
      const double layer = ((g.abs() * v).sum() / (v.sum() * model->heads())).item<double>();
      EXPECT_NEAR(scored.scores.at("gradient").layer[0][m].item<double>(), layer, 1e-12 * std::max(1.0, layer));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ScoresPerModel, ::testing::Values("lxmert", "visualbert"));

TEST(RandomScores, ReproducibleFromTheSeedAndDifferentAcrossSeeds) {
  auto model = hptest::fixture_model("visualbert");
  auto sample = hptest::fixture_samples("visualbert")[0];
  explain::ScoringOptions o;
  o.methods = {"random"};
  o.random_seed = 11;
  auto a = explain::score_batch(*model, sample.batch, o, {}, {5});
  auto b = explain::score_batch(*model, sample.batch, o, {}, {5});
  EXPECT_TRUE(at::equal(a.scores["random"].head, b.scores["random"].head));
  o.random_seed = 12;
  auto c = explain::score_batch(*model, sample.batch, o, {}, {5});
  EXPECT_FALSE(at::equal(a.scores["random"].head, c.scores["random"].head));
  o.random_seed = 11;
  auto d = explain::score_batch(*model, sample.batch, o, {}, {6});  // another sample index
  EXPECT_FALSE(at::equal(a.scores["random"].head, d.scores["random"].head));
  at::Tensor h = a.scores["random"].head;
  EXPECT_TRUE((h >= 0).all().item<bool>() && (h < 1).all().item<bool>());
}

TEST(ConfidenceScores, MeanOfTheLargestWeightPerQuery) {
  auto model = hptest::fixture_model("lxmert");
  auto sample = hptest::fixture_samples("lxmert")[1];
  explain::ScoringOptions o;
  o.methods = {"confidence"};
  o.keep_maps = true;
  auto s = explain::score_batch(*model, sample.batch, o, {}, {0});
  for (int64_t m = 0; m < model->num_modules(); ++m) {
    at::Tensor expected = std::get<0>(s.attention[static_cast<size_t>(m)][0].max(-1)).mean(-1);  // [H]
    EXPECT_LT(hptest::max_abs_diff(s.scores["confidence"].head[0][m], expected), 1e-14);
  }
}

// bf16 models: attention and gradients are bf16, the relevance maps are accumulated in float32 -
// the maps of bf16 inputs equal, bit for bit, the maps of the same values widened to float32.
TEST_P(ScoresPerModel, RelevanceMapsOfABf16ModelAccumulateInFloat32) {
  auto model = hptest::fixture_model(GetParam(), at::kBFloat16);
  auto samples = hptest::fixture_samples(GetParam(), at::kBFloat16);
  explain::ScoringOptions o;
  o.keep_maps = true;
  const models::Batch& batch = samples[1].batch;
  explain::ScoringResult sr = explain::score_batch(*model, batch, o, {}, {1});
  ASSERT_EQ(sr.attention[0].scalar_type(), at::kBFloat16);
  std::vector<at::Tensor> att32, grad32;
  for (size_t m = 0; m < sr.attention.size(); ++m) {
    att32.push_back(sr.attention[m].to(at::kFloat));
    grad32.push_back(sr.gradients[m].to(at::kFloat));
  }
  const int64_t T = batch.text_mask.sum().item<int64_t>();
  at::Tensor keep = at::ones({model->num_modules(), model->heads()}, at::kBFloat16);
  keep[0][1] = 0;
  keep[2][0] = 0;
  models::RelevanceMaps bf = model->relevance_maps(sr.attention, sr.gradients, keep, T);
  models::RelevanceMaps f32 = model->relevance_maps(att32, grad32, keep.to(at::kFloat), T);
  ASSERT_EQ(bf.maps.size(), f32.maps.size());
  for (const auto& [name, map] : bf.maps) {
    EXPECT_EQ(map.scalar_type(), at::kFloat) << name;
    EXPECT_TRUE(at::equal(map, f32.maps.at(name))) << name;
  }
}
