// ctest-labels: slow
// Training (demo/trainer.hpp) on the synthetic world: a short run beats the majority-answer
// baseline by a wide margin, a saved checkpoint loads back through load_model() with identical
// logits, `headprune train` writes the real layout and refuses to overwrite, and a seed fixes
// the weights.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/data/feature_store.hpp"
#include "headprune/common/error.hpp"
#include "headprune/demo/demo.hpp"
#include "headprune/demo/trainer.hpp"
#include "headprune/demo/world.hpp"
#include "headprune/models/batch.hpp"
#include "testing.hpp"

using namespace headprune;
namespace fs = std::filesystem;
namespace hptest = headprune::testing;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

class DemoTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    root_ = new std::string(headprune::testing::scratch_dir("demo-train"));
    // The demo's small world without images (they play no part in training).
    demo::SyntheticWorldOptions small = demo::demo_world_options(3, true);
    small.write_images = false;
    small_ = new demo::SyntheticWorld(demo::make_synthetic_world(small));
    small_files_ = new demo::SyntheticWorldFiles(demo::write_synthetic_world(*small_, *root_ + "/small"));
    demo::SyntheticWorldOptions tiny = small;
    tiny.train_images = 60;
    tiny.valid_images = 20;
    tiny_ = new demo::SyntheticWorld(demo::make_synthetic_world(tiny));
    tiny_files_ = new demo::SyntheticWorldFiles(demo::write_synthetic_world(*tiny_, *root_ + "/tiny"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
    delete small_;
    delete small_files_;
    delete tiny_;
    delete tiny_files_;
  }

  // The demo's architecture for `family` as a config.json file under the scratch folder.
  static std::string config_file(const std::string& family, const demo::SyntheticWorld& world, const std::string& tag) {
    const std::string path = *root_ + "/" + tag + "." + family + ".json";
    write_file(path, demo::demo_model_config(family, world, true));
    return path;
  }

  static demo::TrainJob job(const std::string& family, const demo::SyntheticWorld& world,
                            const demo::SyntheticWorldFiles& files, const std::string& out) {
    demo::TrainJob j;
    j.model_config = config_file(family, world, fs::path(out).filename().string());
    j.questions = files.train_questions;
    j.valid = files.valid_questions;
    j.features = files.features;
    j.vocab = files.vocab;
    j.answers_dir = files.answers_dir;
    j.out_dir = out;
    j.options = demo::demo_train_options(family, 5, true, 1);
    j.options.epochs = 1;
    j.options.batch_size = 64;
    return j;
  }

  static std::string* root_;
  static demo::SyntheticWorld* small_;
  static demo::SyntheticWorldFiles* small_files_;
  static demo::SyntheticWorld* tiny_;
  static demo::SyntheticWorldFiles* tiny_files_;
};

std::string* DemoTraining::root_ = nullptr;
demo::SyntheticWorld* DemoTraining::small_ = nullptr;
demo::SyntheticWorldFiles* DemoTraining::small_files_ = nullptr;
demo::SyntheticWorld* DemoTraining::tiny_ = nullptr;
demo::SyntheticWorldFiles* DemoTraining::tiny_files_ = nullptr;

}  // namespace

