// ctest-labels: fast fixture
// Model invariants on the fixture models: padding, masks, key layouts, bad checkpoints.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fixtures.hpp"
#include "headprune/common/error.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/weights.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;
namespace fs = std::filesystem;

namespace {

std::vector<models::Batch> batches(const std::vector<verify::FixtureSample>& samples) {
  std::vector<models::Batch> out;
  for (const auto& s : samples) out.push_back(s.batch);
  return out;
}

// A copy of a fixture folder whose weights file is replaced by `weights` (safetensors).
std::string folder_with_weights(const std::string& fixture, const models::TensorMap& weights) {
  std::string dir = hptest::scratch_dir("model-" + fixture);
  for (const char* f : {"config.json", "vocab.txt"})
    fs::copy(hptest::data_path(fixture + "/" + f), dir + "/" + f);
  models::write_safetensors(dir + "/model.safetensors", weights);
  return dir;
}

std::string load_error(const std::string& dir) {
  try {
    models::load_model(dir, {at::kDouble, true, ""});
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

class PerModel : public ::testing::TestWithParam<std::string> {};

TEST_P(PerModel, BatchedWithPaddingEqualsOneByOne) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  at::NoGradGuard ng;
  models::Batch batch = models::collate(batches(samples));
  ASSERT_GT(batch.text_mask.sum(1).max().item<int64_t>(), batch.text_mask.sum(1).min().item<int64_t>())
      << "the fixture questions must differ in length for this test to mean something";
  at::Tensor batched = model->forward(batch, {}).logits;
  for (size_t i = 0; i < samples.size(); ++i) {
    at::Tensor single = model->forward(samples[i].batch, {}).logits;
    EXPECT_LT(hptest::max_abs_diff(batched[static_cast<int64_t>(i)], single[0]), 1e-12) << "sample " << i;
  }
}

TEST_P(PerModel, PaddedRegionsAreIgnored) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  at::NoGradGuard ng;
  // Sample 1 keeps only its first 4 regions; padded next to sample 0's 7.
  models::Batch short_one = samples[1].batch;
  short_one.visual_feats = short_one.visual_feats.slice(1, 0, 4);
  if (short_one.visual_pos.defined()) short_one.visual_pos = short_one.visual_pos.slice(1, 0, 4);
  if (short_one.region_mask.defined()) short_one.region_mask = short_one.region_mask.slice(1, 0, 4);
  models::Batch batch = models::collate(std::vector<models::Batch>{samples[0].batch, short_one});
  ASSERT_TRUE(batch.region_mask.defined());
  at::Tensor batched = model->forward(batch, {}).logits;
  EXPECT_LT(hptest::max_abs_diff(batched[1], model->forward(short_one, {}).logits[0]), 1e-12);
  EXPECT_LT(hptest::max_abs_diff(batched[0], model->forward(samples[0].batch, {}).logits[0]), 1e-12);
}

TEST_P(PerModel, AllOnesKeepMaskEqualsNoMask) {
  auto model = hptest::fixture_model(GetParam());
  auto samples = hptest::fixture_samples(GetParam());
  at::NoGradGuard ng;
  models::Batch batch = models::collate(batches(samples));
  models::ForwardOptions with_mask;
  with_mask.keep = at::ones({batch.size(), model->num_modules(), model->heads()}, at::TensorOptions().dtype(at::kDouble));
  EXPECT_TRUE(at::equal(model->forward(batch, with_mask).logits, model->forward(batch, {}).logits));
  // And a zero mask on a module changes the answer logits (the mask is really applied).
  with_mask.keep[0][0].zero_();
  EXPECT_GT(hptest::max_abs_diff(model->forward(batch, with_mask).logits[0], model->forward(batch, {}).logits[0]), 1e-6);
}

TEST_P(PerModel, SafetensorsAndTorchBinHoldTheSameWeights) {
  auto a = models::read_safetensors(hptest::data_path(GetParam() + "/model.safetensors"));
  auto b = models::read_torch_bin(hptest::data_path(GetParam() + "/pytorch_model.bin"));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(at::equal(t, b.at(name))) << name;
  }
}

