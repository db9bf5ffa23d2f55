// Experiment configuration: a YAML file plus MMF-style dotted overrides, loaded into typed structs.
//
//   Config c = load_config("configs/lxmert_demo.yaml", {"prune.ratios=[0,0.5]", "model.path=/data/lxmert"});
//   spdlog::info("resolved config:\n{}", to_yaml(c));
//
// Every key, its type, default and meaning is documented in docs/config.md. Loading is strict and
// every failure is a UserError carrying one line that names where (the file, with line:column when
// known, or the override) and the dotted key:
//   configs/x.yaml:12:3: unknown key 'prune.ratio' (did you mean 'prune.ratios'?)
//   override 'no.such.key=1': unknown key 'no.such.key' (valid top-level keys: name, log_level, ...)
//   configs/x.yaml:7:15: key 'run.batch_size' expected an integer, got 'eight'
//   configs/x.yaml: missing required key 'model.path' (a folder with config.json, weights, vocab.txt)
//   configs/x.yaml:3:11: key 'device' must be one of cpu, cuda (got 'gpu')
//   config file 'configs/x.yaml' not found
//
// Overrides are `dotted.key=value`; the value is parsed as YAML (a scalar, a flow sequence such as
// [0,0.5], a flow mapping for a whole section, or nothing / ~ for "unset: use the default"). They
// apply in order on top of the file, before any typing; a later override wins.
//
// The stages' choices are the stages' own torch-free enums (data's question format, selection and
// on_missing; explain's target; prune's granularity, sign and count rule), and registry names
// (model.family: models/families.hpp, scoring.methods: explain/methods.hpp) are checked against
// the registries: config keeps no copy of them.
//
// Torch-free: this header and src/config/config.cpp do not use LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "headprune/data/selection.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/prune/units.hpp"
#include "headprune/run/plan.hpp"