TEST_F(DemoTraining, ShortRunBeatsTheMajorityAnswerAndReloadsExactly) {
  // A from-scratch LXMERT in the demo's architecture, trained in memory.
  const std::string dir = *root_ + "/lxmert-scratch";
  fs::create_directories(dir);
  fs::copy_file(config_file("lxmert", *small_, "scratch"), dir + "/config.json");
  models::LoadOptions lo;
  lo.dtype = at::kFloat;
  lo.init_from_scratch = true;
  lo.init_seed = 5;
  auto model = models::load_model(dir, lo);
  const data::AnswerVocab vocab = data::AnswerVocab::load_dir(small_files_->answers_dir);
  const auto tok = data::WordPieceTokenizer::from_vocab_file(small_files_->vocab);
  const data::FeatureStore store(small_files_->features);
  const auto train_q = data::load_lxmert_questions(small_files_->train_questions, vocab).samples;
  const auto valid_q = data::load_lxmert_questions(small_files_->valid_questions, vocab).samples;
  const run::BatchBuilder builder(*model, tok, store, {20, 36});

  demo::TrainOptions o = demo::demo_train_options("lxmert", 5, true, 1);
  o.epochs = 6;
  const demo::TrainReport r = demo::train_model(*model, builder, train_q, valid_q, o);
  const demo::MajorityBaseline majority = demo::majority_baseline(train_q, valid_q, vocab);
  std::printf("lxmert, 6 epochs on %zu questions: valid accuracy %.2f (before %.2f), majority '%s' %.2f, %.1f s\n",
              train_q.size(), r.final_valid_accuracy, r.initial_valid_accuracy, majority.answer.c_str(),
              majority.valid_accuracy, r.seconds);
  EXPECT_EQ(r.epochs.size(), 6u);
  EXPECT_EQ(r.steps, 6 * ((static_cast<int64_t>(train_q.size()) + 31) / 32));
  EXPECT_LT(majority.valid_accuracy, 30.0);
  EXPECT_GT(r.final_valid_accuracy, majority.valid_accuracy + 15.0);
  EXPECT_GT(r.final_valid_accuracy, r.initial_valid_accuracy + 15.0);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  for (const auto& [name, t] : model->parameters()) EXPECT_FALSE(t.requires_grad()) << name;
  EXPECT_NEAR(demo::evaluate_accuracy(*model, builder, valid_q, vocab.size(), 256), r.final_valid_accuracy, 1e-9);

  // Saved and loaded back through the real loader: the same logits, bit for bit.
  const std::string saved = *root_ + "/lxmert-saved";
  demo::save_checkpoint(*model, dir + "/config.json", small_files_->vocab, saved);
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt"}) EXPECT_TRUE(fs::exists(saved + "/" + f)) << f;
  models::LoadOptions strict;
  strict.dtype = at::kFloat;
  auto loaded = models::load_model(saved, strict);
  std::vector<const data::Sample*> some;
  for (size_t i = 0; i < 24; ++i) some.push_back(&valid_q[i]);
  const run::BuiltBatch batch = builder.build(some, vocab.size());
  at::NoGradGuard no_grad;
  const at::Tensor a = model->forward(batch.batch, {}).logits, b = loaded->forward(batch.batch, {}).logits;
  EXPECT_TRUE(at::equal(a, b)) << "max |diff| " << (a - b).abs().max().item<double>();
}

TEST_F(DemoTraining, RunTrainingWritesTheRealLayout) {
  const std::string out = *root_ + "/vb-job";
  demo::TrainJob j = job("visualbert", *tiny_, *tiny_files_, out);
  j.metadata = {{"settings_hash", "abc123"}};
  const demo::TrainReport r = demo::run_training(j);
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "training.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + ".partial"));
  EXPECT_EQ(slurp(out + "/vocab.txt"), slurp(tiny_files_->vocab));
  const nlohmann::json info = nlohmann::json::parse(slurp(out + "/training.json"));
  EXPECT_EQ(info["metadata"]["settings_hash"], "abc123");
  EXPECT_EQ(info["final_valid_accuracy"].get<double>(), r.final_valid_accuracy);
  EXPECT_EQ(info["majority_answer"], r.majority.answer);
  EXPECT_EQ(info["epochs"].size(), 1u);

  // The checkpoint loads strictly and scores what the report says.
  models::LoadOptions lo;
  lo.dtype = at::kFloat;
  auto model = models::load_model(out, lo);
  EXPECT_STREQ(model->name(), "visualbert");
  const data::AnswerVocab vocab = data::AnswerVocab::load_dir(tiny_files_->answers_dir);
  const auto tok = data::WordPieceTokenizer::from_vocab_file(out + "/vocab.txt");
  const data::FeatureStore store(tiny_files_->features);
  const auto valid_q = data::load_lxmert_questions(tiny_files_->valid_questions, vocab).samples;
  const run::BatchBuilder builder(*model, tok, store, {20, 100});
  EXPECT_NEAR(demo::evaluate_accuracy(*model, builder, valid_q, vocab.size(), 256), r.final_valid_accuracy, 1e-9);

  // An existing folder is kept unless overwrite.
  const std::string exists = hptest::user_error([&] { demo::run_training(j); });
  EXPECT_NE(exists.find("--overwrite"), std::string::npos) << exists;
  j.overwrite = true;
  EXPECT_NO_THROW(demo::run_training(j));
}

