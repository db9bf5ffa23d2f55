// MMF's model zoo folder for VisualBERT (`visual_bert.finetuned.vqa2.from_coco_train` as MMF
// downloads and unpacks it): model.pth + config.yaml, no config.json, no vocab.txt.
//
// MMF builds the model from config.yaml's model_config.visual_bert: BertConfig.from_pretrained(
// bert_model_name, **model_config.visual_bert), so a size given there wins and every other size is
// bert-base's (mmf/configs/models/visual_bert/defaults.yaml: bert_model_name bert-base-uncased,
// visual_embedding_dim 2048). The checkpoint loader (mmf/utils/checkpoint.py) takes
// ckpt.get("model", ckpt), drops DataParallel's "module." prefix and maps the original VisualBERT
// names (VisualBERT.format_state_key: bert.bert -> model.bert, bert.cls -> model.cls,
// bert.classifier -> model.classifier); we do the same.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

namespace fs = std::filesystem;

// bert-base-uncased's config (the sizes MMF takes from `bert_model_name`).
struct BertBase {
  const char* key;
  int64_t value;
};
const BertBase kBertBase[] = {
    {"hidden_size", 768},        {"num_attention_heads", 12},      {"num_hidden_layers", 12},
    {"intermediate_size", 3072}, {"max_position_embeddings", 512}, {"vocab_size", 30522},
    {"type_vocab_size", 2},      {"visual_embedding_dim", 2048},  // MMF's visual_bert default
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

// MMF's key rewrites when it loads a checkpoint (see the file comment).
TensorMap mmf_state_keys(const TensorMap& stored) {
  TensorMap out;
  for (const auto& [name, t] : stored) {
    std::string k = name.rfind("module.", 0) == 0 ? name.substr(7) : name;
    k = replace_all(replace_all(replace_all(k, "bert.bert", "model.bert"), "bert.cls", "model.cls"), "bert.classifier",
                    "model.classifier");
    out.emplace(k, t);
  }
  return out;
}

std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string("a mapping or list"); }

// model_config.visual_bert of config.yaml (an undefined node when the file is absent).
YAML::Node visual_bert_section(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw UserError(path + ": not readable YAML (" + e.msg + ")");
  }
  if (!root.IsMap()) throw UserError(path + ": expected MMF's config (a mapping with model_config)");
  if (root["model"] && root["model"].IsScalar() && root["model"].Scalar() != "visual_bert")
    throw UserError(path + ": key 'model' is '" + root["model"].Scalar() +
                    "' (expected visual_bert: headprune reads MMF's VisualBERT; LXMERT from Hugging Face's layout)");
  const YAML::Node mc = root["model_config"];
  if (!mc) throw UserError(path + ": missing key 'model_config' (MMF's model settings)");
  if (!mc.IsMap()) throw UserError(path + ": key 'model_config' must be a mapping");
  const YAML::Node vb = mc["visual_bert"];
  if (!vb) {
    std::string have;
    for (const auto& kv : mc) have += (have.empty() ? "" : ", ") + kv.first.as<std::string>();
    throw UserError(path + ": missing key 'model_config.visual_bert' (found: " + (have.empty() ? "none" : have) + ")");
  }
  if (!vb.IsMap()) throw UserError(path + ": key 'model_config.visual_bert' must be a mapping");
  return vb;
}

}  // namespace

std::unique_ptr<VqaModel> load_mmf_zoo(const std::string& folder, const LoadOptions& options) {
  const std::string weights_path = (fs::path(folder) / "model.pth").string();
  const std::string yaml_path = (fs::path(folder) / "config.yaml").string();
  const bool has_yaml = fs::exists(yaml_path);
  TensorMap stored = mmf_state_keys(read_torch_bin(weights_path));
  refuse_nonfinite_weights(stored, weights_path);
  move_to_device(stored, options);

  const YAML::Node vb = has_yaml ? visual_bert_section(yaml_path) : YAML::Node();
  const std::string where = yaml_path + ": key 'model_config.visual_bert.";
  auto text = [&](const char* key) -> std::optional<std::string> {
    if (!has_yaml || !vb[key] || vb[key].IsNull()) return std::nullopt;
    if (!vb[key].IsScalar()) throw UserError(where + key + "' must be a string");
    return vb[key].Scalar();
  };
  auto integer = [&](const char* key) -> std::optional<int64_t> {
    if (!has_yaml || !vb[key] || vb[key].IsNull()) return std::nullopt;
    try {
      return vb[key].as<int64_t>();
    } catch (const YAML::Exception&) {
      throw UserError(where + key + "' must be an integer (got " + scalar_text(vb[key]) + ")");
    }
  };

  // Sizes not in config.yaml are bert-base's; that is only right when the model is bert-base.
  const std::string bert = text("bert_model_name").value_or("bert-base-uncased");
  const bool bert_base = bert == "bert-base-uncased" || bert == "bert-base-cased";
  nlohmann::json config;
  config["model_type"] = "visual_bert";
  for (const auto& [key, value] : kBertBase) {
    std::optional<int64_t> v = integer(key);
    if (!v && !bert_base && std::string(key) != "visual_embedding_dim")
      throw UserError(where + key + "' is missing, and bert_model_name '" + bert +
                      "' is not bert-base (whose sizes are the defaults)");
    config[key] = v.value_or(value);
  }
  if (has_yaml && vb["layer_norm_eps"]) {
    try {
      config["layer_norm_eps"] = vb["layer_norm_eps"].as<double>();
    } catch (const YAML::Exception&) {
      throw UserError(where + "layer_norm_eps' must be a number (got " + scalar_text(vb["layer_norm_eps"]) + ")");
    }
  }
  if (auto head = text("training_head_type"); head && *head != "classification")
    throw UserError(where + "training_head_type' is '" + *head + "' (expected classification: the VQA model)");
  // MMF's default pooler_strategy reads [CLS]; its VQA configs (and the seed's) set vqa.
  if (has_yaml) {
    std::optional<std::string> pooler = text("pooler_strategy");
    if (!pooler || *pooler != "vqa")
      throw UserError(where + "pooler_strategy' is " + (pooler ? "'" + *pooler + "'" : std::string("missing (MMF's default)")) +
                      " (expected vqa: the VQA head reads the last question token)");
  }
  // The answer count: config.yaml's num_labels, else the classifier's rows.
  if (std::optional<int64_t> n = integer("num_labels")) {
    config["num_labels"] = *n;
  } else {
    auto it = stored.find("model.classifier.1.weight");
    if (it == stored.end() || it->second.dim() != 2)
      throw UserError(weights_path + ": tensor 'model.classifier.1.weight' not found (the VQA classifier; " +
                      (has_yaml ? where + "num_labels' is not set either" : yaml_path + " is absent") + ")");
    config["num_labels"] = it->second.size(0);
  }

  std::unique_ptr<VqaModel> model =
      make_visualbert(config, has_yaml ? yaml_path : weights_path + " (bert-base sizes: no config.yaml)", stored,
                      weights_path, options);
  ModelSource source;
  source.folder = folder;
  source.config_path = has_yaml ? yaml_path : "";
  source.weights_path = weights_path;
  source.layout = Layout::mmf;
  source.mmf_zoo = true;
  model->set_source(std::move(source));
  return model;
}

}  // namespace headprune::models
