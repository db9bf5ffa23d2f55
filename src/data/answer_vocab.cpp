#include "headprune/data/answer_vocab.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "headprune/common/error.hpp"
#include "headprune/common/sha256.hpp"
#include "json_file.hpp"

namespace headprune::data {

AnswerVocab AnswerVocab::load(const std::string& ans2label_path, const std::string& label2ans_path) {
  auto a2l = detail::read_json_file(ans2label_path, "an object {answer: index}");
  auto l2a = detail::read_json_file(label2ans_path, "a list of answers");
  if (!a2l.is_object()) throw UserError(ans2label_path + ": expected a JSON object {answer: index}");
  if (!l2a.is_array()) throw UserError(label2ans_path + ": expected a JSON list of answers");
  AnswerVocab vocab;
  vocab.label2ans_.reserve(l2a.size());
  for (size_t i = 0; i < l2a.size(); ++i) {
    if (!l2a[i].is_string())
      throw UserError(label2ans_path + ": entry " + std::to_string(i) + " is " + l2a[i].dump() + ", expected a string");
    vocab.label2ans_.push_back(l2a[i].get<std::string>());
  }
  if (a2l.size() != l2a.size())
    throw UserError(ans2label_path + ": has " + std::to_string(a2l.size()) + " answers but " + label2ans_path + " has " +
                    std::to_string(l2a.size()) + " (the two files must come from the same vocabulary)");
  for (auto it = a2l.begin(); it != a2l.end(); ++it) {
    if (!it.value().is_number_integer())
      throw UserError(ans2label_path + ": answer '" + it.key() + "' maps to " + it.value().dump() + ", expected an integer");
    int64_t idx = it.value().get<int64_t>();
    if (idx < 0 || idx >= vocab.size() || vocab.label2ans_[static_cast<size_t>(idx)] != it.key())
      throw UserError(ans2label_path + ": answer '" + it.key() + "' maps to " + std::to_string(idx) + " but " + label2ans_path +
                      " has " +
                      (idx < 0 || idx >= vocab.size() ? std::string("no such index")
                                                      : "'" + vocab.label2ans_[static_cast<size_t>(idx)] + "' there"));
    vocab.ans2label_.emplace(it.key(), idx);
  }
  // Equal sizes and label2ans[ans2label[a]] == a for every a make the mapping a bijection,
  // unless label2ans lists an answer twice.
  if (vocab.ans2label_.size() != vocab.label2ans_.size())
    throw UserError(label2ans_path + ": lists an answer more than once");
  vocab.source_ = label2ans_path;
  vocab.sha256_ = sha256_file(label2ans_path);
  return vocab;
}

AnswerVocab AnswerVocab::load_dir(const std::string& dir) {
  AnswerVocab vocab = load(dir + "/trainval_ans2label.json", dir + "/trainval_label2ans.json");
  vocab.source_ = dir;
  return vocab;
}

AnswerVocab AnswerVocab::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_dir(path);
  if (fs::is_regular_file(path, ec)) return load_lines(path);
  throw UserError(path + ": not found (expected an answer vocabulary: a folder with trainval_ans2label.json and "
                         "trainval_label2ans.json, or a file with one answer per line)");
}

AnswerVocab AnswerVocab::load_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open for reading (expected one answer per line)");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  // Python's readlines() + strip(): every line ending in '\n', plus a last one without it.
  auto is_ws = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string::npos ? text.size() : nl;
    size_t b = start, e = end;
    while (b < e && is_ws(text[b])) ++b;
    while (e > b && is_ws(text[e - 1])) --e;
    lines.push_back(text.substr(b, e - b));
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  if (lines.empty()) throw UserError(path + ": empty answer vocabulary (expected one answer per line)");
  if (!text.empty() && (text.front() == '{' || text.front() == '['))
    throw UserError(path + ": looks like JSON; give the folder holding trainval_ans2label.json and "
                           "trainval_label2ans.json, or a file with one answer per line");
  AnswerVocab vocab;
  // MMF's VocabDict puts "<unk>" first when the file does not list it.
  const bool has_unk = std::find(lines.begin(), lines.end(), "<unk>") != lines.end();
  const int64_t shift = has_unk ? 0 : 1;
  if (!has_unk) {
    vocab.label2ans_.push_back("<unk>");
    vocab.ans2label_.emplace("<unk>", 0);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    auto [it, inserted] = vocab.ans2label_.emplace(lines[i], static_cast<int64_t>(i) + shift);
    if (!inserted)
      throw UserError(path + ":" + std::to_string(i + 1) + ": answer '" + lines[i] +
                      "' is listed a second time (first on line " + std::to_string(it->second - shift + 1) + ")");
    vocab.label2ans_.push_back(lines[i]);
  }
  vocab.source_ = path;
  vocab.sha256_ = sha256_hex(text);
  return vocab;
}

AnswerVocab AnswerVocab::from_answers(std::vector<std::string> answers) {
  AnswerVocab vocab;
  vocab.label2ans_ = std::move(answers);
  for (size_t i = 0; i < vocab.label2ans_.size(); ++i) {
    bool inserted = vocab.ans2label_.emplace(vocab.label2ans_[i], static_cast<int64_t>(i)).second;
    HP_ASSERT(inserted, "duplicate answer '" + vocab.label2ans_[i] + "'");
  }
  std::string joined;
  for (const auto& a : vocab.label2ans_) joined += (joined.empty() ? "" : "\n") + a;
  vocab.sha256_ = sha256_hex(joined);
  return vocab;
}

int64_t AnswerVocab::index(const std::string& answer) const {
  auto it = ans2label_.find(answer);
  return it == ans2label_.end() ? -1 : it->second;
}

