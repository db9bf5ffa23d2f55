#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {

int64_t config_int(const nlohmann::json& config, const std::string& key, const std::string& file) {
  if (!config.contains(key)) throw UserError(file + ": missing key '" + key + "' (expected an integer)");
  if (!config[key].is_number_integer()) throw UserError(file + ": key '" + key + "' must be an integer");
  return config[key].get<int64_t>();
}

int64_t config_size(const nlohmann::json& config, const std::string& key, const std::string& file, int64_t min) {
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  const std::string expected = " (expected an integer from " + std::to_string(min) + " to " + std::to_string(kMax) + ")";
  if (!config.contains(key)) throw UserError(file + ": missing key '" + key + "'" + expected);
  const auto& v = config[key];
  // An unsigned JSON number above INT64_MAX would wrap to a negative int64: compare as unsigned.
  const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(kMax) && v.get<int64_t>() >= min
                        : v.is_number_integer() ? v.get<int64_t>() >= min && v.get<int64_t>() <= kMax
                                                : false;
  if (!in_range) throw UserError(file + ": key '" + key + "' is " + v.dump() + expected);
  return v.get<int64_t>();
}

int64_t config_answer_count(const nlohmann::json& config, const std::string& file) {
  if (config.contains("num_labels") || !config.contains("id2label")) return config_size(config, "num_labels", file);
  if (!config["id2label"].is_object() || config["id2label"].empty())
    throw UserError(file + ": key 'id2label' must be a non-empty object (answer index -> answer)");
  return static_cast<int64_t>(config["id2label"].size());
}

void check_heads_divide(int64_t hidden, int64_t heads, const std::string& file) {
  if (hidden % heads != 0)
    throw UserError(file + ": key 'hidden_size' (" + std::to_string(hidden) + ") must be a multiple of 'num_attention_heads' (" +
                    std::to_string(heads) + ")");
}

double config_double(const nlohmann::json& config, const std::string& key, const std::string& file, double fallback) {
  if (!config.contains(key)) return fallback;
  if (!config[key].is_number()) throw UserError(file + ": key '" + key + "' must be a number");
  const double v = config[key].get<double>();
  if (!std::isfinite(v) || v <= 0) throw UserError(file + ": key '" + key + "' is " + config[key].dump() + " (expected a positive number)");
  return v;
}

HeadCounts::HeadCounts(const nlohmann::json& config, int64_t full, std::string file) : full_(full), file_(std::move(file)) {
  const char* key = "headprune_attention_heads";
  if (!config.contains(key)) return;
  const auto& obj = config[key];
  if (!obj.is_object())
    throw UserError(file_ + ": key '" + key + "' must be an object {attention module: heads kept}");
  for (const auto& [name, v] : obj.items()) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > full_)
      throw UserError(file_ + ": " + key + ": '" + name + "' is " + v.dump() + " (expected an integer from 0 to " +
                      std::to_string(full_) + ", num_attention_heads)");
    counts_[name] = v.get<int64_t>();
  }
}

int64_t HeadCounts::heads(const std::string& prefix) const {
  auto it = counts_.find(prefix);
  return it == counts_.end() ? full_ : it->second;
}

void HeadCounts::check_known(const std::vector<std::string>& known) const {
  for (const auto& [name, n] : counts_)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw UserError(file_ + ": headprune_attention_heads: '" + name + "' is not an attention module of this model (expected e.g. '" +
                      (known.empty() ? std::string() : known.front()) + "')");
}

void HeadCounts::check_forward(const ForwardOptions& options) const {
  if (pruned() && (options.keep.defined() || options.record_attention || options.record_lrp))
    throw UserError(file_ + ": a pruned model (headprune_attention_heads) runs plain forwards only: scoring, LRP and "
                    "keep masks need the unpruned model it was exported from");
}

void check_batch(const VqaModel& model, const Batch& b, const std::function<std::string(const std::string&)>& where) {
  auto shape = [](const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
    return s + "]";
  };
  // Token ids and types index embedding tables: integer, 2-d, inside the table.
  auto ids = [&](const at::Tensor& t, const char* name, int64_t rows, const char* table) {
    const std::string w = where(name);
    if (!t.defined()) throw UserError(w + ": missing");
    if (t.dim() != 2 || t.size(0) < 1 || t.size(1) < 1)
      throw UserError(w + ": shape " + shape(t) + " (expected [batch, tokens])");
    if (at::isFloatingType(t.scalar_type()) || t.scalar_type() == at::kBool)
      throw UserError(w + ": " + std::string(c10::toString(t.scalar_type())) + " values (expected integer ids)");
    const int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
    if (lo < 0 || hi >= rows)
      throw UserError(w + ": id " + std::to_string(lo < 0 ? lo : hi) + " outside the model's " + table + " of " +
                      std::to_string(rows) + " rows");
  };
  ids(b.input_ids, "input_ids", model.vocab_size(), "word-embedding table");
  ids(b.token_type_ids, "token_type_ids", model.type_vocab_size(), "token-type table");
  const int64_t B = b.input_ids.size(0), T = b.input_ids.size(1);
  if (T > model.max_text_tokens())
    throw UserError(where("input_ids") + ": " + std::to_string(T) + " tokens, more than the model's " +
                    std::to_string(model.max_text_tokens()) + " position embeddings");
  auto same = [&](const at::Tensor& t, const char* name, std::vector<int64_t> expected) {
    if (t.defined() && t.sizes().vec() == expected) return;
    std::string e = "[";
    for (size_t i = 0; i < expected.size(); ++i) e += (i ? "," : "") + std::to_string(expected[i]);
    throw UserError(where(name) + ": shape " + (t.defined() ? shape(t) : "missing") + " (expected " + e + "])");
  };
  same(b.token_type_ids, "token_type_ids", {B, T});
  same(b.text_mask, "text_mask", {B, T});
  if (!b.visual_feats.defined() || b.visual_feats.dim() != 3)
    throw UserError(where("visual_feats") + ": shape " + (b.visual_feats.defined() ? shape(b.visual_feats) : "missing") +
                    " (expected [batch, regions, " + std::to_string(model.visual_feat_dim()) + "])");
  const int64_t R = b.visual_feats.size(1);
  same(b.visual_feats, "visual_feats", {B, R, model.visual_feat_dim()});
  if (model.input_spec().needs_boxes) same(b.visual_pos, "visual_pos", {B, R, 4});
  if (b.region_mask.defined()) same(b.region_mask, "region_mask", {B, R});
  // Masks are 0/1; every question has at least [CLS] and [SEP] (VisualBERT's head reads the
  // token before [SEP], at text_mask.sum - 2).
  auto binary = [&](const at::Tensor& t, const char* name) {
    if (t.defined() && !(t.eq(0) | t.eq(1)).all().item<bool>())
      throw UserError(where(name) + ": values other than 0 and 1 (expected a 0/1 mask)");
  };
  binary(b.text_mask, "text_mask");
  binary(b.region_mask, "region_mask");
  if (b.text_mask.sum(1).min().item<int64_t>() < 2)
    throw UserError(where("text_mask") + ": a question with fewer than 2 tokens (expected [CLS] ... [SEP])");
}

