// BERT WordPiece tokenizer: a port of the seed's lxrt/tokenization.py BertTokenizer.
// See include/headprune/data/tokenizer.hpp and tests/data/tokenizer/README.md.
#include "headprune/data/tokenizer.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "headprune/common/error.hpp"

namespace headprune::data {
namespace {

using CodePoints = std::vector<UChar32>;

/// Decodes UTF-8; every invalid or truncated sequence becomes U+FFFD.
CodePoints decode_utf8(const std::string& s) {
  CodePoints out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  // ICU's UTF-8 macros are type-generic: 64-bit indices avoid the int32_t length limit.
  const int64_t len = static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT_OR_FFFD(p, i, len, c);
    out.push_back(c);
  }
  return out;
}

void append_utf8(UChar32 c, std::string* out) {
  uint8_t buf[U8_MAX_LENGTH];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(buf, n, U8_MAX_LENGTH, c, error);
  if (error) {  // not a scalar value (cannot happen for decoded input): write U+FFFD
    n = 0;
    U8_APPEND_UNSAFE(buf, n, 0xFFFD);
  }
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string encode_utf8(CodePoints::const_iterator begin, CodePoints::const_iterator end) {
  std::string out;
  out.reserve(static_cast<size_t>(end - begin));
  for (auto it = begin; it != end; ++it) append_utf8(*it, &out);
  return out;
}

/// Python's str.isspace() (split()/strip() separators): bidi WS/B/S or category Zs.
bool is_python_space(UChar32 c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (c == 0x85 || c == 0xA0 || c == 0x1680) return true;
  if (c >= 0x2000 && c <= 0x200A) return true;
  return c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// tokenization.py _is_whitespace.
bool is_whitespace(UChar32 c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return u_charType(c) == U_SPACE_SEPARATOR;
}

/// tokenization.py _is_control: category C* except \t \n \r.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return (U_GET_GC_MASK(c) & U_GC_C_MASK) != 0;
}

/// tokenization.py _is_punctuation: the ASCII non-alphanumeric symbols or category P*.
bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return (U_GET_GC_MASK(c) & U_GC_P_MASK) != 0;
}

/// tokenization.py _is_chinese_char: the CJK Unified/Compatibility Ideograph blocks.
bool is_chinese_char(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool in_never_split(const std::string& word) {
  const auto& ns = WordPieceTokenizer::never_split();
  return std::find(ns.begin(), ns.end(), word) != ns.end();
}

/// Python-style str.split() on code points.
std::vector<CodePoints> split_python_space(const CodePoints& text) {
  std::vector<CodePoints> out;
  CodePoints cur;
  for (UChar32 c : text) {
    if (is_python_space(c)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

/// token.lower() (locale-independent full case mapping, Final_Sigma in context), then NFD
/// and dropping category Mn (tokenization.py _run_strip_accents).
CodePoints lower_and_strip_accents(const CodePoints& word) {
  icu::UnicodeString u;
  for (UChar32 c : word) u.append(c);
  u.toLower(icu::Locale::getRoot());
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status) || nfd == nullptr)
    throw RuntimeFailure(std::string("ICU: cannot load the NFD normalizer: ") + u_errorName(status));
  icu::UnicodeString d = nfd->normalize(u, status);
  if (U_FAILURE(status)) throw RuntimeFailure(std::string("ICU: NFD failed: ") + u_errorName(status));
  CodePoints out;
  out.reserve(static_cast<size_t>(d.length()));
  for (int32_t i = 0; i < d.length();) {
    UChar32 c = d.char32At(i);
    i += U16_LENGTH(c);
    if (u_charType(c) == U_NON_SPACING_MARK) continue;
    out.push_back(c);
  }
  return out;
}

/// Python str.strip() on a UTF-8 string.
std::string strip_python_space(const std::string& s) {
  CodePoints cps = decode_utf8(s);
  auto b = cps.begin();
  auto e = cps.end();
  while (b != e && is_python_space(*b)) ++b;
  while (e != b && is_python_space(*(e - 1))) --e;
  if (b == cps.begin() && e == cps.end()) return s;
  return encode_utf8(b, e);
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const int64_t len = static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (c < 0) return false;
  }
  return true;
}

}  // namespace

const std::vector<std::string>& WordPieceTokenizer::never_split() {
  static const std::vector<std::string> words = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
  return words;
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool lower_case) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open the vocabulary file (expected vocab.txt, one token per line)");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UserError(path + ": cannot read the vocabulary file");
  if (content.empty()) throw UserError(path + ": empty vocabulary file (expected one token per line)");

  // Python's readline() in text mode (universal newlines: \n, \r\n, \r), then str.strip().
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < content.size()) {
    size_t stop = content.find_first_of("\r\n", start);
    size_t next;
    if (stop == std::string::npos) {
      stop = content.size();
      next = stop;
    } else if (content[stop] == '\r' && stop + 1 < content.size() && content[stop + 1] == '\n') {
      next = stop + 2;
    } else {
      next = stop + 1;
    }
    std::string line = content.substr(start, stop - start);
    if (!valid_utf8(line))
      throw UserError(path + ": line " + std::to_string(tokens.size() + 1) + " is not valid UTF-8");
    tokens.push_back(strip_python_space(line));
    start = next;
  }
  return from_tokens(std::move(tokens), lower_case, path);
}

