// Physically pruned models: see include/headprune/models/export.hpp and docs/export.md.
#include "headprune/models/export.hpp"

#include <ATen/ATen.h>

#include <fstream>
#include <map>
#include <set>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

// An attention module's weights are <prefix>.{query,key,value}; its output projection and LayerNorm
// are <block>.output.{dense,LayerNorm}, <block> = the prefix without its last part (".self",
// ".att"): BERT's attention.self -> attention.output, LXMERT's visual_attention.att ->
// visual_attention.output.
std::string output_block(const std::string& prefix) {
  const auto dot = prefix.rfind('.');
  HP_ASSERT(dot != std::string::npos, "attention module name without a block: " + prefix);
  return prefix.substr(0, dot) + ".output";
}

nlohmann::json read_config(const VqaModel& model) {
  const std::string& path = model.source().config_path;
  if (path.empty() || path.size() < 5 || path.substr(path.size() - 5) != ".json")
    throw UserError(model.source().folder + ": export needs a model folder with config.json (an MMF zoo folder has "
                    "none: convert it to a Hugging Face folder first)");
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot read");
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) throw UserError(path + ": malformed JSON");
  return config;
}

}  // namespace

PrunedModel prune_model(const VqaModel& model, const at::Tensor& keep_in) {
  const auto& modules = model.attention_modules();
  const int64_t M = model.num_modules(), H = model.heads();
  nlohmann::json config = read_config(model);
  if (config.contains("headprune_attention_heads"))
    throw UserError(model.source().config_path + ": the model is already pruned (headprune_attention_heads): export "
                    "from the unpruned model the results were computed with");
  for (const auto& m : modules) HP_ASSERT(m.heads == H, "unpruned model with ragged heads");
  at::Tensor keep = keep_in.to(at::kCPU, at::kLong);
  if (keep.dim() == 1 && keep.size(0) == M) keep = keep.unsqueeze(1).expand({M, H});  // whole modules
  if (keep.dim() != 2 || keep.size(0) != M || keep.size(1) != H)
    throw UserError("keep mask of shape " + std::string(c10::str(keep_in.sizes())) + " (expected [" + std::to_string(M) +
                    ", " + std::to_string(H) + "] heads or [" + std::to_string(M) + "] modules of this model)");
  if (!keep.eq(0).logical_or(keep.eq(1)).all().item<bool>()) throw UserError("keep mask: values other than 0 and 1");

  const TensorMap& params = model.parameters();
  const int64_t head_dim = params.at(modules.front().mask_name + ".query.weight").size(0) / H;
  auto kept_heads = [&](int64_t m) {
    std::vector<int64_t> heads;
    for (int64_t h = 0; h < H; ++h)
      if (keep[m][h].item<int64_t>()) heads.push_back(h);
    return heads;
  };
  // The Q/K/V rows (= output-projection columns) of heads `heads`, in their order.
  auto rows = [&](const std::vector<int64_t>& heads) {
    std::vector<int64_t> r;
    for (int64_t h : heads)
      for (int64_t i = 0; i < head_dim; ++i) r.push_back(h * head_dim + i);
    return at::tensor(r, at::kLong);
  };

  PrunedModel out;
  TensorMap w(params.begin(), params.end());
  nlohmann::json counts = nlohmann::json::object();
  // Writes the attention weights `target` from the source weights `source` keeping `heads`.
  auto take = [&](const std::string& target, const std::string& source, const std::vector<int64_t>& heads) {
    const at::Tensor r = rows(heads).to(params.at(source + ".query.weight").device());
    for (const char* qkv : {".query", ".key", ".value"}) {
      w[target + qkv + ".weight"] = params.at(source + qkv + ".weight").index_select(0, r);
      w[target + qkv + ".bias"] = params.at(source + qkv + ".bias").index_select(0, r);
    }
    const std::string to = output_block(target), from = output_block(source);
    w[to + ".dense.weight"] = params.at(from + ".dense.weight").index_select(1, r);
    // The block's LayerNorm where it has one (post-LN BERT and LXMERT; ViLT's pre-LN block has none).
    for (const char* p : {".dense.bias", ".LayerNorm.weight", ".LayerNorm.bias"})
      if (params.count(from + p)) w[to + p] = params.at(from + p);
    counts[target] = static_cast<int64_t>(heads.size());
    if (heads.empty()) out.removed_modules.push_back(target);
  };
  // Modules that share weights (the same mask_name) keep the shared weights when they keep the
  // same heads; otherwise each gets its own copy under its own name.
  std::map<std::string, std::vector<int64_t>> by_weights;
  std::vector<std::string> order;
  for (int64_t m = 0; m < M; ++m) {
    if (!by_weights.count(modules[m].mask_name)) order.push_back(modules[m].mask_name);
    by_weights[modules[m].mask_name].push_back(m);
  }
  for (const std::string& shared : order) {
    const auto& members = by_weights[shared];
    bool same = true;
    for (int64_t m : members) same = same && kept_heads(m) == kept_heads(members.front());
    if (same) {
      take(shared, shared, kept_heads(members.front()));
      continue;
    }
    for (int64_t m : members) {
      take(modules[m].name, shared, kept_heads(m));
      if (modules[m].name != shared) out.split_modules.push_back(modules[m].name);
    }
  }
  for (int64_t m = 0; m < M; ++m) out.heads_kept += static_cast<int64_t>(kept_heads(m).size());
  out.heads_total = M * H;

  config["headprune_attention_heads"] = counts;
  // Hugging Face's own field, where its model class prunes heads on load (BERT-style models:
  // VisualBertModel._prune_heads, ViltModel._prune_heads): {layer index: [removed heads]}.
  // Transformers' LXMERT classes implement no head pruning, so an LXMERT export carries none
  // (docs/export.md).
  if (std::string(model.name()) == "visualbert" || std::string(model.name()) == "vilt") {
    nlohmann::json pruned = nlohmann::json::object();
    for (int64_t m = 0; m < M; ++m) {
      std::vector<int64_t> removed;
      for (int64_t h = 0; h < H; ++h)
        if (!keep[m][h].item<int64_t>()) removed.push_back(h);
      if (!removed.empty()) pruned[std::to_string(m)] = removed;
    }
    config["pruned_heads"] = pruned;
  }
  out.config_json = config.dump(2) + "\n";
  for (auto& [name, t] : w) out.weights[model.checkpoint_name(name)] = t.cpu();
  return out;
}

void write_pruned_model(const PrunedModel& pruned, const std::string& folder) {
  std::ofstream(folder + "/config.json") << pruned.config_json;
  // format=pt: what transformers' safetensors loader asks of a PyTorch checkpoint.
  write_safetensors(folder + "/model.safetensors", pruned.weights, {{"format", "pt"}});
}

std::unique_ptr<VqaModel> load_pruned_model(const VqaModel& source, const PrunedModel& pruned, const LoadOptions& options) {
  const nlohmann::json config = nlohmann::json::parse(pruned.config_json);
  TensorMap stored = pruned.weights;
  move_to_device(stored, options);
  const std::string where = source.source().folder + " (pruned in memory)";
  auto model = make_model(config.value("model_type", ""), config, where + ": config.json", stored, where, options);
  ModelSource s = source.source();
  s.weights_path = where;
  model->set_source(s);
  return model;
}

}  // namespace headprune::models
