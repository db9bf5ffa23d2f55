// BERT WordPiece tokenizer, a port of the seed's `lxrt/tokenization.py`
// BertTokenizer(vocab.txt, do_lower_case=True) (BasicTokenizer + WordpieceTokenizer).
//
// BasicTokenizer: drop NUL, U+FFFD and category C* (except \t \n \r); map whitespace to ' ';
// pad CJK ideographs with spaces; split on whitespace; for each word not in never_split
// ([UNK] [SEP] [PAD] [CLS] [MASK]): Python-style full lowercase, NFD, drop category Mn, then
// split on punctuation. WordpieceTokenizer: greedy longest match with '##' continuations; a word
// longer than 100 code points or with an unmatchable remainder becomes one [UNK].
//
// Input is UTF-8; invalid sequences are read as U+FFFD (and therefore dropped). Unicode tables
// come from ICU, so characters whose properties changed between Python's Unicode version and
// ICU's may differ (none in the reference fixture).
//
// Torch-free. Thread-safe for concurrent const use.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace headprune::data {

/// [CLS] tokens [SEP] with their vocabulary ids.
struct Encoding {
  std::vector<std::string> tokens;
  std::vector<int64_t> ids;
};

class WordPieceTokenizer {
 public:
  /// Loads vocab.txt (one token per line, id = line index; each line is stripped of
  /// surrounding whitespace like Python's str.strip()). Throws headprune::UserError
  /// ("<path>: ...") for a missing/unreadable/empty file or a vocab without
  /// [UNK]/[CLS]/[SEP]/[PAD].
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool lower_case = true);

  /// Builds a tokenizer from an in-memory vocabulary (id = index). `origin` names it in errors.
  static WordPieceTokenizer from_tokens(std::vector<std::string> vocab, bool lower_case = true,
                                        const std::string& origin = "<vocab>");

  /// BasicTokenizer only: cleaned, lowercased, accent-stripped, punctuation-split words.
  std::vector<std::string> basic_tokenize(const std::string& text) const;
  /// BasicTokenizer + WordPiece.
  std::vector<std::string> tokenize(const std::string& text) const;
  /// Vocabulary ids; a token not in the vocabulary maps to the [UNK] id.
  std::vector<int64_t> to_ids(const std::vector<std::string>& tokens) const;
  /// [CLS] tokens [SEP], truncating the word pieces so the total is <= max_length.
  /// Throws UserError when max_length < 2.
  Encoding encode(const std::string& text, int64_t max_length) const;

  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }
  /// Where the vocabulary came from (the vocab.txt path, or from_tokens' `origin`), for messages.
  const std::string& origin() const { return origin_; }
  /// Id of `token`, -1 if absent (a token listed twice maps to its last line, as in Python).
  int64_t id_of(const std::string& token) const;
  /// Token at `id`; throws UserError when out of range.
  const std::string& token_of(int64_t id) const;

  int64_t pad_id() const { return pad_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t unk_id() const { return unk_id_; }
  bool lower_case() const { return lower_case_; }

  /// Words that BasicTokenizer passes through untouched (exact match).
  static const std::vector<std::string>& never_split();
  /// Words longer than this (in code points) become [UNK].
  static constexpr int64_t max_input_chars_per_word = 100;

 private:
  WordPieceTokenizer() = default;
  void wordpiece(const std::string& word, std::vector<std::string>* out) const;

  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int64_t> token_to_id_;
  bool lower_case_ = true;
  std::string origin_;
  int64_t pad_id_ = -1;
  int64_t cls_id_ = -1;
  int64_t sep_id_ = -1;
  int64_t unk_id_ = -1;
};

}  // namespace headprune::data
