#include "headprune/data/vqa_dataset.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <unordered_map>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/pickle.hpp"
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

namespace {

Sample lxmert_sample(const json& rec, const std::string& path, size_t index, const AnswerVocab& vocab) {
  const std::string where = record_where(path, "question", index, rec);
  Sample s;
  s.question_id = question_id_of(rec, where);
  s.img_id = require(rec, "img_id", &json::is_string, "a string", where).get<std::string>();
  s.question = require(rec, "sent", &json::is_string, "a string", where).get<std::string>();
  s.answer_type = optional_string(rec, "answer_type", where);
  s.question_type = optional_string(rec, "question_type", where);
  if (auto it = rec.find("label"); it != rec.end() && !it->is_null()) {
    if (!it->is_object())
      throw UserError(where + ": field 'label' is " + std::string(it->type_name()) + ", expected {answer: score}");
    std::map<std::string, double> label;
    for (auto a = it->begin(); a != it->end(); ++a) {
      if (!a.value().is_number())
        throw UserError(where + ": label '" + a.key() + "' has score " + a.value().dump() + ", expected a number");
      // A VQA soft score: min(1, n/3) averaged over the 10 leave-one-out subsets of the 10
      // annotators is 0, 0.3, 0.6, 0.9 or 1. The job sums accuracies exactly as int64 tenths.
      const double score = a.value().get<double>(), tenths = score * 10.0;
      if (!(score >= 0 && score <= 1 && std::abs(tenths - std::nearbyint(tenths)) < 1e-6))
        throw UserError(where + ": label '" + a.key() + "' has score " + a.value().dump() +
                        ", expected a VQA soft score (a multiple of 0.1 in [0, 1])");
      label.emplace(a.key(), score);
    }
    set_label(s, std::move(label), vocab);
  }
  return s;
}

// What the questions need from one official annotation, converted as it is parsed.
struct Annotation {
  int64_t image_id = 0;
  std::map<std::string, double> label;
  std::string answer_type, question_type;
};

Annotation official_annotation(const json& ann, const std::string& awhere, const AnswerVocab& vocab) {
  Annotation a;
  a.image_id = require(ann, "image_id", &json::is_number_integer, "an integer", awhere).get<int64_t>();
  const json& answers = require(ann, "answers", &json::is_array, "a list of {answer}", awhere);
  std::vector<std::string> texts;
  texts.reserve(answers.size());
  for (size_t k = 0; k < answers.size(); ++k) {
    const std::string kwhere = awhere + ", answer " + std::to_string(k);
    texts.push_back(require(answers[k], "answer", &json::is_string, "a string", kwhere).get<std::string>());
  }
  a.label = soft_labels(texts, vocab);
  a.answer_type = optional_string(ann, "answer_type", awhere);
  a.question_type = optional_string(ann, "question_type", awhere);
  return a;
}

// Parser callback state for "a list under key `list_key` of the root object": calls `on_record`
// with each element as it completes and discards it, so the DOM never holds the list.
// `list_key` empty: the root itself is the list (LXMERT's files).
class RecordStream {
 public:
  RecordStream(std::string list_key, std::function<void(const json&, size_t)> on_record)
      : list_key_(std::move(list_key)), on_record_(std::move(on_record)) {}

  json::parser_callback_t callback() {
    return [this](int depth, json::parse_event_t event, json& parsed) {
      const int record_depth = list_key_.empty() ? 1 : 2;
      if (depth == 0 && event == json::parse_event_t::array_start) root_is_array_ = true;
      if (depth == 1 && event == json::parse_event_t::key) key_ = parsed.get<std::string>();
      if (depth == 1 && event == json::parse_event_t::array_start && !list_key_.empty() && key_ == list_key_)
        in_list_ = true;
      if (depth == 1 && event == json::parse_event_t::array_end) in_list_ = false;
      const bool in_records = list_key_.empty() ? root_is_array_ : in_list_;
      if (in_records && depth == record_depth &&
          (event == json::parse_event_t::object_end || event == json::parse_event_t::array_end ||
           event == json::parse_event_t::value)) {
        on_record_(parsed, count_++);
        return false;  // converted: drop it from the DOM
      }
      return true;
    };
  }
  size_t count() const { return count_; }

