#include "headprune/data/vqa_dataset.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <unordered_map>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "json_file.hpp"

namespace headprune::data {

using nlohmann::json;

std::vector<float> Sample::target(int64_t vocab_size) const {
  std::vector<float> t(static_cast<size_t>(vocab_size), 0.0f);
  for (const auto& [index, score] : label_ids) {
    HP_ASSERT(index >= 0 && index < vocab_size, "label index outside the vocabulary");
    t[static_cast<size_t>(index)] = score;
  }
  return t;
}

double Sample::score(const std::string& answer) const {
  auto it = label.find(answer);
  return it == label.end() ? 0.0 : it->second;
}

namespace {

// "<file>: question 17 (question_id 262148000)".
std::string record_where(const std::string& path, const char* what, size_t index, const json& record) {
  std::string s = path + ": " + what + " " + std::to_string(index);
  if (record.is_object() && record.contains("question_id"))
    s += " (question_id " + detail::json_scalar_text(record["question_id"]) + ")";
  return s;
}

const json& require(const json& record, const char* key, bool (json::*is_type)() const noexcept, const char* type,
                    const std::string& where) {
  if (!record.is_object()) throw UserError(where + ": expected a JSON object, found " + std::string(record.type_name()));
  auto it = record.find(key);
  if (it == record.end()) throw UserError(where + ": missing field '" + key + "' (expected " + type + ")");
  if (!((*it).*is_type)())
    throw UserError(where + ": field '" + key + "' is " + std::string(it->type_name()) + ", expected " + type);
  return *it;
}

std::string question_id_of(const json& record, const std::string& where) {
  if (!record.is_object()) throw UserError(where + ": expected a JSON object, found " + std::string(record.type_name()));
  auto it = record.find("question_id");
  if (it == record.end() || !(it->is_number_integer() || it->is_string()))
    throw UserError(where + ": missing field 'question_id' (expected an integer or a string)");
  return detail::json_scalar_text(*it);
}

std::string optional_string(const json& record, const char* key, const std::string& where) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) return {};
  if (!it->is_string())
    throw UserError(where + ": field '" + key + "' is " + std::string(it->type_name()) + ", expected a string");
  return it->get<std::string>();
}

void set_label(Sample& s, std::map<std::string, double> label, const AnswerVocab& vocab) {
  s.label.clear();
  s.label_ids.clear();
  for (auto& [answer, score] : label) {
    int64_t idx = vocab.index(answer);
    if (idx < 0) continue;  // outside the vocabulary: scores 0, as in the seed
    s.label_ids.emplace_back(idx, static_cast<float>(score));
    s.label.emplace(answer, score);
  }
}

}  // namespace

std::map<std::string, double> soft_labels(const std::vector<std::string>& answers, const AnswerVocab& vocab) {
  std::map<std::string, int64_t> counts;
  for (const auto& a : answers) ++counts[normalize_answer(a)];
  std::map<std::string, double> label;
  for (const auto& [answer, count] : counts)
    if (vocab.index(answer) >= 0) label.emplace(answer, soft_score(count));
  return label;
}

