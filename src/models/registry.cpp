// The table of model families (models/families.hpp): one row per family. Adding a model = its
// model file (forward, relprop, relevance maps, weights map), one row here.
#include <nlohmann/json.hpp>

#include "headprune/common/error.hpp"
#include "headprune/models/families.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

using Factory = std::unique_ptr<VqaModel> (*)(const nlohmann::json&, const std::string&, const TensorMap&,
                                              const std::string&, const LoadOptions&);

struct Row {
  FamilyInfo info;
  Factory make;
};

ExampleSizes sizes(int64_t hidden, int64_t heads, int64_t intermediate, std::vector<int64_t> layers, int64_t positions) {
  ExampleSizes s;
  s.hidden = hidden;
  s.heads = heads;
  s.intermediate = intermediate;
  s.layers = std::move(layers);
  s.positions = positions;
  return s;
}

// ViLT: one stream of `layers`; the image enters as patch_size patches of a square image_size grid.
ExampleSizes vilt_sizes(int64_t hidden, int64_t heads, int64_t intermediate, int64_t layers, int64_t positions,
                        int64_t image_size, int64_t patch_size) {
  ExampleSizes s = sizes(hidden, heads, intermediate, {layers}, positions);
  s.image_size = image_size;
  s.patch_size = patch_size;
  s.feature_dim = 3 * patch_size * patch_size;
  return s;
}

const std::vector<Row>& rows() {
  // name, config.json model_type values, the seed's count rule, full size, the demo's size.
  static const std::vector<Row> table = {
      {{"lxmert", {"lxmert"}, "keep_floor", sizes(768, 12, 3072, {9, 5, 5}, 512), sizes(64, 4, 128, {1, 2, 1}, 32),
        lxmert_example_config},
       make_lxmert},
      {{"visualbert", {"visual_bert", "visualbert"}, "prune_floor", sizes(768, 12, 3072, {12}, 512),
        sizes(64, 4, 128, {4}, 32), visualbert_example_config},
       make_visualbert},
      // ViLT has no seed script: its count rule is VisualBERT's int(ratio * total).
      {{"vilt", {"vilt"}, "prune_floor", vilt_sizes(768, 12, 3072, 12, 40, 384, 32),
        vilt_sizes(64, 4, 128, 4, 32, 64, 16), vilt_example_config},
       make_vilt},
  };
  return table;
}

}  // namespace

std::string example_config_text(nlohmann::json c) {
  c["layer_norm_eps"] = 1e-12;
  c["hidden_act"] = "gelu";
  c["initializer_range"] = 0.02;
  c["torch_dtype"] = "float32";
  c["pad_token_id"] = 0;
  return c.dump(2) + "\n";  // keys sorted: the text does not depend on the order they were set in
}

const std::vector<FamilyInfo>& families() {
  static const std::vector<FamilyInfo> infos = [] {
    std::vector<FamilyInfo> out;
    for (const Row& r : rows()) out.push_back(r.info);
    return out;
  }();
  return infos;
}

std::string family_names() {
  std::string out;
  for (const FamilyInfo& f : families()) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

const FamilyInfo& find_family(const std::string& name, const std::string& where) {
  for (const FamilyInfo& f : families())
    if (f.name == name) return f;
  throw UserError(where + ": unknown model family '" + name + "' (expected one of " + family_names() + ")");
}

std::unique_ptr<VqaModel> make_model(const std::string& model_type, const nlohmann::json& config,
                                     const std::string& config_path, const TensorMap& stored,
                                     const std::string& weights_path, const LoadOptions& options) {
  std::string known;
  for (const Row& r : rows()) {
    for (const std::string& t : r.info.model_types)
      if (t == model_type) return r.make(config, config_path, stored, weights_path, options);
    known += (known.empty() ? "'" : " or '") + r.info.model_types.front() + "'";
  }
  throw UserError(config_path + ": key 'model_type' is '" + model_type + "' (expected " + known + ")");
}

}  // namespace headprune::models
