// VQA answers: the 3129-answer vocabulary of the LXMERT and VisualBERT VQA heads, the official
// VQA answer normalisation, and the soft score of an answer given by `count` of the 10 annotators.
//
// Two forms, both shipped in data/vqa/ (README there: which model uses which):
//   a folder   LXMERT's trainval_ans2label.json ({answer: index}) + trainval_label2ans.json
//              ([answer, ...]); a model's logit i is the score of label2ans[i];
//   a file     MMF's answers_vqa.txt: one answer a line, logit i = line i (0-based). Read as
//              MMF's VocabDict reads it: each line stripped of outer whitespace, and when no
//              line is "<unk>", "<unk>" is put first (so every index moves by one).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace headprune::data {

class AnswerVocab {
 public:
  /// Reads both files and checks they agree (same size, label2ans[ans2label[a]] == a, indices
  /// 0..n-1 once each). Throws UserError naming the file and the first offending entry.
  static AnswerVocab load(const std::string& ans2label_path, const std::string& label2ans_path);

  /// load(dir + "/trainval_ans2label.json", dir + "/trainval_label2ans.json"), e.g. data/vqa.
  static AnswerVocab load_dir(const std::string& dir);

  /// A folder (load_dir) or a one-answer-per-line file (load_lines). UserError when `path`
  /// does not exist.
  static AnswerVocab load(const std::string& path);

  /// MMF's answer file (see above). UserError naming the file and line for an answer listed
  /// twice, and for an empty file.
  static AnswerVocab load_lines(const std::string& path);

  /// From an ordered list of answers (tests; label i = answers[i]). HP_ASSERTs no duplicates.
  static AnswerVocab from_answers(std::vector<std::string> answers);

  int64_t size() const { return static_cast<int64_t>(label2ans_.size()); }
  /// Index of `answer`, or -1 when it is not in the vocabulary.
  int64_t index(const std::string& answer) const;
  /// Answer of label `index`; HP_ASSERTs 0 <= index < size().
  const std::string& answer(int64_t index) const;
  const std::vector<std::string>& answers() const { return label2ans_; }

  /// The file(s) it was read from, for messages ("data/vqa", "data/vqa/mmf_answers_vqa.txt");
  /// empty for from_answers().
  const std::string& source() const { return source_; }
  /// sha256 (hex) of the file that fixes the order: the one-answer-per-line file itself, or a
  /// folder's trainval_label2ans.json; of the answers joined by '\n' for from_answers().
  const std::string& sha256() const { return sha256_; }

 private:
  std::vector<std::string> label2ans_;
  std::string source_, sha256_;
  std::unordered_map<std::string, int64_t> ans2label_;
};

/// The official VQA evaluation's answer normalisation (vqaEval.py processPunctuation and
/// processDigitArticle, as applied by compute_softscore.py in bottom-up-attention-vqa, which
/// LXMERT's and MMF's labels come from):
///   1. newlines and tabs become spaces, outer whitespace is stripped;
///   2. each of ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! is deleted when the answer contains it
///      next to a space or contains a digit-comma-digit anywhere, else replaced by a space;
///   3. a '.' not followed by a digit is deleted (at most 32 of them: the reference passes
///      re.UNICODE as sub()'s count);
///   4. lower case, split on whitespace; number words none/zero..ten become digits ("two" -> "2",
///      "none" -> "0"); the articles a, an, the are dropped; contractions are restored from the
///      reference table ("dont" -> "don't", "youre" -> "you're");
///   5. words joined by one space; remaining ',' removed.
/// ASCII only: lower-casing, digits and whitespace are the ASCII ones (VQA answers are ASCII).
std::string normalize_answer(const std::string& answer);

/// Soft score of an answer given by `count` annotators: LXMERT's / bottom-up-attention's table
/// {0: 0, 1: 0.3, 2: 0.6, 3: 0.9, >=4: 1.0}. The table, not min(1, 0.3 * count), is used on
/// purpose: 0.3 * 3 is 0.8999999999999999 in float64, the table gives exactly 0.9 as the seed's
/// JSON files hold.
double soft_score(int64_t count);

}  // namespace headprune::data
