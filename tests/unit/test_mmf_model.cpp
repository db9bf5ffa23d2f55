// ctest-labels: fast fixture
// MMF's zoo folder as a model (model.pth + config.yaml, no config.json, no vocab.txt), made from
// the VisualBERT fixture's weights; the defaults a run takes from its model: the answer list by
// layout, the tokenizer vocabulary, the question length (the seed's: no cut at 20 tokens).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/config/config.hpp"
#include "headprune/run/batch_builder.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/weights.hpp"
#include "headprune/run/inputs.hpp"
#include "testing.hpp"

using namespace headprune;
namespace hptest = headprune::testing;
namespace fs = std::filesystem;

namespace {

// The fixture's sizes as MMF's config.yaml states them (model_config.visual_bert).
const char* kFixtureYaml = R"(model: visual_bert
model_config:
  visual_bert:
    bert_model_name: bert-base-uncased
    training_head_type: classification
    pooler_strategy: vqa
    hidden_size: 32
    num_attention_heads: 4
    num_hidden_layers: 3
    intermediate_size: 64
    max_position_embeddings: 64
    vocab_size: 120
    type_vocab_size: 2
    visual_embedding_dim: 24
    num_labels: 12
    losses:
    - type: logit_bce
dataset_config:
  vqa2:
    processors:
      text_processor:
        params:
          max_seq_length: 128
)";

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A torch.save'd dict of `tensors`, optionally as MMF saves checkpoints: {"model": state dict, ...}.
std::vector<char> torch_save(const models::TensorMap& tensors, bool mmf_checkpoint, const std::string& prefix = "") {
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& [name, t] : tensors) sd.insert(prefix + name, t);
  if (!mmf_checkpoint) return torch::jit::pickle_save(sd);
  c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
  ckpt.insert("model", sd);
  ckpt.insert("current_iteration", int64_t{60000});
  ckpt.insert("best_update", int64_t{42});
  return torch::jit::pickle_save(ckpt);
}

// An MMF zoo folder from the VisualBERT fixture: model.pth (+ config.yaml unless yaml is empty).
std::string zoo_folder(const std::string& tag, bool mmf_checkpoint, const std::string& yaml = kFixtureYaml,
                       const std::string& prefix = "") {
  const std::string dir = hptest::scratch_dir("zoo-" + tag);
  write_bytes(dir + "/model.pth", torch_save(models::read_safetensors(hptest::data_path("visualbert/model.safetensors")),
                                             mmf_checkpoint, prefix));
  if (!yaml.empty()) write_text(dir + "/config.yaml", yaml);
  return dir;
}

std::string load_error(const std::string& dir) {
  return hptest::user_error([&] { models::load_model(dir, {at::kDouble, true, ""}); });
}

// Every fixture sample's logits against reference.h5.
void expect_reference_logits(const models::VqaModel& model) {
  h5::File ref(hptest::data_path("visualbert/reference.h5"), h5::File::Mode::read);
  auto samples = hptest::fixture_samples("visualbert");
  at::NoGradGuard ng;
  for (size_t i = 0; i < samples.size(); ++i) {
    char s[32];
    std::snprintf(s, sizeof s, "/sample_%03zu/logits", i);
    at::Tensor expected = h5::read_tensor(ref, s);
    EXPECT_LT(hptest::max_abs_diff(model.forward(samples[i].batch, {}).logits, expected), 1e-12) << s;
  }
}

config::Config config_for(const std::string& model_path) {
  config::Config c;
  c.name = "t";
  c.model.path = model_path;
  return c;
}

}  // namespace

TEST(MmfZoo, StateDictAloneGivesTheFixturesLogits) {
  auto model = models::load_model(zoo_folder("plain", false), {at::kDouble, true, ""});
  EXPECT_STREQ(model->name(), "visualbert");
  EXPECT_TRUE(model->source().mmf_zoo);
  EXPECT_EQ(model->source().layout, models::Layout::mmf);
  EXPECT_EQ(fs::path(model->source().weights_path).filename(), "model.pth");
  expect_reference_logits(*model);
}

