#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {

const char* family_name(Family family) { return family == Family::lxmert ? "lxmert" : "visualbert"; }

int64_t config_int(const nlohmann::json& config, const std::string& key, const std::string& file) {
  if (!config.contains(key)) throw UserError(file + ": missing key '" + key + "' (expected an integer)");
  if (!config[key].is_number_integer()) throw UserError(file + ": key '" + key + "' must be an integer");
  return config[key].get<int64_t>();
}

double config_double(const nlohmann::json& config, const std::string& key, const std::string& file, double fallback) {
  if (!config.contains(key)) return fallback;
  if (!config[key].is_number()) throw UserError(file + ": key '" + key + "' must be a number");
  return config[key].get<double>();
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
  // MMF's key names (model.bert.*, model.classifier.*) say the checkpoint comes from MMF.
  Layout layout = Layout::huggingface;
  for (const auto& item : stored)
    if (item.first.rfind("model.bert.", 0) == 0 || item.first.rfind("model.classifier.", 0) == 0) layout = Layout::mmf;
  move_to_device(stored, options);
  spdlog::debug("{}: {} tensors", weights_path, stored.size());
  std::unique_ptr<VqaModel> model;
  if (model_type == "lxmert") {
    model = make_lxmert(config, config_path, stored, weights_path, options);
  } else if (model_type == "visual_bert" || model_type == "visualbert") {
    model = make_visualbert(config, config_path, stored, weights_path, options);
  } else {
    throw UserError(config_path + ": key 'model_type' is '" + model_type + "' (expected 'lxmert' or 'visual_bert')");
  }
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