 private:
  std::string list_key_;
  std::function<void(const json&, size_t)> on_record_;
  std::string key_;
  bool root_is_array_ = false;
  bool in_list_ = false;
  size_t count_ = 0;
};

}  // namespace

VqaQuestions load_lxmert_questions(const std::string& path, const AnswerVocab& vocab) {
  VqaQuestions out;
  out.source = path;
  // question_id -> index of its question: results are keyed by question id, so a repeated id
  // would make two samples indistinguishable (the official-format loader refuses it too).
  std::unordered_map<std::string, size_t> seen;
  RecordStream stream("", [&](const json& rec, size_t index) {
    out.samples.push_back(lxmert_sample(rec, path, index, vocab));
    auto [it, fresh] = seen.emplace(out.samples.back().question_id, index);
    if (!fresh)
      throw UserError(record_where(path, "question", index, rec) + ": the same question_id as question " +
                      std::to_string(it->second) + " (question ids must be unique)");
  });
  json root = detail::read_json_file(path, "LXMERT VQA questions: a list of {question_id, img_id, sent, label}",
                                     stream.callback());
  if (!root.is_array())
    throw UserError(path + ": expected a JSON list of questions (LXMERT format), found " + std::string(root.type_name()) +
                    (root.is_object() && root.contains("questions")
                         ? " (this looks like an official VQA questions file: give it with its annotations file)"
                         : ""));
  return out;
}

VqaQuestions load_vqa_v2_questions(const std::string& questions_path, const std::string& annotations_path,
                                   const AnswerVocab& vocab) {
  // question_id -> annotation, converted while the annotations file is parsed.
  std::unordered_map<std::string, Annotation> annotations;
  if (!annotations_path.empty()) {
    RecordStream stream("annotations", [&](const json& ann, size_t index) {
      const std::string where = record_where(annotations_path, "annotation", index, ann);
      std::string qid = question_id_of(ann, where);
      const std::string awhere = annotations_path + ": annotation of question_id " + qid;
      if (!annotations.emplace(qid, official_annotation(ann, awhere, vocab)).second)
        throw UserError(where + ": a second annotation for this question_id");
    });
    json aroot = detail::read_json_file(annotations_path, "official VQA v2 annotations: {\"annotations\": [...]}",
                                        stream.callback());
    if (!aroot.is_object() || !aroot.contains("annotations") || !aroot["annotations"].is_array())
      throw UserError(annotations_path + ": expected an object with an \"annotations\" list (official VQA v2 annotations file)");
  }

  VqaQuestions out;
  out.source = annotations_path.empty() ? questions_path : questions_path + " + " + annotations_path;
  std::vector<int64_t> image_ids;
  RecordStream stream("questions", [&](const json& rec, size_t index) {
    const std::string where = record_where(questions_path, "question", index, rec);
    Sample s;
    s.question_id = question_id_of(rec, where);
    image_ids.push_back(require(rec, "image_id", &json::is_number_integer, "an integer", where).get<int64_t>());
    s.question = require(rec, "question", &json::is_string, "a string", where).get<std::string>();
    out.samples.push_back(std::move(s));
  });
  json qroot = detail::read_json_file(questions_path, "official VQA v2 questions: {\"questions\": [...]}",
                                      stream.callback());
  if (!qroot.is_object() || !qroot.contains("questions") || !qroot["questions"].is_array())
    throw UserError(questions_path + ": expected an object with a \"questions\" list (official VQA v2 questions file)");
  auto sub = qroot.find("data_subtype");
  if (sub == qroot.end() || !sub->is_string())
    throw UserError(questions_path +
                    ": missing \"data_subtype\" (e.g. \"val2014\"), needed to spell image ids as COCO_val2014_000000393225");
  const std::string subtype = sub->get<std::string>();

  for (size_t i = 0; i < out.samples.size(); ++i) {
    Sample& s = out.samples[i];
    char buf[64];
    std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(image_ids[i]));
    s.img_id = "COCO_" + subtype + "_" + buf;
    if (annotations_path.empty()) continue;
    auto it = annotations.find(s.question_id);
    if (it == annotations.end())
      throw UserError(annotations_path + ": no annotation for question_id " + s.question_id + " of " + questions_path +
                      " (are the two files from the same split?)");
    Annotation& a = it->second;
    if (a.image_id != image_ids[i])
      throw UserError(annotations_path + ": annotation of question_id " + s.question_id + ": image_id " +
                      std::to_string(a.image_id) + " but the question's is " + std::to_string(image_ids[i]) + " in " +
                      questions_path);
    s.answer_type = std::move(a.answer_type);
    s.question_type = std::move(a.question_type);
    set_label(s, std::move(a.label), vocab);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// MMF's imdb
// ---------------------------------------------------------------------------------------------
std::string mmf_simple_word(const std::string& text) {
  std::string s;
  s.reserve(text.size() + 4);
  for (char c : text) {
    if (c == ',' || c == '?') continue;  // lower() first does not change ',' and '?'
    s += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string out;
  out.reserve(s.size() + 4);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == 's') {
      out += " 's";
      ++i;
    } else {
      out += s[i];
    }
  }
  // Python's str.strip(), ASCII whitespace.
  auto ws = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
  size_t b = 0, e = out.size();
  while (b < e && ws(out[b])) ++b;
  while (e > b && ws(out[e - 1])) --e;
  return out.substr(b, e - b);
}