VqaQuestions load_lxmert_questions(const std::string& path, const AnswerVocab& vocab) {
  json root = detail::read_json_file(path, "LXMERT VQA questions: a list of {question_id, img_id, sent, label}");
  if (!root.is_array())
    throw UserError(path + ": expected a JSON list of questions (LXMERT format), found " + std::string(root.type_name()) +
                    (root.is_object() && root.contains("questions")
                         ? " (this looks like an official VQA questions file: give it with its annotations file)"
                         : ""));
  VqaQuestions out;
  out.source = path;
  out.samples.reserve(root.size());
  for (size_t i = 0; i < root.size(); ++i) {
    const json& rec = root[i];
    const std::string where = record_where(path, "question", i, rec);
    Sample s;
    s.question_id = question_id_of(rec, where);
    s.img_id = require(rec, "img_id", &json::is_string, "a string", where).get<std::string>();
    s.question = require(rec, "sent", &json::is_string, "a string", where).get<std::string>();
    s.answer_type = optional_string(rec, "answer_type", where);
    s.question_type = optional_string(rec, "question_type", where);
    if (auto it = rec.find("label"); it != rec.end() && !it->is_null()) {
      if (!it->is_object()) throw UserError(where + ": field 'label' is " + std::string(it->type_name()) + ", expected {answer: score}");
      std::map<std::string, double> label;
      for (auto a = it->begin(); a != it->end(); ++a) {
        if (!a.value().is_number())
          throw UserError(where + ": label '" + a.key() + "' has score " + a.value().dump() + ", expected a number");
        label.emplace(a.key(), a.value().get<double>());
      }
      set_label(s, std::move(label), vocab);
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

VqaQuestions load_vqa_v2_questions(const std::string& questions_path, const std::string& annotations_path,
                                   const AnswerVocab& vocab) {
  json qroot = detail::read_json_file(questions_path, "official VQA v2 questions: {\"questions\": [...]}");
  if (!qroot.is_object() || !qroot.contains("questions") || !qroot["questions"].is_array())
    throw UserError(questions_path + ": expected an object with a \"questions\" list (official VQA v2 questions file)");
  auto sub = qroot.find("data_subtype");
  if (sub == qroot.end() || !sub->is_string())
    throw UserError(questions_path +
                    ": missing \"data_subtype\" (e.g. \"val2014\"), needed to spell image ids as COCO_val2014_000000393225");
  const std::string subtype = sub->get<std::string>();

  // question_id -> annotation record.
  json aroot;
  std::unordered_map<std::string, const json*> annotations;
  if (!annotations_path.empty()) {
    aroot = detail::read_json_file(annotations_path, "official VQA v2 annotations: {\"annotations\": [...]}");
    if (!aroot.is_object() || !aroot.contains("annotations") || !aroot["annotations"].is_array())
      throw UserError(annotations_path + ": expected an object with an \"annotations\" list (official VQA v2 annotations file)");
    const json& list = aroot["annotations"];
    annotations.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = record_where(annotations_path, "annotation", i, list[i]);
      if (!annotations.emplace(question_id_of(list[i], where), &list[i]).second)
        throw UserError(where + ": a second annotation for this question_id");
    }
  }

  const json& questions = qroot["questions"];
  VqaQuestions out;
  out.source = annotations_path.empty() ? questions_path : questions_path + " + " + annotations_path;
  out.samples.reserve(questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    const json& rec = questions[i];
    const std::string where = record_where(questions_path, "question", i, rec);
    Sample s;
    s.question_id = question_id_of(rec, where);
    const json& image_id = require(rec, "image_id", &json::is_number_integer, "an integer", where);
    s.question = require(rec, "question", &json::is_string, "a string", where).get<std::string>();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(image_id.get<int64_t>()));
    s.img_id = "COCO_" + subtype + "_" + buf;
    if (!annotations_path.empty()) {
      auto it = annotations.find(s.question_id);
      if (it == annotations.end())
        throw UserError(annotations_path + ": no annotation for question_id " + s.question_id + " of " + questions_path +
                        " (are the two files from the same split?)");
      const json& ann = *it->second;
      const std::string awhere = annotations_path + ": annotation of question_id " + s.question_id;
      const json& ann_image = require(ann, "image_id", &json::is_number_integer, "an integer", awhere);
      if (ann_image != image_id)
        throw UserError(awhere + ": image_id " + ann_image.dump() + " but the question's is " + image_id.dump() +
                        " in " + questions_path);
      const json& answers = require(ann, "answers", &json::is_array, "a list of {answer}", awhere);
      std::vector<std::string> texts;
      for (size_t k = 0; k < answers.size(); ++k) {
        const std::string kwhere = awhere + ", answer " + std::to_string(k);
        texts.push_back(require(answers[k], "answer", &json::is_string, "a string", kwhere).get<std::string>());
      }
      s.answer_type = optional_string(ann, "answer_type", awhere);
      s.question_type = optional_string(ann, "question_type", awhere);
      set_label(s, soft_labels(texts, vocab), vocab);
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

OnMissing on_missing_from_string(const std::string& name, const std::string& where) {
  if (name == "error") return OnMissing::error;
  if (name == "skip") return OnMissing::skip;
  throw UserError(where + ": unknown on_missing '" + name + "' (expected error or skip)");
}

int64_t drop_excluded_images(std::vector<Sample>& samples, const ImageExclusion& excluded) {
  const size_t before = samples.size();
  std::vector<Sample> kept;
  kept.reserve(samples.size());
  for (auto& s : samples)
    if (!excluded.contains(s.img_id)) kept.push_back(std::move(s));
  samples = std::move(kept);
  auto dropped = static_cast<int64_t>(before - samples.size());
  spdlog::info("data: dropped {} of {} questions whose images are in {} ({} image ids)", dropped, before,
               excluded.source(), excluded.size());
  return dropped;
}

SampleList make_sample_list(const VqaQuestions& questions, const SampleOptions& options, const FeatureStore* store) {
  SampleList out;
  out.available = static_cast<int64_t>(questions.samples.size());
  // 1. Exclusion, keeping each question's index in the file.
  std::vector<int64_t> candidates;
  candidates.reserve(questions.samples.size());
  if (!options.exclude_images.empty()) {
    auto excluded = ImageExclusion::load(options.exclude_images);
    for (size_t i = 0; i < questions.samples.size(); ++i)
      if (!excluded.contains(questions.samples[i].img_id)) candidates.push_back(static_cast<int64_t>(i));
    out.excluded = out.available - static_cast<int64_t>(candidates.size());
    spdlog::info("data: dropped {} of {} questions whose images are in {} ({} image ids)", out.excluded, out.available,
                 excluded.source(), excluded.size());
  } else {
    for (size_t i = 0; i < questions.samples.size(); ++i) candidates.push_back(static_cast<int64_t>(i));
  }
  // 2. Selection among the remaining questions.
  auto picked = select_indices(options.selection, static_cast<int64_t>(candidates.size()), questions.source);
  out.selected = static_cast<int64_t>(picked.size());
  // 3. Images in the store.
  out.samples.reserve(picked.size());
  out.file_index.reserve(picked.size());
  for (int64_t p : picked) {
    int64_t index = candidates[static_cast<size_t>(p)];
    const Sample& s = questions.samples[static_cast<size_t>(index)];
    if (store && !store->contains(s.img_id)) {
      if (options.on_missing == OnMissing::error)
        throw UserError(store->path() + ": no features for image " + s.img_id + " of question_id " + s.question_id +
                        " in " + questions.source + " (import that image's features, or set data.on_missing: skip)");
      ++out.skipped_missing;
      out.skipped_question_ids.push_back(s.question_id);
      continue;
    }
    out.samples.push_back(s);
    out.file_index.push_back(index);
  }
  if (out.skipped_missing > 0)
    spdlog::warn("data: skipped {} of {} selected questions whose images are not in {} (data.on_missing: skip)",
                 out.skipped_missing, out.selected, store->path());
  if (out.samples.empty())
    throw UserError(questions.source + ": empty selection: all " + std::to_string(out.selected) +
                    " selected questions were skipped because their images are not in " + store->path());
  return out;
}

}  // namespace headprune::data
