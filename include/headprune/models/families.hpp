// The model families headprune knows: one row per family in src/models/registry.cpp, read by
// config validation (model.family), by load_model (config.json's model_type -> the model's
// factory) and by whatever needs an example of a family (the demo's small models, the bench's
// full-size ones). A third model is one model file, one row of that table and its weights map.
//
// Torch-free: config/ includes this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::models {

/// The sizes of an example configuration (see FamilyInfo::example_config).
struct ExampleSizes {
  int64_t hidden = 768, heads = 12, intermediate = 3072;
  std::vector<int64_t> layers;  ///< the family's layer counts (LXMERT: language, cross, vision)
  int64_t feature_dim = 2048, answers = 3129, vocab = 30522, positions = 512;
  /// Pixel models (ViLT): the square image the position table was trained at, and the patch side
  /// (feature_dim = 3 * patch_size^2); 0 for a model of region features.
  int64_t image_size = 0, patch_size = 0;
};

struct FamilyInfo {
  std::string name;                      ///< config's model.family, the results' meta/model_family
  std::vector<std::string> model_types;  ///< config.json model_type values that load as this family
  std::string seed_count_rule;           ///< what `prune.count_rule: seed` means: the seed's script's rule
  ExampleSizes base;                     ///< the published full-size model (bench)
  ExampleSizes small;                    ///< the demo's small model
  /// A complete config.json (text) for a model of `sizes` that load_model reads (with
  /// init_from_scratch for training or benchmarking).
  std::string (*example_config)(const ExampleSizes& sizes);
};

/// Every family, in table order.
const std::vector<FamilyInfo>& families();

/// The family called `name`; UserError "<where>: unknown model family '<name>' (expected ...)".
const FamilyInfo& find_family(const std::string& name, const std::string& where);

/// "lxmert, visualbert": the names, for messages.
std::string family_names();

}  // namespace headprune::models
