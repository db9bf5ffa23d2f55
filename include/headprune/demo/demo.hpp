// The embedded demo's preparation: a synthetic VQA world (demo/world.hpp) and two small
// models trained on it (demo/trainer.hpp), saved as real checkpoint folders, plus one run config
// per model for the analysis (`headprune run`, keys in docs/config.md).
//
// Folder layout under DemoOptions::out_dir:
//   data/                     the world (train.json, valid.json, features.h5, vocab.txt, answers, images/)
//   models/lxmert/            config.json, model.safetensors, vocab.txt, training.json
//   models/visualbert/        the same
//   configs/lxmert.yaml, configs/visualbert.yaml   the analysis run configs
//   results/                  where the run configs write (results/<family>.h5)
//
// Reuse: a world whose world.json has the options' hash is kept; a model folder whose
// training.json carries the same settings hash (world hash + model config + training options)
// is kept unless `retrain`. Everything is deterministic for a seed (and thread count).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headprune/demo/world.hpp"
#include "headprune/demo/trainer.hpp"

namespace headprune::demo {

struct DemoOptions {
  std::string out_dir = "out/demo";
  uint64_t seed = 1;
  bool retrain = false;         ///< train even when a model for the same settings exists
  bool small = false;           ///< a smaller world, model and schedule (tests, quick looks)
  int threads = 1;              ///< LibTorch threads per trained model (fixed: results depend on it)
  /// The `headprune` executable: when set, the models are trained at the same time by one
  /// `headprune train` process each (one thread each); empty = one after the other in this process.
  std::string executable;
  int64_t analysis_samples = 0; ///< questions per analysis run; 0 = the setting's (500, small 64)
};

/// The families the demo trains and analyses: every family of models/families.hpp, in its order
/// (lxmert, visualbert, vilt): one model, run config and results file each. A family takes the
/// synthetic world's region features, or its rendered scenes when it reads pixels (ViLT), at its
/// `small` size.
const std::vector<std::string>& demo_families();

/// The world of a setting: 2000/400 images (small: 500/120), 6 questions each (12000/2400
/// questions; small 3000/720), 32 features.
SyntheticWorldOptions demo_world_options(uint64_t seed, bool small);

/// The architecture as config.json text (the same in both settings): LXMERT hidden 64, 4 heads,
/// intermediate 128, l/x/r layers 1/2/1 (8 attention modules: language self, both cross
/// directions, both x-layer selfs, vision self); VisualBERT hidden 64, 4 heads, intermediate 128,
/// 4 layers. `family` is a name of models/families.hpp; vocabulary, answers and feature size come from
/// the world. UserError for another family.
std::string demo_model_config(const std::string& family, const SyntheticWorld& world, bool small);
/// A pixel model's preprocessor_config.json (ViltImageProcessor keys at the small model's image
/// size and patch); "" for a model of region features.
std::string demo_image_processor_config(const std::string& family);

/// The training schedule: AdamW lr 1e-3, batch 32, 18 epochs (small: 20 epochs of the smaller
/// world). Measured on this project's 2-core machine, one core per model: about 100 s per
/// model, validation accuracy ~76 (LXMERT) and ~90 (VisualBERT) vs ~21 for the majority answer.
TrainOptions demo_train_options(const std::string& family, uint64_t seed, bool small, int threads);

struct DemoModel {
  std::string family;      ///< a name of models/families.hpp
  std::string dir;         ///< the checkpoint folder
  bool reused = false;     ///< found with the same settings hash, not retrained
  std::string settings_hash;
  double valid_accuracy = 0;     ///< x 100, the saved model
  double initial_accuracy = 0;   ///< x 100, before training
  std::string majority_answer;
  double majority_accuracy = 0;  ///< x 100
  double seconds = 0;            ///< training time (of the run that made it, when reused)
  std::string run_config;        ///< configs/<family>.yaml
  std::string results;           ///< results/<family>.h5 (what the run config writes)
  /// prune.modalities of its analysis: `all`, and `cross` when the model has cross attention
  /// (curves pruning only the cross-modal heads)
  std::vector<std::string> modalities{"all"};
  /// The model reads pixels (ViLT): its analysis reads data.images (the world's rendered PNGs)
  /// instead of data.features.
  bool reads_pixels = false;
};

struct DemoResult {
  SyntheticWorldFiles world;
  bool world_reused = false;
  std::vector<DemoModel> models;  ///< one per demo_families(), in that order
  double seconds = 0;
};

/// World, models, run configs. UserError / RuntimeFailure as the steps raise them (a failed
/// `headprune train` process: RuntimeFailure naming the model and its exit code).
DemoResult prepare_demo(const DemoOptions& options);

/// The analysis run config (YAML, docs/config.md) of one trained demo model: every scoring method
/// of explain::method_names() (attattr with a reduced scoring.ig_steps), per-sample and global
/// protocols, head and layer, positive and negative, model.modalities as prune.modalities, on
/// `samples` validation questions, with a few visualised questions.
std::string demo_run_config(const DemoModel& model, const SyntheticWorldFiles& world, uint64_t seed,
                            int64_t samples, const std::vector<int64_t>& visualize_ids);

}  // namespace headprune::demo
