// ctest-labels: fast fixture
// The matrix-product counter (models/matmul_counter.hpp) against closed forms: the FLOPs of a
// forward that `headprune bench` divides its times by are what runs, and each model's
// forward_flops() says the same, also for an exported pruned model.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/export.hpp"
#include "headprune/models/matmul_counter.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

namespace {

models::Batch fixture_batch(const std::string& family) {
  std::vector<models::Batch> parts;
  for (const auto& s : hptest::fixture_samples(family)) parts.push_back(s.batch);
  return models::collate(parts);
}

// Matrix-product FLOPs of one example, from the fixture's config.json alone (written out layer by
// layer, independently of the model code): 2 m k n per product.
double closed_form(const std::string& family, double T, double R) {
  nlohmann::json c = nlohmann::json::parse(std::ifstream(hptest::data_path(family + "/config.json")));
  const double d = c["hidden_size"], I = c["intermediate_size"];
  // A self-attention layer over n positions: q, k, v and output projections (n d^2 each), scores
  // and context (n^2 dh per head, n^2 d over the heads, each), the FFN's two products (n d I each).
  auto layer = [&](double n) { return 2 * (4 * n * d * d) + 2 * (2 * n * n * d) + 2 * (2 * n * d * I); };
  if (family == "lxmert") {
    const double F = c["visual_feat_dim"], A = c["num_qa_labels"];
    const double l = c["l_layers"], x = c["x_layers"], r = c["r_layers"];
    // One direction of cross attention, queries over nq, keys over nk.
    auto cross = [&](double nq, double nk) { return 2 * (2 * nq * d * d + 2 * nk * d * d) + 2 * (2 * nq * nk * d); };
    const double embed = 2 * R * F * d + 2 * R * 4 * d;  // visual features and boxes
    const double cross_layers = x * (cross(T, R) + layer(T)) + (x - 1) * (cross(R, T) + layer(R));  // last: no vision
    const double head = 2 * d * d + 2 * d * (2 * d) + 2 * (2 * d) * A;  // pooler, answer head
    return embed + l * layer(T) + r * layer(R) + cross_layers + head;
  }
  const double F = c["visual_embedding_dim"], A = c["num_labels"], L = c["num_hidden_layers"];
  return 2 * R * F * d + L * layer(T + R) + 2 * d * d + 2 * d * A;  // MMF head: transform, classifier
}

}  // namespace

class Counted : public ::testing::TestWithParam<std::string> {};

TEST_P(Counted, AForwardCountsItsClosedFormAndForwardFlops) {
  auto model = hptest::fixture_model(GetParam());
  const models::Batch batch = fixture_batch(GetParam());
  const int64_t B = batch.size(), T = batch.input_ids.size(1), R = batch.visual_feats.size(1);
  at::NoGradGuard ng;
  models::MatmulCounter counter;
  model->forward(batch, {});
  EXPECT_GT(counter.calls(), 0);
  EXPECT_GE(counter.seconds(), 0.0);
  // Integers below 2^53: exact in double.
  EXPECT_EQ(counter.flops(), static_cast<double>(B) * closed_form(GetParam(), T, R));
  EXPECT_EQ(counter.flops(), static_cast<double>(B) * model->forward_flops(T, R));
  double by_shape = 0;
  for (const auto& [shape, f] : counter.flops_by_shape()) by_shape += f;
  EXPECT_EQ(by_shape, counter.flops());
}

TEST_P(Counted, KeepMasksDoNotChangeTheCountAndTheBackwardIsCounted) {
  auto model = hptest::fixture_model(GetParam());
  const models::Batch batch = fixture_batch(GetParam());
  const int64_t B = batch.size(), T = batch.input_ids.size(1), R = batch.visual_feats.size(1);
  const double forward = static_cast<double>(B) * model->forward_flops(T, R);
  {
    at::NoGradGuard ng;
    models::ForwardOptions fo;
    fo.keep = at::zeros({B, model->num_modules(), model->heads()}, at::kDouble);  // every head masked
    models::MatmulCounter counter;
    model->forward(batch, fo);
    EXPECT_EQ(counter.flops(), forward);  // a masked head is computed, then multiplied by 0
  }
  // The scoring pass: its forward plus a backward (input gradients only) through the products.
  models::MatmulCounter counter;
  explain::score_batch(*model, batch, explain::ScoringOptions{}, {}, std::vector<int64_t>(static_cast<size_t>(B)));
  EXPECT_GT(counter.flops(), 1.5 * forward);
  EXPECT_LT(counter.flops(), 3.0 * forward);
}

TEST_P(Counted, AnExportedPrunedModelCountsOnlyTheHeadsItKeeps) {
  auto model = hptest::fixture_model(GetParam());
  const models::Batch batch = fixture_batch(GetParam());
  const int64_t B = batch.size(), T = batch.input_ids.size(1), R = batch.visual_feats.size(1);
  // Half of the heads, one module removed entirely.
  at::Tensor keep = at::ones({model->num_modules(), model->heads()}, at::kLong);
  keep.slice(1, 0, model->heads() / 2).fill_(0);
  keep[1].fill_(0);
  const std::string dir = hptest::scratch_dir("counted-" + GetParam());
  models::write_pruned_model(models::prune_model(*model, keep), dir);
  auto pruned = models::load_model(dir, {at::kDouble, true, ""});
  at::NoGradGuard ng;
  models::MatmulCounter counter;
  pruned->forward(batch, {});
  EXPECT_EQ(counter.flops(), static_cast<double>(B) * pruned->forward_flops(T, R));
  EXPECT_LT(pruned->forward_flops(T, R), model->forward_flops(T, R));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Counted, ::testing::Values("lxmert", "visualbert"));