WordPieceTokenizer WordPieceTokenizer::from_tokens(std::vector<std::string> vocab, bool lower_case,
                                                   const std::string& origin) {
  if (vocab.empty()) throw UserError(origin + ": empty vocabulary (expected one token per line)");
  WordPieceTokenizer t;
  t.lower_case_ = lower_case;
  t.origin_ = origin;
  t.id_to_token_ = std::move(vocab);
  t.token_to_id_.reserve(t.id_to_token_.size());
  for (size_t i = 0; i < t.id_to_token_.size(); ++i)
    t.token_to_id_[t.id_to_token_[i]] = static_cast<int64_t>(i);  // later lines win, as in Python

  std::string missing;
  auto require = [&](const char* token, int64_t* id) {
    *id = t.id_of(token);
    if (*id < 0) missing += (missing.empty() ? "" : ", ") + std::string(token);
  };
  require("[UNK]", &t.unk_id_);
  require("[CLS]", &t.cls_id_);
  require("[SEP]", &t.sep_id_);
  require("[PAD]", &t.pad_id_);
  if (!missing.empty())
    throw UserError(origin + ": vocabulary lacks " + missing + " (needs [UNK], [CLS], [SEP] and [PAD])");
  return t;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  // _clean_text + _tokenize_chinese_chars.
  CodePoints cleaned;
  {
    CodePoints in = decode_utf8(text);
    cleaned.reserve(in.size());
    for (UChar32 c : in) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) {
        cleaned.push_back(' ');
      } else if (is_chinese_char(c)) {
        cleaned.push_back(' ');
        cleaned.push_back(c);
        cleaned.push_back(' ');
      } else {
        cleaned.push_back(c);
      }
    }
  }

  std::vector<std::string> out;
  auto emit = [&out](const CodePoints& piece) {
    // whitespace_tokenize(" ".join(split_tokens))
    for (const CodePoints& w : split_python_space(piece)) out.push_back(encode_utf8(w.begin(), w.end()));
  };
  for (const CodePoints& word : split_python_space(cleaned)) {
    CodePoints token = word;
    if (lower_case_ && !in_never_split(encode_utf8(word.begin(), word.end())))
      token = lower_and_strip_accents(word);
    // _run_split_on_punc
    if (in_never_split(encode_utf8(token.begin(), token.end()))) {
      emit(token);
      continue;
    }
    CodePoints cur;
    for (UChar32 c : token) {
      if (is_punctuation(c)) {
        if (!cur.empty()) emit(cur);
        cur.clear();
        emit(CodePoints{c});
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) emit(cur);
  }
  return out;
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<std::string>* out) const {
  // Byte offsets of the code point boundaries.
  std::vector<size_t> bounds;
  {
    const auto* p = reinterpret_cast<const uint8_t*>(word.data());
    const int64_t len = static_cast<int64_t>(word.size());
    int64_t i = 0;
    bounds.push_back(0);
    while (i < len) {
      UChar32 c;
      U8_NEXT(p, i, len, c);
      bounds.push_back(static_cast<size_t>(i));
      if (static_cast<int64_t>(bounds.size()) - 1 > max_input_chars_per_word) break;
    }
  }
  const size_t n = bounds.size() - 1;
  if (n == 0) return;
  const std::string& unk = id_to_token_[static_cast<size_t>(unk_id_)];
  if (static_cast<int64_t>(n) > max_input_chars_per_word) {
    out->push_back(unk);
    return;
  }
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    bool found = false;
    std::string sub;
    while (start < end) {
      sub = word.substr(bounds[start], bounds[end] - bounds[start]);
      if (start > 0) sub = "##" + sub;
      if (token_to_id_.count(sub)) {
        found = true;
        break;
      }
      --end;
    }
    if (!found) {
      out->push_back(unk);
      return;
    }
    pieces.push_back(std::move(sub));
    start = end;
  }
  out->insert(out->end(), std::make_move_iterator(pieces.begin()), std::make_move_iterator(pieces.end()));
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const std::string& word : basic_tokenize(text)) wordpiece(word, &out);
  return out;
}

std::vector<int64_t> WordPieceTokenizer::to_ids(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) {
    auto it = token_to_id_.find(t);
    ids.push_back(it == token_to_id_.end() ? unk_id_ : it->second);
  }
  return ids;
}

Encoding WordPieceTokenizer::encode(const std::string& text, int64_t max_length) const {
  if (max_length < 2)
    throw UserError("tokenizer: max_length must be >= 2 to hold [CLS] and [SEP], got " + std::to_string(max_length));
  std::vector<std::string> pieces = tokenize(text);
  if (static_cast<int64_t>(pieces.size()) > max_length - 2) pieces.resize(static_cast<size_t>(max_length - 2));
  Encoding e;
  e.tokens.reserve(pieces.size() + 2);
  e.tokens.push_back(token_of(cls_id_));
  for (std::string& p : pieces) e.tokens.push_back(std::move(p));
  e.tokens.push_back(token_of(sep_id_));
  e.ids = to_ids(e.tokens);
  return e;
}

int64_t WordPieceTokenizer::id_of(const std::string& token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::token_of(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw UserError("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                    std::to_string(vocab_size()) + ")");
  return id_to_token_[static_cast<size_t>(id)];
}

}  // namespace headprune::data