TEST_F(DemoTraining, SameSeedSameWeights) {
  demo::TrainJob a = job("lxmert", *tiny_, *tiny_files_, *root_ + "/seed-a");
  demo::TrainJob b = job("lxmert", *tiny_, *tiny_files_, *root_ + "/seed-b");
  demo::run_training(a);
  demo::run_training(b);
  EXPECT_EQ(slurp(a.out_dir + "/model.safetensors"), slurp(b.out_dir + "/model.safetensors"));
  demo::TrainJob c = job("lxmert", *tiny_, *tiny_files_, *root_ + "/seed-c");
  c.options.seed = 6;
  demo::run_training(c);
  EXPECT_NE(slurp(a.out_dir + "/model.safetensors"), slurp(c.out_dir + "/model.safetensors"));
}

TEST_F(DemoTraining, MismatchedConfigIsAUserError) {
  demo::TrainJob j = job("lxmert", *tiny_, *tiny_files_, *root_ + "/bad-answers");
  nlohmann::json c = nlohmann::json::parse(slurp(j.model_config));
  c["num_qa_labels"] = 7;
  write_file(j.model_config, c.dump());
  const std::string labels = hptest::user_error([&] { demo::run_training(j); });
  EXPECT_NE(labels.find("num_qa_labels"), std::string::npos) << labels;
  c["num_qa_labels"] = static_cast<int64_t>(tiny_->answers.size());
  c["vocab_size"] = 10;
  write_file(j.model_config, c.dump());
  const std::string vocab = hptest::user_error([&] { demo::run_training(j); });
  EXPECT_NE(vocab.find("vocab_size"), std::string::npos) << vocab;
  EXPECT_FALSE(fs::exists(j.out_dir));
  EXPECT_FALSE(fs::exists(j.out_dir + ".partial"));
}

TEST_F(DemoTraining, TrainSubcommand) {
  const std::string out = *root_ + "/cli-model";
  const demo::TrainJob j = job("visualbert", *tiny_, *tiny_files_, out);
  const std::string cmd = headprune::testing::binary_path() + " train --model-config " + j.model_config +
                          " --questions " + j.questions + " --valid " + j.valid + " --features " + j.features +
                          " --vocab " + j.vocab + " --answers " + j.answers_dir + " --out " + out +
                          " --epochs 1 --batch-size 64 --threads 1 --metadata note=cli";
  std::string output;
  ASSERT_EQ(headprune::testing::run_command(cmd, &output), 0) << output;
  EXPECT_NE(output.find("valid accuracy"), std::string::npos) << output;
  EXPECT_NE(output.find("majority answer"), std::string::npos) << output;
  EXPECT_EQ(nlohmann::json::parse(slurp(out + "/training.json"))["metadata"]["note"], "cli");
  EXPECT_EQ(headprune::testing::run_command(cmd, &output), 2) << output;
  EXPECT_NE(output.find("already exists"), std::string::npos) << output;
  EXPECT_EQ(headprune::testing::run_command(cmd + " --overwrite", &output), 0) << output;
  EXPECT_EQ(headprune::testing::run_command(cmd + " --overwrite --metadata novalue", &output), 2) << output;
}
