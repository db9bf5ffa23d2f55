// ctest-labels: fast fixture
// WordPieceTokenizer against the seed's Python BertTokenizer (tests/data/tokenizer/reference.h5).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "headprune/common/error.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/io/h5.hpp"
#include "testing.hpp"

namespace {

using headprune::UserError;
using headprune::data::Encoding;
using headprune::data::WordPieceTokenizer;
namespace h5 = headprune::h5;
namespace ht = headprune::testing;

/// Printable form of a case's text: non-ASCII and control bytes as \xNN.
std::string escaped(const std::string& s) {
  std::ostringstream o;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      o << static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      o << "\\x" << hex[c >> 4] << hex[c & 15];
    }
  }
  return o.str();
}

std::string joined(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + escaped(v[i]) + "\"";
  return out + "]";
}

template <typename T>
std::vector<T> slice(const std::vector<T>& v, const std::vector<int64_t>& offsets, size_t i) {
  return std::vector<T>(v.begin() + offsets.at(i), v.begin() + offsets.at(i + 1));
}

struct Reference {
  int64_t n_cases = 0;
  std::vector<std::string> texts;
  std::vector<std::vector<std::string>> basic, tokens;
  std::vector<std::vector<int64_t>> ids;
  std::string never_split;
  int64_t max_chars = 0, vocab_size = 0, lower_case = 0;
};

Reference load_reference() {
  h5::File f(ht::data_path("tokenizer/reference.h5"), h5::File::Mode::read);
  Reference r;
  r.n_cases = f.attr_i64("/", "n_cases");
  r.never_split = f.attr_string("/", "never_split");
  r.max_chars = f.attr_i64("/", "max_input_chars_per_word");
  r.vocab_size = f.attr_i64("/", "vocab_size");
  r.lower_case = f.attr_i64("/", "do_lower_case");

  const std::vector<uint8_t> text = f.read_u8("text_utf8");
  const std::vector<int64_t> text_off = f.read_i64("text_offsets");
  const std::vector<std::string> basic = f.read_strings("basic_tokens");
  const std::vector<int64_t> basic_off = f.read_i64("basic_offsets");
  const std::vector<std::string> tokens = f.read_strings("tokens");
  const std::vector<int64_t> ids = f.read_i64("ids");
  const std::vector<int64_t> tok_off = f.read_i64("token_offsets");

  const size_t n = static_cast<size_t>(r.n_cases);
  EXPECT_EQ(text_off.size(), n + 1);
  EXPECT_EQ(basic_off.size(), n + 1);
  EXPECT_EQ(tok_off.size(), n + 1);
  EXPECT_EQ(tokens.size(), ids.size());
  if (text_off.size() != n + 1 || basic_off.size() != n + 1 || tok_off.size() != n + 1) return r;
  EXPECT_EQ(static_cast<size_t>(text_off.back()), text.size());
  EXPECT_EQ(static_cast<size_t>(basic_off.back()), basic.size());
  EXPECT_EQ(static_cast<size_t>(tok_off.back()), tokens.size());
  for (size_t i = 0; i < n; ++i) {
    r.texts.emplace_back(text.begin() + text_off[i], text.begin() + text_off[i + 1]);
    r.basic.push_back(slice(basic, basic_off, i));
    r.tokens.push_back(slice(tokens, tok_off, i));
    r.ids.push_back(slice(ids, tok_off, i));
  }
  return r;
}

WordPieceTokenizer reference_tokenizer() {
  return WordPieceTokenizer::from_vocab_file(ht::data_path("tokenizer/vocab.txt"));
}

TEST(Tokenizer, ReferenceSettingsMatch) {
  const Reference r = load_reference();
  const WordPieceTokenizer tok = reference_tokenizer();
  EXPECT_EQ(r.n_cases, 44);
  EXPECT_EQ(r.lower_case, 1);
  EXPECT_EQ(r.max_chars, WordPieceTokenizer::max_input_chars_per_word);
  EXPECT_EQ(r.vocab_size, tok.vocab_size());
  std::string ours;
  for (const std::string& w : WordPieceTokenizer::never_split()) ours += (ours.empty() ? "" : "\n") + w;
  EXPECT_EQ(r.never_split, ours);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.id_of("[MASK]"), 4);
}

TEST(Tokenizer, BasicTokensMatchReference) {
  const Reference r = load_reference();
  const WordPieceTokenizer tok = reference_tokenizer();
  ASSERT_EQ(r.texts.size(), static_cast<size_t>(r.n_cases));
  for (size_t i = 0; i < r.texts.size(); ++i) {
    const std::vector<std::string> got = tok.basic_tokenize(r.texts[i]);
    EXPECT_EQ(got, r.basic[i]) << "case " << i << " text \"" << escaped(r.texts[i]) << "\"\n  got      "
                               << joined(got) << "\n  expected " << joined(r.basic[i]);
  }
}

TEST(Tokenizer, WordPiecesAndIdsMatchReference) {
  const Reference r = load_reference();
  const WordPieceTokenizer tok = reference_tokenizer();
  ASSERT_EQ(r.texts.size(), static_cast<size_t>(r.n_cases));
  for (size_t i = 0; i < r.texts.size(); ++i) {
    const std::vector<std::string> got = tok.tokenize(r.texts[i]);
    EXPECT_EQ(got, r.tokens[i]) << "case " << i << " text \"" << escaped(r.texts[i]) << "\"\n  got      "
                                << joined(got) << "\n  expected " << joined(r.tokens[i]);
    EXPECT_EQ(tok.to_ids(got), r.ids[i]) << "case " << i << " text \"" << escaped(r.texts[i]) << "\"";
    // The reference ids are the vocabulary ids of the reference tokens.
    EXPECT_EQ(tok.to_ids(r.tokens[i]), r.ids[i]) << "case " << i;
  }
}