std::map<std::string, double> mmf_soft_labels(const std::vector<std::string>& answers, const AnswerVocab& vocab) {
  constexpr size_t kTen = 10;  // VQAAnswerProcessor.DEFAULT_NUM_ANSWERS
  HP_ASSERT(answers.size() <= kTen, "more than 10 answers");
  std::map<std::string, double> label;
  if (answers.empty()) return label;
  std::vector<std::string> tokens;
  for (const auto& a : answers) tokens.push_back(mmf_simple_word(a));
  while (tokens.size() < kTen) {  // tokens += tokens[:10 - len(tokens)]
    const size_t take = std::min(tokens.size(), kTen - tokens.size());
    for (size_t i = 0; i < take; ++i) tokens.push_back(tokens[i]);
  }
  for (const auto& answer : tokens) {
    if (label.count(answer) || answer == "<unk>" || vocab.index(answer) < 0) continue;  // UNK is never scored
    double sum = 0;
    for (size_t pos = 0; pos < kTen; ++pos) {
      int64_t matches = 0;
      for (size_t other = 0; other < kTen; ++other)
        if (other != pos && tokens[other] == answer) ++matches;
      sum += std::min(1.0, static_cast<double>(matches) / 3);
    }
    label.emplace(answer, static_cast<double>(static_cast<float>(sum / kTen)));
  }
  return label;
}

namespace {

std::string mmf_where(const std::string& path, size_t index, const PickleValue& rec) {
  std::string s = path + ": record " + std::to_string(index);
  if (const PickleValue* q = rec.get("question_id"); q && (q->kind == PickleValue::Kind::integer || q->is_string()))
    s += " (question_id " + (q->is_string() ? q->text : std::to_string(q->integer)) + ")";
  return s;
}

const PickleValue* mmf_field(const PickleValue& rec, const char* key, const std::string& where, bool required) {
  const PickleValue* v = rec.get(key);
  if (!v && required) throw UserError(where + ": missing field '" + key + "'");
  return v;
}

std::string mmf_string(const PickleValue* v, const char* key, const std::string& where) {
  if (!v->is_string()) throw UserError(where + ": field '" + key + "' is " + v->describe() + ", expected a str");
  return v->text;
}

std::string mmf_id(const PickleValue* v, const char* key, const std::string& where) {
  if (v->kind == PickleValue::Kind::integer) return std::to_string(v->integer);
  if (v->is_string() && !v->text.empty()) return v->text;
  throw UserError(where + ": field '" + key + "' is " + v->describe() + ", expected an int or a str");
}

}  // namespace

