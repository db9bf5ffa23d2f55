// Training a VqaModel on VQA questions with soft labels, as LXMERT fine-tunes for VQA:
// binary cross-entropy with logits against the soft scores, summed over answers and averaged
// over the batch; AdamW (decoupled weight decay, none on biases and LayerNorm weights, i.e. on
// 1-D parameters) written with plain ATen ops on model.parameters(); linear warm-up then linear
// decay of the learning rate; global gradient-norm clipping. No dropout (the models' forward is
// the inference forward).
//
// The model is trained in place: parameters() shares storage with the model, so the updated
// tensors are the model's. Batches come from run::BatchBuilder; the sample order of each epoch
// is a PythonRandom shuffle seeded by (seed, epoch), so a run is deterministic for its seed and
// thread count (LibTorch's CPU kernels may round differently with another thread count).
//
// run_training() is the whole `headprune train` job: files in, a checkpoint folder out in the
// layout load_model() reads (config.json, model.safetensors, vocab.txt) plus training.json
// (options, per-epoch figures, and the caller's metadata such as the demo's settings hash).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "headprune/run/batch_builder.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/models/model.hpp"

namespace headprune::demo {

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;             ///< peak learning rate
  double weight_decay = 0.01;   ///< AdamW, on matrices and embeddings only
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-6;
  double warmup_fraction = 0.1; ///< of all steps, linear from 0 to lr; then linear decay to 0
  double clip_norm = 1.0;       ///< global gradient L2 norm limit; 0 = no clipping
  uint64_t seed = 0;            ///< parameter initialisation (run_training) and shuffling
  int threads = 0;              ///< LibTorch intra-op threads; 0 = leave as they are
  int64_t max_text_tokens = 20; ///< incl. [CLS] and [SEP]
  int64_t max_regions = 0;      ///< 0 = the family's (36 LXMERT, 100 VisualBERT)
  int64_t eval_batch_size = 256;
  /// Keep every example's tensors in memory instead of re-reading the feature store (or decoding
  /// and resizing the images) each step, when the whole training set takes at most this many bytes
  /// (0 = never). 2 GiB: the demo's ViLT, 24 patches of 768 values per question, takes about 1.1.
  int64_t cache_limit_bytes = int64_t{2} << 30;

  /// UserError naming the option when a value is out of range.
  void check() const;
};

/// One epoch's figures.
struct EpochReport {
  int64_t epoch = 0;          ///< 1-based
  double train_loss = 0;      ///< mean batch loss (BCE summed over answers)
  double valid_accuracy = 0;  ///< VQA soft score of the argmax x 100
  double seconds = 0;         ///< the epoch's training and evaluation
};

/// The answer with the largest summed soft score over the training set and its validation score.
struct MajorityBaseline {
  std::string answer;
  int64_t index = -1;
  double valid_accuracy = 0;  ///< x 100
};

struct TrainReport {
  std::vector<EpochReport> epochs;
  MajorityBaseline majority;
  double initial_valid_accuracy = 0;  ///< before the first step, x 100
  double final_valid_accuracy = 0;    ///< after the last epoch (the saved model), x 100
  int64_t train_samples = 0;
  int64_t valid_samples = 0;
  int64_t steps = 0;
  double seconds = 0;                 ///< the whole training, evaluations included
};

/// Called after every epoch (progress lines).
using EpochCallback = std::function<void(const EpochReport&)>;

/// Trains `model` in place on `train`, evaluating on `valid` after every epoch. Every sample's
/// image must be in the builder's feature store. Parameters get requires_grad for the run and
/// lose it at the end. UserError for empty sample lists or bad options.
TrainReport train_model(models::VqaModel& model, const run::BatchBuilder& builder,
                        const std::vector<data::Sample>& train, const std::vector<data::Sample>& valid,
                        const TrainOptions& options, const EpochCallback& on_epoch = {});

/// Mean VQA soft score (x 100) of the model's argmax over `samples` (no gradients).
double evaluate_accuracy(const models::VqaModel& model, const run::BatchBuilder& builder,
                         const std::vector<data::Sample>& samples, int64_t answers, int64_t batch_size);

/// The majority-answer baseline: argmax over answers of the summed training soft scores.
MajorityBaseline majority_baseline(const std::vector<data::Sample>& train, const std::vector<data::Sample>& valid,
                                   const data::AnswerVocab& vocab);

/// Everything `headprune train` takes.
struct TrainJob {
  std::string model_config;  ///< a config.json (LXMERT or VisualBERT layout)
  std::string questions;     ///< LXMERT JSON training questions
  std::string valid;         ///< LXMERT JSON validation questions
  std::string features;      ///< the feature store holding every image of both (region models)
  /// A model that reads pixels (ViLT): the folder of every image of both, and its image
  /// processor's preprocessor_config.json (copied into the checkpoint); features unused.
  std::string images, image_processor;
  std::string vocab;         ///< vocab.txt (its size must not exceed the config's vocab_size)
  std::string answers_dir;   ///< trainval_ans2label.json + trainval_label2ans.json
  std::string out_dir;       ///< the checkpoint folder to create
  bool overwrite = false;    ///< replace an existing out_dir
  TrainOptions options;
  std::map<std::string, std::string> metadata;  ///< extra string entries for training.json
};

/// Loads everything, trains a model initialised from scratch (seed = options.seed), and writes
/// out_dir: config.json (copied), model.safetensors, vocab.txt (copied), training.json. The
/// folder is built as out_dir + ".partial" and renamed at the end, so out_dir is complete or
/// absent. UserError when out_dir exists and !overwrite, when an input is missing or malformed,
/// when the vocabulary or the answer count do not fit the config, or when the feature size is
/// not the config's.
TrainReport run_training(const TrainJob& job, const EpochCallback& on_epoch = {});

/// Writes a checkpoint folder for `model`: `config_path` and `vocab_path` copied in,
/// model.safetensors from model.parameters(). RuntimeFailure when a file cannot be written.
void save_checkpoint(const models::VqaModel& model, const std::string& config_path, const std::string& vocab_path,
                     const std::string& out_dir);

}  // namespace headprune::demo
