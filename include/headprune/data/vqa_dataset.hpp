// VQA v2 questions with soft answer labels, from the two formats people have, and the sample
// list of a run: exclusion of training images -> selection -> check against the feature store.
//
//   LXMERT JSON  (valid.json, minival.json, nominival.json): a list of
//                {question_id, img_id, sent, label: {answer: score}, answer_type, question_type};
//                `label` is optional (test splits), scores are taken as they are.
//   official     v2_OpenEnded_mscoco_<split>_questions.json + v2_mscoco_<split>_annotations.json:
//                each of the 10 human answers is normalised (normalize_answer) and an answer
//                given k times scores soft_score(k) (0.3, 0.6, 0.9, 1.0); img_id becomes
//                "COCO_<data_subtype>_<image_id as 12 digits>", the spelling of the TSV files.
//   mmf_imdb     MMF's annotation database imdb_<split>.npy: a NumPy object array of dicts
//                {question_id, image_id, image_name, feature_path, question_str, question_tokens,
//                answers / valid_answers / all_answers, ...}, read as MMF's AnnotationDatabase
//                and vqa2 dataset read it (load_mmf_imdb below).
// In all, answers outside the vocabulary are dropped (score 0), so `label` and target() agree.
//
// Failure: UserError naming the file and the record (index and question_id) and what was
// expected; malformed JSON names the line and column.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/selection.hpp"

namespace headprune::data {

class ImageSource;

struct Sample {
  std::string question_id;   ///< as in the file; integer ids in decimal ("262148000")
  std::string img_id;        ///< "COCO_val2014_000000262148"
  std::string question;      ///< the question text ("sent")
  std::string answer_type;   ///< "yes/no", "number", "other"; empty when absent
  std::string question_type; ///< "what is the", ...; empty when absent
  std::map<std::string, double> label;               ///< answer -> soft score, in-vocabulary only
  std::vector<std::pair<int64_t, float>> label_ids;  ///< (vocabulary index, score), same answers

  /// The dense soft-label vector over a vocabulary of `vocab_size` answers (0 elsewhere), as
  /// LXMERT's VQA dataset builds its target. Built on demand: 214k questions x 3129 floats
  /// would be 2.7 GB.
  std::vector<float> target(int64_t vocab_size) const;

  /// label[answer] or 0: the VQA accuracy of predicting `answer`.
  double score(const std::string& answer) const;
};

/// The questions of one file (or official pair), in file order.
struct VqaQuestions {
  std::string source;  ///< the file(s) they came from, for messages
  std::vector<Sample> samples;
};

/// Reads LXMERT's JSON.
VqaQuestions load_lxmert_questions(const std::string& path, const AnswerVocab& vocab);

/// Reads the official pair. `annotations_path` may be empty (test split: no labels); otherwise
/// every question must have an annotation with the same image_id.
VqaQuestions load_vqa_v2_questions(const std::string& questions_path, const std::string& annotations_path,
                                   const AnswerVocab& vocab);

/// The question file formats (config data.format).
enum class QuestionFormat { lxmert_json, vqa_official, mmf_imdb };

/// "lxmert_json", "vqa_official", "mmf_imdb": the config's spelling.
const char* question_format_name(QuestionFormat format);
/// The format named `name`; UserError naming `where` otherwise.
QuestionFormat question_format_from_string(const std::string& name, const std::string& where);

/// The loader of `format`; `annotations` is used by vqa_official only (may be empty there).
VqaQuestions load_questions(QuestionFormat format, const std::string& questions, const std::string& annotations,
                            const AnswerVocab& vocab);

/// Soft labels from the human answers: normalize_answer each, count, soft_score(count); answers
/// outside `vocab` are dropped.
std::map<std::string, double> soft_labels(const std::vector<std::string>& answers, const AnswerVocab& vocab);

/// Reads MMF's imdb .npy as MMF does:
///   - a first element without "image_id" is a header and is skipped (AnnotationDatabase);
///   - the question is what MMF's text processor receives as "text": question_str when the
///     record has question_tokens, else question (the BERT tokenizer of MMF's VisualBERT takes
///     this raw text; simple_word is applied to answers, not questions);
///   - the answers are "answers", else "valid_answers", else "all_answers" (MMF's fallback for
///     old imdbs), a trailing "<copy>" dropped; scored by mmf_soft_labels;
///   - img_id is image_name (e.g. COCO_val2014_000000262148), else feature_path without ".npy",
///     else image_id; the feature store finds "262148"-keyed images under either spelling.
/// UserError naming the file and the record for a file that is not an object array of dicts,
/// a missing or mistyped field, or more than 10 answers.
VqaQuestions load_mmf_imdb(const std::string& path, const AnswerVocab& vocab);

/// MMF's simple_word preprocessing (mmf/utils/text.py word_tokenize): lower case, delete ','
/// and '?', "'s" -> " 's", strip outer whitespace. ASCII lower-casing (VQA answers are ASCII).
std::string mmf_simple_word(const std::string& text);

/// MMF's vqa_answer processor: each answer through mmf_simple_word, the list repeated up to 10
/// entries (_increase_to_ten), then for each distinct answer in `vocab` (never "<unk>") the
/// leave-one-out VQA accuracy: the mean over the 10 positions of min(1, matches among the
/// other 9 / 3), summed in position order in float64, then rounded to float32 as MMF's target
/// tensor holds it (the value returned is that float32, widened). HP_ASSERTs <= 10 answers.
std::map<std::string, double> mmf_soft_labels(const std::vector<std::string>& answers, const AnswerVocab& vocab);

/// What to do with a question whose image is not in the feature store (config data.on_missing).
enum class OnMissing { error, skip };

/// "error" or "skip": the config's spelling.
const char* on_missing_name(OnMissing on_missing);
/// The choice named `name`; UserError naming `where` otherwise.
OnMissing on_missing_from_string(const std::string& name, const std::string& where);

struct SampleOptions {
  SelectionSpec selection;
  std::string exclude_images;            ///< ImageExclusion file; empty for none
  OnMissing on_missing = OnMissing::error;
};

/// The samples of a run and what happened on the way; the counts go into the results file.
struct SampleList {
  std::vector<Sample> samples;
  std::vector<int64_t> file_index;   ///< index of each sample in VqaQuestions::samples
  int64_t available = 0;             ///< questions in the file
  int64_t excluded = 0;              ///< dropped: image in the exclusion list
  int64_t selected = 0;              ///< picked by the selection
  int64_t skipped_missing = 0;       ///< skipped: image not in the store (on_missing: skip)
  std::vector<std::string> skipped_question_ids;
};

/// Drops the questions whose image is in `excluded`; returns how many were dropped and logs it.
int64_t drop_excluded_images(std::vector<Sample>& samples, const ImageExclusion& excluded);

/// The run's samples, in three steps:
///   1. drop questions whose image is in options.exclude_images (logged with the count);
///   2. select (options.selection) among the remaining questions, in file order: with no
///      exclusion list, seed_shuffle picks exactly the seed's questions;
///   3. when `store` (a feature store or an image folder) is given, a selected question whose
///      image is not in it is a UserError naming the store, the question file, the question id
///      and the image id (ImageSource::missing_message, ::missing_remedy), or with
///      OnMissing::skip is skipped and counted (so the selection itself never shifts).
/// UserError for an empty selection or num_samples > available (data/selection.hpp).
SampleList make_sample_list(const VqaQuestions& questions, const SampleOptions& options, const ImageSource* store);

}  // namespace headprune::data
