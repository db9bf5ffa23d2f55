// ctest-labels: fast fixture
// Pruning protocols: count rules, orders, batched masked evaluation, and the global protocol.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>

#include "fixtures.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/prune/global.hpp"
#include "headprune/prune/per_sample.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/run/plan.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;
using prune::CountRule;
using prune::Sign;

namespace {
const std::vector<double> kGrid = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
std::vector<int64_t> kept(CountRule rule, int64_t n) {
  std::vector<int64_t> out;
  for (double r : kGrid) out.push_back(n - prune::pruned_count(rule, r, n));
  return out;
}
}  // namespace

TEST(CountRules, KeepCountsOnTheGrid) {
  // Expected values computed independently with CPython 3.11 floats:
  //   keep_floor: int((1 - r) * n); prune_floor: n - int(r * n); nearest: n - round_half_away(r * n).
  EXPECT_EQ(kept(CountRule::keep_floor, 10), (std::vector<int64_t>{10, 9, 8, 7, 6, 5, 4, 3, 1, 0}));
  EXPECT_EQ(kept(CountRule::keep_floor, 40), (std::vector<int64_t>{40, 36, 32, 28, 24, 20, 16, 12, 7, 3}));
  EXPECT_EQ(kept(CountRule::keep_floor, 144), (std::vector<int64_t>{144, 129, 115, 100, 86, 72, 57, 43, 28, 14}));
  EXPECT_EQ(kept(CountRule::keep_floor, 384), (std::vector<int64_t>{384, 345, 307, 268, 230, 192, 153, 115, 76, 38}));
  EXPECT_EQ(kept(CountRule::prune_floor, 10), (std::vector<int64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(kept(CountRule::prune_floor, 40), (std::vector<int64_t>{40, 36, 32, 28, 24, 20, 16, 12, 8, 4}));
  EXPECT_EQ(kept(CountRule::prune_floor, 144), (std::vector<int64_t>{144, 130, 116, 101, 87, 72, 58, 44, 29, 15}));
  EXPECT_EQ(kept(CountRule::prune_floor, 384), (std::vector<int64_t>{384, 346, 308, 269, 231, 192, 154, 116, 77, 39}));
  EXPECT_EQ(kept(CountRule::nearest, 10), (std::vector<int64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(kept(CountRule::nearest, 40), (std::vector<int64_t>{40, 36, 32, 28, 24, 20, 16, 12, 8, 4}));
  EXPECT_EQ(kept(CountRule::nearest, 144), (std::vector<int64_t>{144, 130, 115, 101, 86, 72, 58, 43, 29, 14}));
  EXPECT_EQ(kept(CountRule::nearest, 384), (std::vector<int64_t>{384, 346, 307, 269, 230, 192, 154, 115, 77, 38}));
  // The seed's VisualBERT tables (fixture README): heads pruned of 12, layers of 3.
  std::vector<int64_t> pruned12, pruned3;
  for (double r : kGrid) {
    pruned12.push_back(prune::pruned_count(CountRule::prune_floor, r, 12));
    pruned3.push_back(prune::pruned_count(CountRule::prune_floor, r, 3));
  }
  EXPECT_EQ(pruned12, (std::vector<int64_t>{0, 1, 2, 3, 4, 6, 7, 8, 9, 10}));
  EXPECT_EQ(pruned3, (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 2, 2, 2}));
}

TEST(Orders, PositiveOrderIsTheNegativeOrderReversed) {
  at::Tensor scores = at::randn({10, 4}, at::TensorOptions().dtype(at::kDouble));
  const int64_t n = scores.numel();
  for (int64_t p = 0; p <= n; ++p) {
    const double r = static_cast<double>(p) / static_cast<double>(n);
    at::Tensor pos = prune::keep_mask(scores, r, Sign::positive, CountRule::nearest);
    at::Tensor neg = prune::keep_mask(scores, 1.0 - r, Sign::negative, CountRule::nearest);
    // Positive prunes the p most important: exactly what negative keeps when it prunes n - p.
    EXPECT_TRUE(at::equal(pos, 1 - neg)) << "p = " << p;
    EXPECT_EQ(pos.sum().item<int64_t>(), n - p);
    if (p > 0 && p < n) {  // and they are the highest scores
      double min_pruned = scores.masked_select(pos == 0).min().item<double>();
      double max_kept = scores.masked_select(pos == 1).max().item<double>();
      EXPECT_GT(min_pruned, max_kept);
    }
  }
}

TEST(Orders, OneKindsUnitsArePrunedAmongThemselves) {
  // prune.modalities: with `eligible`, the mask on the eligible units is the mask of their scores
  // alone (a second computation on the subset), and every other unit is kept.
  at::Tensor scores = at::randn({10, 4}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor modules = at::zeros({10}, at::kByte);
  for (int64_t m : {2, 5, 7}) modules[m] = 1;
  const at::Tensor eligible = modules.unsqueeze(1).expand({10, 4}).contiguous();
  const at::Tensor subset = scores.index({modules.to(at::kBool)});  // [3, 4]
  for (CountRule rule : {CountRule::keep_floor, CountRule::prune_floor, CountRule::nearest})
    for (Sign sign : {Sign::positive, Sign::negative})
      for (double r : kGrid) {
        const at::Tensor mask = prune::keep_mask(scores, r, sign, rule, eligible);
        EXPECT_TRUE(mask.index({(1 - modules).to(at::kBool)}).all().item<bool>()) << "a unit of another kind pruned";
        EXPECT_TRUE(at::equal(mask.index({modules.to(at::kBool)}), prune::keep_mask(subset, r, sign, rule)))
            << "ratio " << r;
      }
  // The layer protocol's masks per sample take the same eligible set.
  at::Tensor layer = at::randn({3, 10}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor m = prune::per_sample_masks(layer, prune::Granularity::layer, Sign::positive, CountRule::keep_floor, kGrid, modules);
  for (int64_t b = 0; b < 3; ++b)
    for (size_t k = 0; k < kGrid.size(); ++k)
      EXPECT_TRUE(at::equal(m[b][static_cast<int64_t>(k)],
                            prune::keep_mask(layer[b].to(at::kFloat), kGrid[k], Sign::positive, CountRule::keep_floor, modules)));
}

TEST(ModuleKinds, FollowFromWhatQueriesAndKeysCover) {
  // LXMERT's fixture: language and cross-layer language self-attention are text, the visual
  // encoder's and the cross layers' visual self-attention image, the cross attention (both
  // directions) cross; VisualBERT's single stream is joint.
  auto lxmert = hptest::fixture_model("lxmert");
  std::map<std::string, int> count;
  for (const auto& m : lxmert->attention_modules()) {
    const std::string kind = prune::module_kind_name(prune::module_kind(m));
    ++count[kind];
    const bool cross = m.name.find("visual_attention") != std::string::npos;
    EXPECT_EQ(kind == "cross", cross) << m.name;
  }
  EXPECT_GT(count["text"], 0);
  EXPECT_GT(count["image"], 0);
  EXPECT_EQ(count["joint"], 0);
  const at::Tensor e = prune::eligible_units(*lxmert, prune::ModuleKind::cross, prune::Granularity::head);
  EXPECT_EQ(e.sum().item<int64_t>(), count["cross"] * lxmert->heads());
  EXPECT_FALSE(prune::eligible_units(*lxmert, prune::ModuleKind::all, prune::Granularity::layer).defined());
  auto visualbert = hptest::fixture_model("visualbert");
  for (const auto& m : visualbert->attention_modules())
    EXPECT_EQ(prune::module_kind(m), prune::ModuleKind::joint) << m.name;
}

class ProtocolPerModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ProtocolPerModel, BatchedMaskedEvaluationEqualsOneByOne) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<models::Batch> singles;
  for (const auto& s : samples) singles.push_back(s.batch);
  models::Batch batch = models::collate(singles);
  explain::ScoringOptions o;
  auto scored = explain::score_batch(*model, batch, o, {}, {0, 1, 2, 3, 4, 5});
  at::Tensor masks = prune::per_sample_masks(scored.scores["ours"].head, prune::Granularity::head,
                                             Sign::positive, prune::seed_count_rule(*model), kGrid);
  at::Tensor keep = prune::to_head_keep(masks, prune::Granularity::head, model->heads(), at::kDouble);
  at::Tensor batched = prune::masked_logits(*model, batch, keep, /*max_rows=*/7);  // uneven chunks on purpose
  at::NoGradGuard ng;
  for (size_t i = 0; i < samples.size(); ++i)
    for (int64_t k = 0; k < static_cast<int64_t>(kGrid.size()); ++k) {
      models::ForwardOptions fo;
      fo.keep = keep[static_cast<int64_t>(i)][k].unsqueeze(0);
      at::Tensor one = model->forward(samples[i].batch, fo).logits[0];
      at::Tensor b = batched[static_cast<int64_t>(i)][k];
      EXPECT_EQ(b.argmax().item<int64_t>(), one.argmax().item<int64_t>()) << "sample " << i << " ratio " << kGrid[k];
      EXPECT_LT(hptest::max_abs_diff(b, one), 1e-12);
    }
  // Ratio 0 keeps everything and reproduces the unpruned forward (up to BLAS blocking).
  EXPECT_TRUE((masks.select(1, 0) == 1).all().item<bool>());
  EXPECT_LT(hptest::max_abs_diff(batched.select(1, 0), scored.logits), 1e-12);
  EXPECT_TRUE(at::equal(batched.select(1, 0).argmax(1), scored.logits.argmax(1)));
}

// run.shard: samples_x_ratios evaluates a batch's ratios in blocks on different ranks. A row's
// logits can depend in the last bits on the rows BLAS multiplies beside it (up to 1e-14 in
// float64, 1e-5 in float32 on the fixtures, measured with OpenBLAS's Haswell kernels), so the
// per-sample protocol runs the ratios in fixed groups (forward_groups) and the blocks are those
// groups: a block must give the same bits as the same ratios of the whole grid, float64 and
// float32, one ratio a forward or several. And grouping ratios changes the logits by rounding only.
TEST_P(ProtocolPerModel, ARatioBlockGivesTheSameBitsAsTheWholeGrid) {
  for (at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    auto model = hptest::fixture_model(GetParam(), dtype);
    std::vector<models::Batch> singles;
    for (const auto& s : hptest::fixture_samples(GetParam(), dtype)) singles.push_back(s.batch);
    const models::Batch batch = models::collate(singles);
    auto scored = explain::score_batch(*model, batch, explain::ScoringOptions{}, {}, {0, 1, 2, 3, 4, 5});
    const CountRule rule = prune::seed_count_rule(*model);
    std::vector<prune::PerSampleProtocol::ComboMasks> combos;
    std::vector<at::Tensor> scores;
    for (auto g : {prune::Granularity::head, prune::Granularity::layer})
      for (Sign sign : {Sign::positive, Sign::negative}) {
        const auto& us = scored.scores["ours"];
        scores.push_back(g == prune::Granularity::head ? us.head : us.layer);
        combos.push_back({prune::per_sample_masks(scores.back(), g, sign, rule, kGrid), g});
      }
    const auto one_a_forward = prune::PerSampleProtocol(kGrid, rule).evaluate(*model, batch, combos, scored.logits);
    for (int64_t per_forward : {1, 3, 9}) {
      const auto whole = prune::PerSampleProtocol(kGrid, rule, per_forward).evaluate(*model, batch, combos, scored.logits);
      const double tol = dtype == at::kDouble ? 1e-12 : 1e-4;
      EXPECT_LT(hptest::max_abs_diff(whole.logits, one_a_forward.logits), tol) << per_forward << " ratios a forward";
      const auto blocks = run::ratio_blocks(run::Shard::samples_x_ratios, kGrid, per_forward);
      EXPECT_EQ(static_cast<int64_t>(blocks.size()), (static_cast<int64_t>(kGrid.size()) - 1 + per_forward - 1) / per_forward);
      for (const auto& [begin, end] : blocks) {
        const std::vector<double> ratios(kGrid.begin() + begin, kGrid.begin() + end);
        std::vector<prune::PerSampleProtocol::ComboMasks> block;
        for (const auto& c : combos) block.push_back({c.masks.slice(1, begin, end).contiguous(), c.granularity});
        const auto part = prune::PerSampleProtocol(ratios, rule, per_forward).evaluate(*model, batch, block, scored.logits);
        EXPECT_TRUE(at::equal(whole.pred.slice(2, begin, end), part.pred))
            << at::toString(dtype) << " ratios from " << begin << ", " << per_forward << " a forward";
        // The masked logits themselves, bit for bit: ratio k > 0 is column k - 1 of the whole grid's
        // (ratio 0 takes the unpruned answer and has no forward).
        EXPECT_TRUE(at::equal(whole.logits.slice(2, std::max<int64_t>(begin, 1) - 1, end - 1), part.logits))
            << at::toString(dtype) << " ratios from " << begin << ", " << per_forward << " a forward";
      }
    }
  }
}

// A global protocol cell's answers are what the per-sample protocol gives when every sample
// carries the global mask (a second code path).
TEST_P(ProtocolPerModel, GlobalProtocolCellEqualsPerSampleEvaluationUnderTheSameMask) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  std::vector<models::Batch> singles;
  for (const auto& s : samples) singles.push_back(s.batch);
  const models::Batch batch = models::collate(singles);
  const int64_t B = batch.size();
  auto scored = explain::score_batch(*model, batch, explain::ScoringOptions{}, {}, {0, 1, 2, 3, 4, 5});
  const CountRule rule = prune::seed_count_rule(*model);
  const prune::GlobalProtocol global(kGrid, rule, /*per_layer_normalise=*/false);
  const prune::PerSampleProtocol per_sample(kGrid, rule);
  for (auto g : {prune::Granularity::head, prune::Granularity::layer}) {
    const auto& us = scored.scores["ours"];
    const at::Tensor scores = g == prune::Granularity::head ? us.head : us.layer;
    const auto ranking = global.rank(scores.mean(0), scores.std(0, /*unbiased=*/false));
    for (Sign sign : {Sign::positive, Sign::negative}) {
      const at::Tensor masks = global.masks(ranking, sign);  // [S, M(,H)]
      ASSERT_EQ(masks.size(0), static_cast<int64_t>(kGrid.size()));
      for (int64_t k : {0, 4, 9}) {
        EXPECT_TRUE(at::equal(masks[k], prune::keep_mask(ranking.mean, kGrid[static_cast<size_t>(k)], sign, rule)));
        const at::Tensor cell = global.evaluate(*model, batch, {{masks[k], g}}).cpu();  // [B,1]
        std::vector<int64_t> shape{B, static_cast<int64_t>(kGrid.size())};
        for (int64_t d : masks[k].sizes()) shape.push_back(d);
        const at::Tensor everyone = masks.unsqueeze(0).expand(shape).contiguous();  // [B,S,M(,H)]
        const at::Tensor pred = per_sample.evaluate(*model, batch, {{everyone, g}}).pred;  // [B,1,S]
        EXPECT_TRUE(at::equal(cell.select(1, 0), pred.select(1, 0).select(1, k)))
            << prune::granularity_name(g) << " " << prune::sign_name(sign) << " ratio " << kGrid[static_cast<size_t>(k)];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ProtocolPerModel, ::testing::Values("lxmert", "visualbert"));

TEST(GlobalProtocol, RanksByTheMeanAndNormalisesPerLayerWhenAsked) {
  at::Tensor mean = at::randn({10, 4}, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor std = at::rand({10, 4}, at::TensorOptions().dtype(at::kDouble));
  for (bool normalise : {false, true}) {
    const prune::GlobalProtocol protocol(kGrid, CountRule::nearest, normalise);
    const auto ranking = protocol.rank(mean, std);
    const at::Tensor want = normalise ? mean / mean.norm(2, {1}, true) : mean;
    EXPECT_LT(hptest::max_abs_diff(ranking.mean, want), 1e-15);
    EXPECT_TRUE(at::equal(ranking.std, std));
    EXPECT_TRUE(at::equal(ranking.order, at::argsort(want.reshape({-1}), true, 0, true)));
    for (Sign sign : {Sign::positive, Sign::negative}) {
      const at::Tensor masks = protocol.masks(ranking, sign);
      for (size_t k = 0; k < kGrid.size(); ++k)
        EXPECT_TRUE(at::equal(masks[static_cast<int64_t>(k)], prune::keep_mask(want, kGrid[k], sign, CountRule::nearest)));
    }
  }
}

TEST(PythonRound, MatchesCPython) {
  // CPython: round(2.675, 2) = 2.67 (binary value below the tie), round(0.125, 2) = 0.12 (tie to even).
  EXPECT_EQ(prune::python_round(2.675, 2), 2.67);
  EXPECT_EQ(prune::python_round(0.125, 2), 0.12);
  EXPECT_EQ(prune::python_round(0.375, 2), 0.38);
  EXPECT_EQ(prune::python_round(46.666666666666664, 2), 46.67);
}