VqaQuestions load_mmf_imdb(const std::string& path, const AnswerVocab& vocab) {
  auto doc = load_npy(path);
  const PickleValue& root = doc->root();
  if (root.kind != PickleValue::Kind::array || root.array.kind != 'O' || root.array.shape.size() != 1)
    throw UserError(path + ": holds " + root.describe() +
                    ", expected a 1-d object array of question dicts (an MMF imdb_<split>.npy)");
  const auto& records = root.array.objects;
  if (records.empty()) throw UserError(path + ": no questions (empty imdb)");
  // AnnotationDatabase: "Handle old imdb support": a first element without image_id is a header.
  const PickleValue* first = records.front();
  const size_t start = first->kind == PickleValue::Kind::dict && !first->get("image_id") ? 1 : 0;
  VqaQuestions out;
  out.source = path;
  out.samples.reserve(records.size() - start);
  for (size_t i = start; i < records.size(); ++i) {
    const PickleValue& rec = *records[i];
    if (rec.kind != PickleValue::Kind::dict)
      throw UserError(path + ": record " + std::to_string(i) + " is " + rec.describe() + ", expected a dict");
    const std::string where = mmf_where(path, i, rec);
    Sample s;
    s.question_id = mmf_id(mmf_field(rec, "question_id", where, true), "question_id", where);
    if (const PickleValue* name = rec.get("image_name"); name && !name->is_none()) {
      s.img_id = mmf_string(name, "image_name", where);
    } else if (const PickleValue* fp = rec.get("feature_path"); fp && !fp->is_none()) {
      std::string f = mmf_string(fp, "feature_path", where);
      s.img_id = f.substr(0, f.find(".npy"));  // MMF: split(".npy")[0]
    } else {
      s.img_id = mmf_id(mmf_field(rec, "image_id", where, true), "image_id", where);
    }
    if (s.img_id.empty()) throw UserError(where + ": empty image name");
    // The text MMF's vqa2 dataset hands its text processor.
    s.question = rec.get("question_tokens") ? mmf_string(mmf_field(rec, "question_str", where, true), "question_str", where)
                                            : mmf_string(mmf_field(rec, "question", where, true), "question", where);
    for (const char* key : {"answer_type", "question_type"})
      if (const PickleValue* v = rec.get(key); v && v->is_string()) (key[0] == 'a' ? s.answer_type : s.question_type) = v->text;
    // AnnotationDatabase.__getitem__'s fallbacks for older imdbs.
    const char* answers_key = rec.get("answers") ? "answers" : rec.get("valid_answers") ? "valid_answers"
                                                             : rec.get("all_answers")   ? "all_answers"
                                                                                        : nullptr;
    if (!answers_key) {  // test split: no answers
      out.samples.push_back(std::move(s));
      continue;
    }
    const PickleValue* answers = rec.get(answers_key);
    std::vector<std::string> texts;
    if (answers->kind == PickleValue::Kind::array && answers->array.kind == 'O') {
      for (const auto* a : answers->array.objects) texts.push_back(mmf_string(a, answers_key, where));
    } else if (answers->is_sequence()) {
      for (const auto* a : answers->items) texts.push_back(mmf_string(a, answers_key, where));
    } else {
      throw UserError(where + ": field '" + answers_key + "' is " + answers->describe() + ", expected a list of str");
    }
    if (!texts.empty() && texts.back() == "<copy>") texts.pop_back();
    if (texts.size() > 10)
      throw UserError(where + ": field '" + answers_key + "' has " + std::to_string(texts.size()) +
                      " answers (MMF's vqa_answer processor takes at most 10)");
    set_label(s, mmf_soft_labels(texts, vocab), vocab);
    out.samples.push_back(std::move(s));
  }
  if (out.samples.empty()) throw UserError(path + ": no questions (only a header record)");
  return out;
}