TEST(Tokenizer, EncodeAddsSpecialTokensAndTruncates) {
  const WordPieceTokenizer tok = reference_tokenizer();
  const std::string text = "What color is the dog?";
  const std::vector<std::string> pieces = tok.tokenize(text);
  ASSERT_EQ(pieces, (std::vector<std::string>{"what", "color", "is", "the", "dog", "?"}));

  Encoding full = tok.encode(text, 20);
  std::vector<std::string> expected = {"[CLS]"};
  expected.insert(expected.end(), pieces.begin(), pieces.end());
  expected.push_back("[SEP]");
  EXPECT_EQ(full.tokens, expected);
  EXPECT_EQ(full.ids, tok.to_ids(expected));
  EXPECT_EQ(full.ids.front(), tok.cls_id());
  EXPECT_EQ(full.ids.back(), tok.sep_id());

  Encoding exact = tok.encode(text, 8);  // 6 pieces + 2 fit exactly
  EXPECT_EQ(exact.tokens, expected);

  Encoding cut = tok.encode(text, 5);
  EXPECT_EQ(cut.tokens, (std::vector<std::string>{"[CLS]", "what", "color", "is", "[SEP]"}));
  EXPECT_EQ(cut.ids.size(), 5u);
  EXPECT_EQ(cut.ids, tok.to_ids(cut.tokens));

  Encoding minimal = tok.encode(text, 2);
  EXPECT_EQ(minimal.tokens, (std::vector<std::string>{"[CLS]", "[SEP]"}));
  EXPECT_EQ(minimal.ids, (std::vector<int64_t>{tok.cls_id(), tok.sep_id()}));

  Encoding empty = tok.encode("", 10);
  EXPECT_EQ(empty.tokens, (std::vector<std::string>{"[CLS]", "[SEP]"}));

  EXPECT_THROW(tok.encode(text, 1), UserError);
}

TEST(Tokenizer, UnknownTokensMapToUnk) {
  const WordPieceTokenizer tok = reference_tokenizer();
  EXPECT_EQ(tok.id_of("definitely-not-in-vocab"), -1);
  EXPECT_EQ(tok.to_ids({"definitely-not-in-vocab", "what"}),
            (std::vector<int64_t>{tok.unk_id(), tok.id_of("what")}));
  EXPECT_EQ(tok.token_of(tok.unk_id()), "[UNK]");
  EXPECT_THROW(tok.token_of(tok.vocab_size()), UserError);
  EXPECT_THROW(tok.token_of(-1), UserError);
}

TEST(Tokenizer, InvalidUtf8IsDroppedNotFatal) {
  const WordPieceTokenizer tok = reference_tokenizer();
  // A stray continuation byte, a truncated 3-byte sequence, an overlong '/', a CESU surrogate.
  const std::string text = std::string("what\x80 is") + "\xe4\xb8" + " the\xc0\xaf dog\xed\xa0\x80?";
  EXPECT_EQ(tok.basic_tokenize(text), (std::vector<std::string>{"what", "is", "the", "dog", "?"}));
  EXPECT_EQ(tok.basic_tokenize("\xff\xfe"), std::vector<std::string>{});
}

TEST(Tokenizer, MissingVocabFileThrowsNamingThePath) {
  const std::string path = ht::scratch_dir("tokenizer") + "/no-such-vocab.txt";
  try {
    WordPieceTokenizer::from_vocab_file(path);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, EmptyOrIncompleteVocabThrows) {
  const std::string dir = ht::scratch_dir("tokenizer");
  const std::string empty = dir + "/empty.txt";
  { std::ofstream out(empty, std::ios::binary); }
  try {
    WordPieceTokenizer::from_vocab_file(empty);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(empty), std::string::npos) << e.what();
  }

  const std::string no_unk = dir + "/no_unk.txt";
  { std::ofstream(no_unk, std::ios::binary) << "[PAD]\n[CLS]\n[SEP]\nhello\n"; }
  try {
    WordPieceTokenizer::from_vocab_file(no_unk);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(no_unk), std::string::npos) << msg;
    EXPECT_NE(msg.find("[UNK]"), std::string::npos) << msg;
  }
}

TEST(Tokenizer, VocabLinesAreStrippedWithUniversalNewlines) {
  const std::string path = ht::scratch_dir("tokenizer") + "/crlf.txt";
  { std::ofstream(path, std::ios::binary) << "[PAD]\r\n[UNK]\r\n [CLS] \r\n[SEP]\rhello\n##s"; }
  const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(path);
  EXPECT_EQ(tok.vocab_size(), 6);
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.id_of("hello"), 4);
  EXPECT_EQ(tok.tokenize("Hellos hellx"), (std::vector<std::string>{"hello", "##s", "[UNK]"}));
}

TEST(Tokenizer, LxmertFixtureVocabQuestion) {
  const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(ht::data_path("lxmert/vocab.txt"));
  const Encoding e = tok.encode("are there any giraffes standing near the tall fence?", 20);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "are", "there", "any", "gi", "##raf", "##fe", "##s",
                                                "standing", "near", "the", "tall", "fence", "?", "[SEP]"}));
  EXPECT_EQ(e.ids, tok.to_ids(e.tokens));
  for (int64_t id : e.ids) EXPECT_NE(id, tok.unk_id());
}

}  // namespace