TEST(MmfZoo, StateDictInsideMmfCheckpointGivesTheFixturesLogits) {
  expect_reference_logits(*models::load_model(zoo_folder("ckpt", true), {at::kDouble, true, ""}));
  // DataParallel's "module." prefix is dropped, as MMF's loader does.
  expect_reference_logits(*models::load_model(zoo_folder("module", true, kFixtureYaml, "module."), {at::kDouble, true, ""}));
}

TEST(MmfZoo, NumLabelsComesFromTheClassifierWhenConfigYamlOmitsIt) {
  std::string yaml = kFixtureYaml;
  yaml.erase(yaml.find("    num_labels: 12\n"), std::string("    num_labels: 12\n").size());
  auto model = models::load_model(zoo_folder("nolabels", false, yaml), {at::kDouble, true, ""});
  EXPECT_EQ(model->num_answers(), 12);
}

TEST(MmfZoo, WithoutConfigYamlTheSizesAreBertBase) {
  // The fixture is not bert-base: the bert-base shapes MMF would build are reported, per tensor.
  const std::string e = load_error(zoo_folder("noyaml", false, ""));
  EXPECT_NE(e.find("model.pth: checkpoint does not match the model config"), std::string::npos) << e;
  EXPECT_NE(e.find("model.bert.embeddings.word_embeddings.weight: expected [30522,768], found [120,32]"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(MmfZoo, BadFoldersAreOneLineErrorsNamingTheFileAndKey) {
  auto yaml_with = [](const std::string& from, const std::string& to) {
    std::string y = kFixtureYaml;
    y.replace(y.find(from), from.size(), to);
    return y;
  };
  struct Case {
    std::string tag, yaml, expected;
  };
  const Case cases[] = {
      {"size", yaml_with("hidden_size: 32", "hidden_size: big"),
       "config.yaml: key 'model_config.visual_bert.hidden_size' must be an integer (got big)"},
      {"pooler", yaml_with("pooler_strategy: vqa", "pooler_strategy: default"),
       "config.yaml: key 'model_config.visual_bert.pooler_strategy' is 'default' (expected vqa"},
      {"nopooler", yaml_with("    pooler_strategy: vqa\n", ""),
       "config.yaml: key 'model_config.visual_bert.pooler_strategy' is missing (MMF's default)"},
      {"head", yaml_with("training_head_type: classification", "training_head_type: pretraining"),
       "config.yaml: key 'model_config.visual_bert.training_head_type' is 'pretraining' (expected classification"},
      {"other", yaml_with("model_config:\n  visual_bert:", "model_config:\n  lxmert:"),
       "config.yaml: missing key 'model_config.visual_bert' (found: lxmert)"},
      {"model", yaml_with("model: visual_bert", "model: lxmert"), "config.yaml: key 'model' is 'lxmert' (expected visual_bert"},
      {"yaml", "model_config: [unclosed", "config.yaml: not readable YAML"},
  };
  for (const auto& c : cases) {
    const std::string e = load_error(zoo_folder(c.tag, false, c.yaml));
    EXPECT_NE(e.find(c.expected), std::string::npos) << c.tag << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << c.tag << ": " << e;
  }
  // A size left to bert-base while bert_model_name is not bert-base.
  {
    std::string y = yaml_with("bert_model_name: bert-base-uncased", "bert_model_name: bert-large-uncased");
    y = y.substr(0, y.find("    num_attention_heads: 4\n")) + y.substr(y.find("    num_hidden_layers"));
    const std::string e = load_error(zoo_folder("large-missing", false, y));
    EXPECT_NE(e.find("config.yaml: key 'model_config.visual_bert.num_attention_heads' is missing, and bert_model_name "
                     "'bert-large-uncased' is not bert-base"),
              std::string::npos)
        << e;
  }
  // model.pth: not a checkpoint, the pre-1.6 format, "model" that is not a state dict.
  {
    const std::string dir = zoo_folder("garbage", false);
    write_text(dir + "/model.pth", "not a zip");
    const std::string e = load_error(dir);
    EXPECT_NE(e.find("model.pth: not a readable torch.save checkpoint"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    write_text(dir + "/model.pth", std::string("\x80\x02\x8a\x0alegacy", 8));
    const std::string legacy = load_error(dir);
    EXPECT_NE(legacy.find("model.pth: written by torch.save of PyTorch < 1.6"), std::string::npos) << legacy;
    EXPECT_EQ(legacy.find('\n'), std::string::npos) << legacy;
    c10::impl::GenericDict bad(c10::StringType::get(), c10::AnyType::get());
    bad.insert("model", int64_t{3});
    write_bytes(dir + "/model.pth", torch::jit::pickle_save(bad));
    EXPECT_NE(load_error(dir).find("model.pth: entry 'model' is not a state dict"), std::string::npos) << load_error(dir);
  }
  // No config.json and no model.pth.
  const std::string empty = hptest::scratch_dir("zoo-empty");
  EXPECT_NE(load_error(empty).find("config.json: not found (a model folder needs config.json and model.safetensors or "
                                   "pytorch_model.bin (Hugging Face), or model.pth and config.yaml (MMF's zoo))"),
            std::string::npos)
      << load_error(empty);
}

TEST(ModelDefaults, TokenizerVocabularyFromModelVocabOrTheFolder) {
  const std::string zoo = zoo_folder("vocab", false);
  auto model = models::load_model(zoo, {at::kDouble, true, ""});
  config::Config c = config_for(zoo);
  EXPECT_NE(hptest::user_error([&] { run::tokenizer_vocab_path(c, *model); })
                .find("model.vocab: not set, and an MMF zoo folder has no vocab.txt"),
            std::string::npos);
  c.model.vocab = hptest::data_path("visualbert/vocab.txt");
  EXPECT_EQ(run::tokenizer_vocab_path(c, *model), *c.model.vocab);
  c.model.vocab = zoo + "/missing.txt";
  EXPECT_NE(hptest::user_error([&] { run::tokenizer_vocab_path(c, *model); }).find("missing.txt: model.vocab: file not found"),
            std::string::npos);
  // A Hugging Face folder: its own vocab.txt.
  auto lx = hptest::fixture_model("lxmert");
  EXPECT_EQ(run::tokenizer_vocab_path(config_for(hptest::data_path("lxmert")), *lx), hptest::data_path("lxmert") + "/vocab.txt");
}

TEST(ModelDefaults, AnswerListByLayout) {
  // Where the default list is looked for: each layout's file, named in the size mismatch.
  auto error_for = [](const models::VqaModel& m, const std::string& path) {
    return hptest::user_error([&] { run::load_answers(config_for(path), m); });
  };
  auto lx = hptest::fixture_model("lxmert");
  auto vb = hptest::fixture_model("visualbert");
  const std::string zoo = zoo_folder("answers", false);
  const fs::path cwd = fs::current_path();
  fs::current_path(HEADPRUNE_SOURCE_DIR);  // where the shipped lists are (data/vqa)
  auto zoo_model = models::load_model(zoo, {at::kDouble, true, ""});
  // The shipped lists have 3129 answers, the fixtures 12 outputs: the error names the list chosen.
  EXPECT_NE(error_for(*lx, "lx").find("data/vqa: 3129 answers, but the model at lx has 12 outputs"), std::string::npos)
      << error_for(*lx, "lx");
  EXPECT_NE(error_for(*vb, "vb").find("data/vqa/mmf_answers_vqa.txt: 3129 answers, but the model at vb has 12 outputs"),
            std::string::npos)
      << error_for(*vb, "vb");
  EXPECT_NE(error_for(*zoo_model, "zoo").find("data/vqa/mmf_answers_vqa.txt: 3129 answers"), std::string::npos)
      << error_for(*zoo_model, "zoo");
  fs::current_path(cwd);

  // A config.json with real id2label: those answers; the generic LABEL_n are not answers.
  const std::string dir = hptest::scratch_dir("id2label");
  for (const char* f : {"model.safetensors", "vocab.txt"}) fs::copy(hptest::data_path(std::string("lxmert/") + f), dir + "/" + f);
  nlohmann::json cj = nlohmann::json::parse(std::ifstream(hptest::data_path("lxmert/config.json")));
  std::vector<std::string> labels;
  for (int i = 0; i < 12; ++i) labels.push_back("answer " + std::to_string(11 - i));
  cj["id2label"] = nlohmann::json::object();
  for (int i = 0; i < 12; ++i) cj["id2label"][std::to_string(i)] = labels[static_cast<size_t>(i)];
  write_text(dir + "/config.json", cj.dump());
  auto named = models::load_model(dir, {at::kDouble, true, ""});
  run::Answers a = run::load_answers(config_for(dir), *named);
  EXPECT_EQ(a.vocab.answers(), labels);
  EXPECT_EQ(a.source, dir + "/config.json: id2label");
  std::string joined;
  for (size_t i = 0; i < labels.size(); ++i) joined += (i ? "\n" : "") + labels[i];
  EXPECT_EQ(a.sha256, sha256_hex(joined));
  for (int i = 0; i < 12; ++i) cj["id2label"][std::to_string(i)] = "LABEL_" + std::to_string(i);
  write_text(dir + "/config.json", cj.dump());
  EXPECT_TRUE(models::load_model(dir, {at::kDouble, true, ""})->source().labels.empty());

  // data.answers wins; a file is one answer a line; its sha256 is the file's (no final newline).
  const std::string list = dir + "/answers.txt";
  std::string text;
  // "<unk>" first, as in MMF's own file (MMF's VocabDict would put it there otherwise).
  text = "<unk>";
  for (int i = 1; i < 12; ++i) text += "\na" + std::to_string(i);
  write_text(list, text);
  config::Config c = config_for(dir);
  c.data.answers = list;
  run::Answers from_file = run::load_answers(c, *named);
  EXPECT_EQ(from_file.vocab.answer(3), "a3");
  EXPECT_EQ(from_file.sha256, sha256_file(list));
  EXPECT_EQ(from_file.source, list);
  write_text(list, text + "\na3");
  EXPECT_NE(hptest::user_error([&] { run::load_answers(c, *named); }).find("answers.txt:13: answer 'a3' is listed a second time (first on line 4)"),
            std::string::npos);

  // A Hugging Face VisualBERT without id2label names no list: data.answers is required.
  auto mmf = models::read_safetensors(hptest::data_path("visualbert/model.safetensors"));
  models::TensorMap hf;
  for (const auto& [name, t] : mmf) {
    if (name.rfind("model.classifier.", 0) == 0) continue;
    hf[name.rfind("model.bert.embeddings.token_type_embeddings_visual.", 0) == 0
           ? "visual_bert.embeddings.visual_token_type_embeddings." + name.substr(51)
       : name.rfind("model.bert.embeddings.position_embeddings_visual.", 0) == 0
           ? "visual_bert.embeddings.visual_position_embeddings." + name.substr(49)
       : name.rfind("model.bert.embeddings.projection.", 0) == 0
           ? "visual_bert.embeddings.visual_projection." + name.substr(33)
           : "visual_bert." + name.substr(11)] = t;
  }
  hf["cls.weight"] = at::randn({12, 32}, at::kDouble);
  hf["cls.bias"] = at::randn({12}, at::kDouble);
  const std::string hf_dir = hptest::scratch_dir("hf-visualbert");
  for (const char* f : {"config.json", "vocab.txt"}) fs::copy(hptest::data_path(std::string("visualbert/") + f), hf_dir + "/" + f);
  models::write_safetensors(hf_dir + "/model.safetensors", hf);
  auto hf_model = models::load_model(hf_dir, {at::kDouble, true, ""});
  EXPECT_EQ(hf_model->source().layout, models::Layout::huggingface);
  EXPECT_NE(error_for(*hf_model, hf_dir).find("data.answers: not set, and the model names no answers"), std::string::npos);
}

TEST(ModelDefaults, ZeroAccuracyWarning) {
  EXPECT_EQ(run::zero_accuracy_warning(63, 0.0, "x"), "");   // too few samples to say
  EXPECT_EQ(run::zero_accuracy_warning(64, 0.3, "x"), "");   // one partly right answer
  const std::string w = run::zero_accuracy_warning(64, 0.0, "data/vqa");
  EXPECT_NE(w.find("none of the 64 samples"), std::string::npos) << w;
  EXPECT_NE(w.find("data/vqa may not be the model's"), std::string::npos) << w;
  EXPECT_EQ(w.find('\n'), std::string::npos);
}

TEST(ModelDefaults, QuestionLengthIsTheSeedsAndLongQuestionsAreNotCut) {
  auto lx = hptest::fixture_model("lxmert");
  config::Config c = config_for(hptest::data_path("lxmert"));
  // LXMERT: the tokenizer's 512 capped at the position table (64 in the fixture).
  EXPECT_EQ(run::text_token_limit(c, *lx), 64);
  c.model.max_text_tokens = 20;
  EXPECT_EQ(run::text_token_limit(c, *lx), 20);
  c.model.max_text_tokens = 65;
  EXPECT_NE(hptest::user_error([&] { run::text_token_limit(c, *lx); }).find("model.max_text_tokens = 65 exceeds the 64"),
            std::string::npos);
  // MMF's VisualBERT: 128 (max_seq_length) capped at its positions (64 in the fixture).
  auto zoo_model = models::load_model(zoo_folder("length", false), {at::kDouble, true, ""});
  EXPECT_EQ(run::text_token_limit(config_for("zoo"), *zoo_model), 64);

  // A question of more than 20 word pieces: with the default length the batch holds all of it and
  // gives the logits of an untruncated second computation (the ids built by hand); the old cut
  // at 20 gives other logits.
  auto tok = data::WordPieceTokenizer::from_vocab_file(hptest::data_path("lxmert/vocab.txt"));
  const std::string question = "what color is the dog in this picture, how many people are there near the tall "
                               "fence where the man is holding his left hand?";
  const data::Encoding full = tok.encode(question, 1000);
  ASSERT_GT(full.ids.size(), 24u);
  ASSERT_EQ(full.tokens.front(), "[CLS]");
  ASSERT_EQ(std::count(full.tokens.begin(), full.tokens.end(), "[UNK]"), 0) << "words outside the fixture vocabulary";
  auto samples = hptest::fixture_samples("lxmert");
  const int64_t T = static_cast<int64_t>(full.ids.size());
  models::Batch by_hand = samples[0].batch;
  by_hand.input_ids = at::tensor(full.ids, at::kLong).view({1, T});
  by_hand.token_type_ids = at::zeros({1, T}, at::kLong);
  by_hand.text_mask = at::ones({1, T}, at::kLong);
  c.model.max_text_tokens = 0;
  const data::Encoding seed = tok.encode(question, run::text_token_limit(c, *lx));
  EXPECT_EQ(seed.ids, full.ids);
  const data::Encoding cut = tok.encode(question, 20);
  ASSERT_EQ(cut.ids.size(), 20u);
  models::Batch cut_batch = by_hand;
  cut_batch.input_ids = at::tensor(cut.ids, at::kLong).view({1, 20});
  cut_batch.token_type_ids = at::zeros({1, 20}, at::kLong);
  cut_batch.text_mask = at::ones({1, 20}, at::kLong);
  at::NoGradGuard ng;
  models::Batch seed_batch = by_hand;
  seed_batch.input_ids = at::tensor(seed.ids, at::kLong).view({1, T});
  // Padded together with a short question (batches pad to their longest question).
  models::Batch padded = models::collate({seed_batch, samples[3].batch});
  at::Tensor logits = lx->forward(padded, {}).logits;
  EXPECT_LT(hptest::max_abs_diff(logits[0], lx->forward(by_hand, {}).logits[0]), 1e-12);
  EXPECT_LT(hptest::max_abs_diff(logits[1], lx->forward(samples[3].batch, {}).logits[0]), 1e-12);
  EXPECT_GT(hptest::max_abs_diff(lx->forward(cut_batch, {}).logits, lx->forward(by_hand, {}).logits), 1e-6);
}