TEST_P(PerModel, Float16AndBfloat16CheckpointsLoadIntoTheComputeDtype) {
  auto stored = models::read_safetensors(hptest::data_path(GetParam() + "/model.safetensors"));
  for (at::ScalarType t : {at::kHalf, at::kBFloat16}) {
    models::TensorMap low;
    for (const auto& [name, w] : stored) low[name] = w.is_floating_point() ? w.to(t) : w;
    auto model = models::load_model(folder_with_weights(GetParam(), low), {at::kFloat, true, ""});
    EXPECT_EQ(model->dtype(), at::kFloat);
    auto sample = hptest::fixture_samples(GetParam(), at::kFloat)[0];
    at::NoGradGuard ng;
    at::Tensor logits = model->forward(sample.batch, {}).logits;
    EXPECT_TRUE(logits.isfinite().all().item<bool>());
  }
}

TEST_P(PerModel, EveryBadCheckpointIsOneClearError) {
  auto stored = models::read_safetensors(hptest::data_path(GetParam() + "/model.safetensors"));
  const std::string a_key = stored.begin()->first, b_key = std::next(stored.begin(), 3)->first;
  {  // two missing keys: both named in one report
    auto w = stored;
    w.erase(a_key);
    w.erase(b_key);
    std::string msg = load_error(folder_with_weights(GetParam(), w));
    EXPECT_NE(msg.find("2 missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find(a_key), std::string::npos) << msg;
    EXPECT_NE(msg.find(b_key), std::string::npos) << msg;
  }
  {  // unexpected key + wrong shape in one report
    auto w = stored;
    w["model.extra.weight"] = at::zeros({2});
    w[b_key] = at::zeros({3, 3}, at::kDouble);
    std::string msg = load_error(folder_with_weights(GetParam(), w));
    EXPECT_NE(msg.find("1 unexpected [model.extra.weight]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("wrong-shape [" + b_key + ": expected"), std::string::npos) << msg;
    // Non-strict: an extra key is logged, not an error.
    auto w2 = stored;
    w2["model.extra.weight"] = at::zeros({2});
    EXPECT_NO_THROW(models::load_model(folder_with_weights(GetParam(), w2), {at::kDouble, false, ""}));
  }
  {  // wrong dtype: an integer tensor where a weight belongs
    auto w = stored;
    w[b_key] = stored[b_key].to(at::kLong);
    std::string msg = load_error(folder_with_weights(GetParam(), w));
    EXPECT_NE(msg.find("wrong-dtype [" + b_key), std::string::npos) << msg;
  }
  const std::string dir = folder_with_weights(GetParam(), stored);
  const std::string file = dir + "/model.safetensors";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& content) { std::ofstream(file, std::ios::binary | std::ios::trunc) << content; };
  write(bytes.substr(0, bytes.size() / 2));  // truncated
  EXPECT_NE(load_error(dir).find("outside the file"), std::string::npos) << load_error(dir);
  write(bytes.substr(0, 5));  // shorter than the header length
  EXPECT_NE(load_error(dir).find("truncated safetensors file"), std::string::npos) << load_error(dir);
  std::string bad_json = bytes;
  bad_json[8] = '[';
  bad_json[9] = '{';
  write(bad_json);
  EXPECT_NE(load_error(dir).find("bad safetensors JSON header"), std::string::npos) << load_error(dir);
  std::string bad_dtype = bytes;
  auto pos = bad_dtype.find("\"F64\"");
  bad_dtype.replace(pos, 5, "\"X64\"");
  write(bad_dtype);
  EXPECT_NE(load_error(dir).find("unsupported dtype 'X64'"), std::string::npos) << load_error(dir);
  // A corrupt pytorch_model.bin.
  fs::remove(file);
  std::ofstream(dir + "/pytorch_model.bin", std::ios::binary) << "PK\x03\x04 not really a zip";
  EXPECT_NE(load_error(dir).find("not a readable torch.save checkpoint"), std::string::npos) << load_error(dir);
  fs::remove(dir + "/pytorch_model.bin");
  EXPECT_NE(load_error(dir).find("no model.safetensors or pytorch_model.bin"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PerModel, ::testing::Values("lxmert", "visualbert"));

TEST(KeyLayouts, VisualBertHuggingFaceLayoutWithItsSingleLinearHead) {
  // Build a Hugging Face layout checkpoint from the MMF fixture (visual_bert.*, cls.*: a single
  // Linear after the pooled token) and check it against the MMF model's encoder + that Linear.
  auto mmf = models::read_safetensors(hptest::data_path("visualbert/model.safetensors"));
  const std::pair<const char*, const char*> renames[] = {
      {"model.bert.embeddings.token_type_embeddings_visual.", "visual_bert.embeddings.visual_token_type_embeddings."},
      {"model.bert.embeddings.position_embeddings_visual.", "visual_bert.embeddings.visual_position_embeddings."},
      {"model.bert.embeddings.projection.", "visual_bert.embeddings.visual_projection."},
      {"model.bert.", "visual_bert."}};
  models::TensorMap hf;
  for (const auto& [name, t] : mmf) {
    if (name.rfind("model.classifier.", 0) == 0) continue;
    std::string n = name;
    for (const auto& [from, to] : renames)
      if (n.rfind(from, 0) == 0) {
        n = to + n.substr(std::string(from).size());
        break;
      }
    hf[n] = t;
  }
  at::Tensor cls_w = at::randn({12, 32}, at::kDouble), cls_b = at::randn({12}, at::kDouble);
  hf["cls.weight"] = cls_w;
  hf["cls.bias"] = cls_b;
  auto hf_model = models::load_model(folder_with_weights("visualbert", hf), {at::kDouble, true, ""});
  auto mmf_model = hptest::fixture_model("visualbert");
  auto sample = hptest::fixture_samples("visualbert")[2];
  at::NoGradGuard ng;
  models::ForwardOptions fo;
  fo.record_hidden = true;
  auto a = hf_model->forward(sample.batch, fo), b = mmf_model->forward(sample.batch, fo);
  EXPECT_TRUE(at::equal(a.hidden.at("layer_outputs"), b.hidden.at("layer_outputs")));
  at::Tensor expected = at::linear(b.hidden.at("pooled_output"), cls_w, cls_b).view({1, 12});
  EXPECT_LT(hptest::max_abs_diff(a.logits, expected), 1e-13);
}

TEST(KeyLayouts, LxmertPretrainingHeadsAreIgnoredButUnknownKeysAreNot) {
  auto stored = models::read_safetensors(hptest::data_path("lxmert/model.safetensors"));
  stored["cls.predictions.bias"] = at::zeros({120}, at::kDouble);       // LXMERT pre-training head
  stored["obj_predict_head.decoder_dict.obj.bias"] = at::zeros({1600}, at::kDouble);
  EXPECT_NO_THROW(models::load_model(folder_with_weights("lxmert", stored), {at::kDouble, true, ""}));
  stored["lxmert.encoder.layer.9.attention.self.query.weight"] = at::zeros({32, 32}, at::kDouble);
  EXPECT_NE(load_error(folder_with_weights("lxmert", stored)).find("unexpected [lxmert.encoder.layer.9"), std::string::npos);
}

TEST(ModelInterface, ModulesInTheSeedsJointOrder) {
  auto lx = hptest::fixture_model("lxmert");
  ASSERT_EQ(lx->num_modules(), 10);
  EXPECT_EQ(lx->attention_modules()[2].name, "lxmert.encoder.x_layers.0.visual_attention.att");
  EXPECT_EQ(lx->attention_modules()[8].name, "lxmert.encoder.x_layers.0.visual_attention_copy.att");
  EXPECT_EQ(lx->attention_modules()[8].mask_name, "lxmert.encoder.x_layers.0.visual_attention.att");
  EXPECT_EQ(lx->attention_modules()[6].modality, models::Modality::image);
  auto vb = hptest::fixture_model("visualbert");
  EXPECT_EQ(vb->num_modules(), 3);
  EXPECT_EQ(vb->heads(), 4);
}