at::Tensor avg_heads(const at::Tensor& attn, const at::Tensor& grad, const at::Tensor& keep_row) {
  at::Tensor a = attn;
  if (keep_row.defined()) a = a * keep_row.view({-1, 1, 1});
  return (grad * a).clamp_min(0).mean(0);
}

Batch to_device(const Batch& b, const at::Device& device) {
  auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {mv(b.input_ids), mv(b.token_type_ids), mv(b.text_mask), mv(b.visual_feats), mv(b.visual_pos), mv(b.region_mask)};
}

void move_to_device(TensorMap& stored, const LoadOptions& options) {
  at::Device device(at::kCPU);
  try {
    device = at::Device(options.device);
  } catch (const c10::Error&) {
    throw UserError("device '" + options.device + "': expected cpu, cuda or cuda:N");
  }
  if (device.is_cuda() && !at::hasCUDA())
    throw UserError("device '" + options.device + "': this build of LibTorch has no CUDA (or no GPU is visible)");
  for (auto& [name, t] : stored) t = t.to(device);
}

namespace {

// config.json's id2label when it names real answers: one entry per index 0..n-1, not all of them
// Hugging Face's generic LABEL_<i>. Empty otherwise.
std::vector<std::string> real_labels(const nlohmann::json& config, int64_t outputs) {
  if (!config.contains("id2label") || !config["id2label"].is_object()) return {};
  const auto& map = config["id2label"];
  if (static_cast<int64_t>(map.size()) != outputs) return {};
  std::vector<std::string> labels(static_cast<size_t>(outputs));
  std::set<std::string> seen;
  bool generic = true;
  for (int64_t i = 0; i < outputs; ++i) {
    const std::string key = std::to_string(i);
    if (!map.contains(key) || !map[key].is_string()) return {};
    labels[static_cast<size_t>(i)] = map[key].get<std::string>();
    if (!seen.insert(labels[static_cast<size_t>(i)]).second) return {};  // not an answer list
    generic = generic && labels[static_cast<size_t>(i)] == "LABEL_" + key;
  }
  return generic ? std::vector<std::string>{} : labels;
}

}  // namespace

std::unique_ptr<VqaModel> load_model(const std::string& folder, const LoadOptions& options) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(folder) / "config.json").string();
  if (!fs::is_directory(folder)) throw UserError(folder + ": model folder not found");
  const bool zoo = !fs::exists(config_path) && !options.init_from_scratch && options.weights_file.empty();
  if (zoo && fs::exists(fs::path(folder) / "model.pth")) return load_mmf_zoo(folder, options);
  std::ifstream in(config_path);
  if (!in)
    throw UserError(config_path + ": not found (a model folder needs config.json and model.safetensors or "
                                  "pytorch_model.bin (Hugging Face), or model.pth and config.yaml (MMF's zoo))");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(config_path + ": malformed JSON (" + std::string(e.what()) + ")");
  }
  const std::string model_type = config.value("model_type", "");
  const std::string weights_path =
      options.init_from_scratch ? config_path + " (initialised from scratch)" : find_weights_file(folder, options.weights_file);
  TensorMap stored = options.init_from_scratch ? TensorMap{} : read_weights(weights_path);
  refuse_nonfinite_weights(stored, weights_path);
  // MMF's key names (model.bert.*, model.classifier.*) say the checkpoint comes from MMF.
  Layout layout = Layout::huggingface;
  for (const auto& item : stored)
    if (item.first.rfind("model.bert.", 0) == 0 || item.first.rfind("model.classifier.", 0) == 0) layout = Layout::mmf;
  move_to_device(stored, options);
  spdlog::debug("{}: {} tensors", weights_path, stored.size());
  std::unique_ptr<VqaModel> model = make_model(model_type, config, config_path, stored, weights_path, options);
  ModelSource source;
  source.folder = folder;
  source.config_path = config_path;
  source.weights_path = weights_path;
  source.layout = layout;
  source.labels = real_labels(config, model->num_answers());
  model->set_source(std::move(source));
  return model;
}

}  // namespace headprune::models