const char* question_format_name(QuestionFormat format) {
  switch (format) {
    case QuestionFormat::lxmert_json: return "lxmert_json";
    case QuestionFormat::vqa_official: return "vqa_official";
    case QuestionFormat::mmf_imdb: return "mmf_imdb";
  }
  return "?";
}

QuestionFormat question_format_from_string(const std::string& name, const std::string& where) {
  for (QuestionFormat f : {QuestionFormat::lxmert_json, QuestionFormat::vqa_official, QuestionFormat::mmf_imdb})
    if (name == question_format_name(f)) return f;
  throw UserError(where + ": unknown format '" + name + "' (expected lxmert_json, vqa_official or mmf_imdb)");
}

VqaQuestions load_questions(QuestionFormat format, const std::string& questions, const std::string& annotations,
                            const AnswerVocab& vocab) {
  switch (format) {
    case QuestionFormat::lxmert_json: return load_lxmert_questions(questions, vocab);
    case QuestionFormat::vqa_official: return load_vqa_v2_questions(questions, annotations, vocab);
    case QuestionFormat::mmf_imdb: return load_mmf_imdb(questions, vocab);
  }
  HP_ASSERT(false, "unknown question format");
  return {};
}

const char* on_missing_name(OnMissing on_missing) { return on_missing == OnMissing::skip ? "skip" : "error"; }

OnMissing on_missing_from_string(const std::string& name, const std::string& where) {
  for (OnMissing m : {OnMissing::error, OnMissing::skip})
    if (name == on_missing_name(m)) return m;
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

namespace {

// Positions in `candidates` of the question ids listed in `list_file`, in the file's order.
std::vector<int64_t> select_listed(const VqaQuestions& questions, const std::vector<int64_t>& candidates,
                                   const std::string& list_file) {
  const auto listed = read_selection_file(list_file);
  std::unordered_map<std::string, int64_t> file_index, position;
  for (size_t i = 0; i < questions.samples.size(); ++i) file_index.emplace(questions.samples[i].question_id, static_cast<int64_t>(i));
  for (size_t p = 0; p < candidates.size(); ++p)
    position.emplace(questions.samples[static_cast<size_t>(candidates[p])].question_id, static_cast<int64_t>(p));
  std::vector<int64_t> picked;
  picked.reserve(listed.size());
  for (const auto& id : listed) {
    const std::string where = list_file + ":" + std::to_string(id.line) + ": question id " + id.question_id;
    if (!file_index.count(id.question_id)) throw UserError(where + " is not in " + questions.source);
    auto it = position.find(id.question_id);
    if (it == position.end())
      throw UserError(where + ": its image " + questions.samples[static_cast<size_t>(file_index[id.question_id])].img_id +
                      " is in data.exclude_images");
    picked.push_back(it->second);
  }
  return picked;
}

}  // namespace

SampleList make_sample_list(const VqaQuestions& questions, const SampleOptions& options, const ImageSource* store) {
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
  std::vector<int64_t> picked;
  if (options.selection.mode == Selection::list) {
    picked = select_listed(questions, candidates, options.selection.list_file);
  } else {
    picked = select_indices(options.selection, static_cast<int64_t>(candidates.size()), questions.source);
  }
  out.selected = static_cast<int64_t>(picked.size());
  // 3. Images in the store.
  out.samples.reserve(picked.size());
  out.file_index.reserve(picked.size());
  for (int64_t p : picked) {
    int64_t index = candidates[static_cast<size_t>(p)];
    const Sample& s = questions.samples[static_cast<size_t>(index)];
    if (store && !store->contains(s.img_id)) {
      if (options.on_missing == OnMissing::error)
        throw UserError(store->missing_message(s.img_id) + " of question_id " + s.question_id + " in " +
                        questions.source + " (" + store->missing_remedy() + ", or set data.on_missing: skip)");
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
