// The input stage of `headprune run` (on every rank) and `headprune visualize`: load_inputs()
// reads the model, the answer list, the tokenizer, the images' source and the questions the same
// way for both, with the defaults a run takes from its model:
//
//   images' source        data.features (an HDF5 feature store) for a model of region features
//                         (LXMERT, VisualBERT); data.images (raw JPEG/PNG files, COCO's val2014
//                         layout) for a model that reads pixels (ViLT: InputSpec::patch_size),
//                         resized and normalised by the model folder's preprocessor_config.json
//   tokenizer vocabulary  model.vocab, else the model folder's vocab.txt (an MMF zoo folder has
//                         none: model.vocab is then required)
//   question length       model.max_text_tokens, else the seed's for the family: LXMERT (and any
//                         Hugging Face layout) 512, the Hugging Face tokenizer's limit; VisualBERT
//                         from MMF 128 (MMF's bert_tokenizer max_seq_length); both capped at the
//                         model's position table
//   answer list           data.answers, else config.json's id2label when it names real answers,
//                         else by layout: LXMERT -> data/vqa (LXMERT's JSON pair), VisualBERT with
//                         MMF's key names -> data/vqa/mmf_answers_vqa.txt (MMF's answers_vqa.txt)
#pragma once

#include <cstdint>
#include <string>

#include <memory>

#include "headprune/config/config.hpp"
#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/image_source.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/models/model.hpp"
#include "headprune/run/batch_builder.hpp"

namespace headprune::run {

/// The tokenizer's vocab.txt (UserError when there is none).
std::string tokenizer_vocab_path(const config::Config& c, const models::VqaModel& model);

/// Question tokens incl. [CLS] and [SEP] (see above). UserError when model.max_text_tokens
/// exceeds the model's position table.
int64_t text_token_limit(const config::Config& c, const models::VqaModel& model);

/// The run's answer list and where it came from.
struct Answers {
  data::AnswerVocab vocab;
  std::string source;  ///< the file or folder read, or "<config.json>: id2label"
  std::string sha256;  ///< of the answers joined by '\n' (= sha256sum of a one-answer-a-line file)
};

/// Loads the answer list (see above) and checks it has one answer per model output
/// (UserError naming the list and the model otherwise).
Answers load_answers(const config::Config& c, const models::VqaModel& model);

/// Everything a run reads before its first batch.
struct Inputs {
  std::unique_ptr<models::VqaModel> model;  ///< on its device, in the configured precision
  std::unique_ptr<data::AnswerVocab> vocab;
  std::string answers_source, answers_sha256;  ///< Answers::source and ::sha256
  std::string tokenizer_vocab;                 ///< tokenizer_vocab_path()
  std::unique_ptr<data::WordPieceTokenizer> tokenizer;
  int64_t text_tokens = 0;                     ///< text_token_limit()
  std::unique_ptr<data::ImageSource> images;  ///< the feature store, or the image folder (see above)
  /// What besides its image ids decides what the source gives: "" for a feature store; an image
  /// folder's processor settings (into the run's identity: other settings, other inputs).
  std::string images_settings;
  std::unique_ptr<BatchBuilder> builder;       ///< samples -> padded batches of this model
  data::VqaQuestions questions;                ///< every question of data.questions, file order
};

/// Loads the inputs in this order (the first bad one is the error): the model (checked to be
/// model.family), the answer list, the tokenizer, the feature store (checked against the model),
/// the questions. With device: cuda the model goes to GPU `gpu_slot` modulo the visible GPUs
/// (the node-local rank: one GPU per rank, shared round-robin beyond); `who` names the process in
/// the no-GPU error ("rank 3").
Inputs load_inputs(const config::Config& c, int gpu_slot, const std::string& who);

/// The unpruned accuracy check: the warning line when `samples` >= 64 all scored 0 ("" else).
std::string zero_accuracy_warning(int64_t samples, double score_sum, const std::string& answers_source);

}  // namespace headprune::run