const std::string& AnswerVocab::answer(int64_t index) const {
  HP_ASSERT(index >= 0 && index < size(), "answer index out of range");
  return label2ans_[static_cast<size_t>(index)];
}

// ---------------------------------------------------------------------------------------------
// Normalisation: a line-by-line port of vqaEval.py (processPunctuation, processDigitArticle).
// ---------------------------------------------------------------------------------------------
namespace {

const std::array<char, 21> kPunct = {';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+',
                                     '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Python's str.split() whitespace, restricted to ASCII.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }

const std::unordered_map<std::string_view, std::string_view>& contractions() {
  static const std::unordered_map<std::string_view, std::string_view> table = {
      {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"}, {"couldnt", "couldn't"},
      {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"}, {"didnt", "didn't"}, {"doesnt", "doesn't"},
      {"dont", "don't"}, {"hadnt", "hadn't"}, {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"},
      {"hasnt", "hasn't"}, {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"},
      {"hes", "he's"}, {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"},
      // Capitalised keys never match after lower-casing; kept because the reference has them.
      {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"},
      {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"}, {"itll", "it'll"},
      {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"}, {"mightnt've", "mightn't've"},
      {"mightn'tve", "mightn't've"}, {"mightve", "might've"}, {"mustnt", "mustn't"}, {"mustve", "must've"},
      {"neednt", "needn't"}, {"notve", "not've"}, {"oclock", "o'clock"}, {"oughtnt", "oughtn't"},
      {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"}, {"shant", "shan't"},
      {"shed've", "she'd've"}, {"she'dve", "she'd've"}, {"she's", "she's"}, {"shouldve", "should've"},
      {"shouldnt", "shouldn't"}, {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"},
      {"somebody'd", "somebodyd"},  // sic: the reference table maps it this way round
      {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
      {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
      {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
      {"somethingd", "something'd"}, {"somethingd've", "something'd've"}, {"something'dve", "something'd've"},
      {"somethingll", "something'll"}, {"thats", "that's"}, {"thered", "there'd"}, {"thered've", "there'd've"},
      {"there'dve", "there'd've"}, {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"},
      {"theyd've", "they'd've"}, {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
      {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"}, {"we'dve", "we'd've"},
      {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"}, {"whatre", "what're"}, {"whats", "what's"},
      {"whatve", "what've"}, {"whens", "when's"}, {"whered", "where'd"}, {"wheres", "where's"},
      {"whereve", "where've"}, {"whod", "who'd"}, {"whod've", "who'd've"}, {"who'dve", "who'd've"},
      {"wholl", "who'll"}, {"whos", "who's"}, {"whove", "who've"}, {"whyll", "why'll"}, {"whyre", "why're"},
      {"whys", "why's"}, {"wont", "won't"}, {"wouldve", "would've"}, {"wouldnt", "wouldn't"},
      {"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"},
      {"y'allll", "y'all'll"}, {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"},
      {"y'all'dve", "y'all'd've"}, {"youd", "you'd"}, {"youd've", "you'd've"}, {"you'dve", "you'd've"},
      {"youll", "you'll"}, {"youre", "you're"}, {"youve", "you've"}};
  return table;
}

const std::unordered_map<std::string_view, std::string_view>& number_words() {
  static const std::unordered_map<std::string_view, std::string_view> table = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"},   {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"}};
  return table;
}

std::string replace_all(const std::string& s, char from, const std::string& to) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == from) out += to;
    else out += c;
  }
  return out;
}

std::string process_punctuation(const std::string& in) {
  // re.search("(\d)(\,)(\d)", inText): the same for every punctuation mark.
  bool comma_between_digits = false;
  for (size_t i = 1; i + 1 < in.size(); ++i)
    if (in[i] == ',' && is_digit(in[i - 1]) && is_digit(in[i + 1])) comma_between_digits = true;
  std::string out = in;
  for (char p : kPunct) {
    // The test looks at the original text, the replacement works on the running result.
    bool touches_space = in.find(std::string{p, ' '}) != std::string::npos ||
                         in.find(std::string{' ', p}) != std::string::npos;
    out = replace_all(out, p, touches_space || comma_between_digits ? "" : " ");
  }
  // periodStrip "(?!<=\d)(\.)(?!\d)" (the first group is a lookahead that always holds), count=32.
  std::string stripped;
  stripped.reserve(out.size());
  int removed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '.' && removed < 32 && !(i + 1 < out.size() && is_digit(out[i + 1]))) {
      ++removed;
      continue;
    }
    stripped += out[i];
  }
  return stripped;
}

std::string process_digit_article(const std::string& in) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (auto it = number_words().find(word); it != number_words().end()) word = std::string(it->second);
    if (word != "a" && word != "an" && word != "the") words.push_back(word);
    word.clear();
  };
  for (char c : in) {
    if (is_space(c)) {
      flush();
    } else {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  flush();
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += ' ';
    auto it = contractions().find(words[i]);
    out += it == contractions().end() ? words[i] : std::string(it->second);
  }
  return out;
}

}  // namespace

std::string normalize_answer(const std::string& answer) {
  std::string s = answer;
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\t', ' ');
  // Python's strip(): outer whitespace.
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  s = s.substr(b, e - b);
  s = process_digit_article(process_punctuation(s));
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return s;
}

double soft_score(int64_t count) {
  if (count <= 0) return 0.0;
  if (count == 1) return 0.3;
  if (count == 2) return 0.6;
  if (count == 3) return 0.9;
  return 1.0;
}

}  // namespace headprune::data
