// ViLT (src/models/vilt.cpp) on a small model initialised from its example config, by properties
// that a wrong port would break (the golden numbers of Hugging Face's forward: test_vilt_fixture):
// - the patch embedding: a patch's embedding row = W_patch x + b + its cell of the position table
//   + the image's modality embedding, with the table itself when the grid is the training grid;
// - padding: an example in a batch with a longer question and a larger patch grid gives the logits
//   it gives alone;
// - pruning: an all-ones keep mask changes nothing, a pruned layer changes the answer logits;
// - every scoring method runs on it (head and layer scores finite, one per unit).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "headprune/explain/methods.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/families.hpp"
#include "headprune/models/model.hpp"
#include "fixtures.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;

namespace {

std::unique_ptr<models::VqaModel> small_vilt(at::ScalarType dtype = at::kDouble) {
  const std::string dir = hptest::scratch_dir("vilt_model");
  models::ExampleSizes sizes = models::find_family("vilt", "test").small;
  sizes.vocab = 50;
  sizes.answers = 7;
  std::ofstream(dir + "/config.json") << models::find_family("vilt", "test").example_config(sizes);
  models::LoadOptions lo{dtype, true, ""};
  lo.init_from_scratch = true;
  lo.init_seed = 3;
  auto model = models::load_model(dir, lo);
  // Scratch init gives zero biases and unit LayerNorms: perturb every parameter so that each
  // term of the forward shows in its result.
  at::NoGradGuard ng;
  at::Generator gen = at::detail::createCPUGenerator(11);
  for (const auto& [name, w] : model->parameters()) w.add_(at::normal(0, 0.1, w.sizes(), gen).to(w.scalar_type()));
  return model;
}

// One example: a question of `tokens` ids and a rows x cols patch grid of random pixels.
models::Batch example(const models::VqaModel& model, int64_t tokens, int64_t rows, int64_t cols, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  models::Batch b;
  b.input_ids = at::randint(1, model.vocab_size(), {1, tokens}, gen, at::kLong);
  b.token_type_ids = at::zeros({1, tokens}, at::kLong);
  b.text_mask = at::ones({1, tokens}, at::kLong);
  b.visual_feats = at::normal(0, 1, {1, rows * cols, model.visual_feat_dim()}, gen).to(model.dtype());
  b.visual_pos = models::patch_grid_boxes(rows, cols).unsqueeze(0).to(model.dtype());
  return b;
}

TEST(Vilt, DescribesItsSingleStreamAndPatches) {
  auto model = small_vilt();
  EXPECT_STREQ(model->name(), "vilt");
  EXPECT_EQ(model->num_modules(), 4);
  for (const auto& m : model->attention_modules()) {
    EXPECT_EQ(m.queries, models::Segment::joint);
    EXPECT_EQ(m.keys, models::Segment::joint);
  }
  EXPECT_EQ(model->input_spec().patch_size, 16);
  EXPECT_EQ(model->visual_feat_dim(), 3 * 16 * 16);
  // 64-pixel shortest edge, longer edge at most 106 -> 4 x 6 patches of 16.
  EXPECT_EQ(model->input_spec().default_regions, 24);
}

TEST(Vilt, PatchEmbeddingIsTheConvolutionPlusItsPositionCell) {
  auto model = small_vilt();
  const auto& w = model->parameters();
  const int64_t d = 64, grid = 4;  // image_size 64 / patch 16
  const models::Batch b = example(*model, 5, grid, grid, 1);
  models::ForwardOptions fo;
  fo.record_hidden = true;
  at::NoGradGuard ng;
  const at::Tensor emb = model->forward(b, fo).hidden.at("embedding_output")[0];  // [T + 1 + P, d]
  const at::Tensor pixels = b.visual_feats[0].view({grid * grid, 3, 16, 16});
  // Second computation: the Conv2d itself over the image the patches came from.
  const at::Tensor conv = at::conv2d(pixels, w.at("vilt.embeddings.patch_embeddings.projection.weight"),
                                     w.at("vilt.embeddings.patch_embeddings.projection.bias"), {16, 16});
  const at::Tensor expected = conv.view({grid * grid, d}) + w.at("vilt.embeddings.position_embeddings")[0].slice(0, 1) +
                              w.at("vilt.embeddings.token_type_embeddings.weight")[1];
  EXPECT_LT(hptest::max_abs_diff(emb.slice(0, 6), expected), 1e-12);
  // The image's [CLS]: its token plus position 0 plus modality 1.
  const at::Tensor cls = w.at("vilt.embeddings.cls_token")[0][0] + w.at("vilt.embeddings.position_embeddings")[0][0] +
                         w.at("vilt.embeddings.token_type_embeddings.weight")[1];
  EXPECT_LT(hptest::max_abs_diff(emb[5], cls), 1e-12);
  // Another grid interpolates the table: no longer the table's own rows.
  const at::Tensor other = model->forward(example(*model, 5, 3, 5, 1), fo).hidden.at("embedding_output")[0];
  EXPECT_EQ(other.size(0), 5 + 1 + 15);
}

TEST(Vilt, PaddingChangesNoExample) {
  auto model = small_vilt();
  const models::Batch a = example(*model, 4, 2, 3, 5), b = example(*model, 9, 4, 6, 6);
  at::NoGradGuard ng;
  const at::Tensor alone_a = model->forward(a, {}).logits, alone_b = model->forward(b, {}).logits;
  const models::Batch both = models::collate({a, b});
  ASSERT_TRUE(both.region_mask.defined());
  const at::Tensor together = model->forward(both, {}).logits;
  EXPECT_LT(hptest::max_abs_diff(together[0], alone_a[0]), 1e-12);
  EXPECT_LT(hptest::max_abs_diff(together[1], alone_b[0]), 1e-12);
  EXPECT_GT(hptest::max_abs_diff(alone_a[0], alone_b[0]), 1e-6);  // two different examples
}

TEST(Vilt, KeepMasksMultiplyTheAttention) {
  auto model = small_vilt();
  const models::Batch b = example(*model, 6, 3, 4, 7);
  at::NoGradGuard ng;
  const at::Tensor plain = model->forward(b, {}).logits;
  models::ForwardOptions fo;
  fo.keep = at::ones({1, 4, 4}, at::kDouble);
  EXPECT_EQ(hptest::max_abs_diff(model->forward(b, fo).logits, plain), 0.0);
  fo.keep[0][2].zero_();
  EXPECT_GT(hptest::max_abs_diff(model->forward(b, fo).logits, plain), 1e-6);
}

TEST(Vilt, EveryScoringMethodRuns) {
  auto model = small_vilt();
  const models::Batch batch = models::collate({example(*model, 5, 2, 3, 8), example(*model, 7, 3, 3, 9)});
  explain::ScoringOptions so;
  so.methods = explain::method_names();
  so.ig_steps = 2;
  at::Tensor labels = at::zeros({2, model->num_answers()}, at::kFloat);
  labels[0][1] = 1;
  labels[1][3] = 0.6;
  const explain::ScoringResult r = explain::score_batch(*model, batch, so, labels, {0, 1});
  for (const std::string& m : so.methods) {
    SCOPED_TRACE(m);
    const auto& s = r.scores.at(m);
    ASSERT_EQ(s.head.sizes().vec(), (std::vector<int64_t>{2, 4, 4}));
    ASSERT_EQ(s.layer.sizes().vec(), (std::vector<int64_t>{2, 4}));
    EXPECT_TRUE(at::isfinite(s.head).all().item<bool>());
    EXPECT_TRUE(at::isfinite(s.layer).all().item<bool>());
    if (m != "random") EXPECT_GT(s.head.abs().sum().item<double>(), 0.0);
  }
}

}  // namespace