namespace headprune::config {

enum class Device { cpu, cuda };
enum class Precision { fp64, fp32, tf32, bf16 };
enum class Protocol { per_sample, global };
/// Which samples the global protocol's ranking is fitted on: all of them (the seed), or a fixed
/// random half, the curves then measured on the other half (held out).
enum class GlobalFit { all, half };

/// The YAML spelling of an enum value ("per_sample", "ground_truth", ...).
std::string to_string(Device v);
std::string to_string(Precision v);
std::string to_string(data::QuestionFormat v);
std::string to_string(data::Selection v);
std::string to_string(data::OnMissing v);
std::string to_string(explain::Target v);
std::string to_string(Protocol v);
std::string to_string(GlobalFit v);
std::string to_string(prune::Granularity v);
std::string to_string(prune::Sign v);
std::string to_string(prune::CountRule v);

struct ModelConfig {
  std::string family;  ///< required: a name of models/families.hpp's table
  std::string path;                          ///< required: a Hugging Face folder or MMF's zoo folder
  std::optional<std::string> vocab;          ///< the tokenizer's vocab.txt; unset = <path>/vocab.txt
  bool strict_load = true;                   ///< every checkpoint tensor must be used, and vice versa
  /// Question tokens incl. [CLS]/[SEP], >= 3; 0 = the seed's for the family (run/inputs.hpp)
  int64_t max_text_tokens = 0;
  int64_t max_regions = 36;                  ///< >= 1, visual regions per image
};

struct DataConfig {
  data::QuestionFormat format = data::QuestionFormat::lxmert_json;
  std::string questions;                   ///< required
  std::optional<std::string> annotations;  ///< required for vqa_official, refused for lxmert_json
  /// HDF5 feature store (region features). Empty = not given; data.features or data.images is
  /// required, and which one a model reads is checked when the run's inputs are opened.
  std::string features;
  /// Answer vocabulary: a folder (trainval_ans2label.json + trainval_label2ans.json) or a file
  /// (one answer a line, MMF). Unset: the model's default (see answers_path()).
  std::optional<std::string> answers;
  /// Old name of `answers`, read as an alias: load_config moves it into `answers` (giving both
  /// is an error), so it is always unset after loading.
  std::optional<std::string> answers_dir;
  data::Selection selection = data::Selection::seed_shuffle;
  std::optional<std::string> selection_file;  ///< required by (and only for) selection: list
  int64_t num_samples = 10000;             ///< >= 1; ignored by selection: all
  int64_t selection_seed = 1234;           ///< >= 0
  std::optional<std::string> exclude_images;  ///< file of image ids to leave out
  data::OnMissing on_missing = data::OnMissing::error;  ///< a sample whose image has no features
  std::optional<std::string> image_root;      ///< raw images (only for visualisation)
  /// Raw images a pixel-reading model (ViLT) takes, COCO val2014 layout:
  /// <dir>/COCO_val2014_000000393225.jpg (or .png/.jpeg, or the bare id "393225.jpg").
  std::optional<std::string> images;
};

struct ScoringConfig {
  std::vector<std::string> methods{"ours"};  ///< names of explain/methods.hpp's table; non-empty, no duplicates
  explain::Target explain = explain::Target::predicted;
  bool michel_normalize = false;  ///< layer-wise L2 normalisation of Michel et al. scores
  int64_t random_seed = 0;        ///< >= 0, seed of the `random` baseline
  int64_t ig_steps = 20;          ///< >= 1, integrated-gradients steps of `attattr`
  /// >= 1, independent draws of the `random` baseline (each its own ranking per sample and its
  /// own global ranking): the report's reference band
  int64_t random_repeats = 5;
};

struct PruneConfig {
  std::vector<Protocol> protocols{Protocol::per_sample};
  std::vector<prune::Granularity> granularities{prune::Granularity::head};
  std::vector<prune::Sign> signs{prune::Sign::positive, prune::Sign::negative};
  std::vector<double> ratios{0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};  ///< each in [0, 1)
  /// How a ratio becomes a unit count. The YAML value `seed` (the default) is resolved at load
  /// time to the rule the seed project used for the model family (models/families.hpp):
  /// keep_floor for lxmert, prune_floor for visualbert; a loaded Config never holds `seed`.
  prune::CountRule count_rule = prune::CountRule::keep_floor;
  bool global_normalize = false;
  /// The module kinds a curve prunes: `all` (every module), or only one kind's modules
  /// (prune/units.hpp: ModuleKind); one curve per kind, the ratio taken of that kind's units.
  std::vector<prune::ModuleKind> modalities{prune::ModuleKind::all};
  GlobalFit global_fit = GlobalFit::all;
};

struct RunConfig {
  int64_t batch_size = 8;         ///< >= 1
  int64_t threads_per_rank = 0;   ///< >= 0; 0 = the cores the launcher gave the rank
  int64_t checkpoint_every = 50;  ///< >= 1, batches between per-rank checkpoints
  int64_t progress_seconds = 10;  ///< >= 0; 0 = no periodic progress line
  /// How the per-sample phase is spread over the ranks (run/plan.hpp): by batches, or by
  /// (batch, ratio block) for runs with more ranks than batches. Results are the same bits.
  run::Shard shard = run::Shard::samples;
};

struct OutputConfig {
  std::string path;        ///< required: the results .h5 file
  bool overwrite = false;  ///< replace an existing results file
};

struct VisualizeConfig {
  std::vector<int64_t> samples;                 ///< question ids to visualise (none by default)
  std::vector<double> ratios{0.0, 0.4, 0.6, 0.9};  ///< each in [0, 1)
  std::optional<std::string> out_dir;
};

struct Config {
  std::string name;  ///< required; letters, digits, '.', '_', '-', '+' (it names groups and files)
  std::string log_level = "info";  ///< trace|debug|info|warn|error|critical|off
  Device device = Device::cpu;
  Precision precision = Precision::fp32;  ///< tf32 needs device: cuda
  int64_t seed = 1234;                    ///< >= 0
  ModelConfig model;
  DataConfig data;
  ScoringConfig scoring;
  PruneConfig prune;
  RunConfig run;
  OutputConfig output;
  VisualizeConfig visualize;
};

bool operator==(const ModelConfig& a, const ModelConfig& b);
bool operator==(const DataConfig& a, const DataConfig& b);
bool operator==(const ScoringConfig& a, const ScoringConfig& b);
bool operator==(const PruneConfig& a, const PruneConfig& b);
bool operator==(const RunConfig& a, const RunConfig& b);
bool operator==(const OutputConfig& a, const OutputConfig& b);
bool operator==(const VisualizeConfig& a, const VisualizeConfig& b);
bool operator==(const Config& a, const Config& b);
inline bool operator!=(const Config& a, const Config& b) { return !(a == b); }

/// Loads `path` and applies `overrides` ("dotted.key=value") in order, then types and validates.
/// Throws UserError (one line, see the top of this file) for a missing or unreadable file, invalid
/// YAML, an unknown, duplicate, missing or mistyped key, a value outside its allowed set or range.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

/// Same as load_config, from YAML text; `origin` names it in error messages (e.g. "results.h5:/meta").
Config load_config_text(const std::string& yaml, const std::string& origin,
                        const std::vector<std::string>& overrides = {});

/// The fully resolved config (every key, defaults filled in, `count_rule: seed` resolved) as YAML
/// text in schema order. Round-trips: load_config_text(to_yaml(c), ...) == c for any loaded c.
std::string to_yaml(const Config& config);

/// Every valid dotted leaf key, in schema order (for documentation and tests).
std::vector<std::string> config_keys();

}  // namespace headprune::config
