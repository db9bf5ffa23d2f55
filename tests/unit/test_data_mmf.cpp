// ctest-labels: fast
// MMF's data files as people download them: the pickle and .npy readers (against pickles that
// Python and NumPy write here, protocols 2-5), MMF's answer file, the imdb loader (simple_word
// and the vqa_answer soft scores against a Python port of MMF's rule), the LMDB feature import
// (bit-exact against the arrays Python wrote), data.selection: list, and their user errors.
// The inputs are written by tests/support/make_mmf_data.py and by Python snippets below
// (Debian's /usr/bin/python3 with python3-numpy and python3-lmdb).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "headprune/common/error.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/lmdb_import.hpp"
#include "headprune/data/pickle.hpp"
#include "headprune/data/selection.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "testing.hpp"

using namespace headprune::data;
using headprune::UserError;
using headprune::testing::user_error;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Runs a Python snippet (argv[1] = dir); fails the test when Python fails.
void python(const std::string& dir, const std::string& code) {
  write_file(dir + "/snippet.py", code);
  std::string out;
  int rc = headprune::testing::run_command("/usr/bin/python3 " + dir + "/snippet.py " + dir, &out);
  ASSERT_EQ(rc, 0) << out;
}

// tests/support/make_mmf_data.py into a fresh folder.
std::string make_mmf_data(const std::string& tag, const std::string& args = "") {
  std::string dir = headprune::testing::scratch_dir(tag);
  std::string out;
  int rc = headprune::testing::run_command("/usr/bin/python3 " + std::string(HEADPRUNE_SOURCE_DIR) +
                                               "/tests/support/make_mmf_data.py " + dir + " " + args,
                                           &out);
  EXPECT_EQ(rc, 0) << out;
  return dir;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_bytes(path)); }

const char* kPickleCases = R"PY(
import fractions, pickle, sys
import numpy as np
d = sys.argv[1]
shared = [1, 2]
plain = {"int": 5, "neg": -1, "big": 2**63 - 1, "small": -2**40, "float": 2.5, "str": "caf\u00e9 \u2713",
         "bytes": b"\x00\x01\xff", "list": [None, True, False], "tuple": (1, 2, 3), "empty": (), "nested": {"x": [1, {"y": "z"}]},
         "shared": [shared, shared], 7: "int key"}
objs = np.empty(2, dtype=object)
objs[:] = [{"a": 1}, "two"]
arrays = {"f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 3, "f64": np.linspace(-1, 1, 5), "i64": np.array([-3, 2**40]),
          "u8": np.array([0, 255], dtype=np.uint8), "bool": np.array([True, False]), "f16": np.array([0.5, -2.0, 65504], dtype=np.float16),
          "empty": np.zeros((0, 3), np.float32), "obj": objs, "si": np.int64(-7), "sf": np.float32(0.25), "sb": np.bool_(True),
          "d0": np.array(3.5)}
for p in (2, 3, 4, 5):
    open(f"{d}/plain_p{p}.pkl", "wb").write(pickle.dumps(plain, protocol=p))
    open(f"{d}/numpy_p{p}.pkl", "wb").write(pickle.dumps(arrays, protocol=p))
open(f"{d}/fraction.pkl", "wb").write(pickle.dumps({"x": fractions.Fraction(1, 3)}, protocol=4))
open(f"{d}/set.pkl", "wb").write(pickle.dumps({1, 2}, protocol=4))
open(f"{d}/bigint.pkl", "wb").write(pickle.dumps(2**64, protocol=4))
open(f"{d}/proto1.pkl", "wb").write(pickle.dumps([1], protocol=0))
a = np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.1)
np.save(f"{d}/v1.npy", a)
for v in ((2, 0), (3, 0)):
    with open(f"{d}/v{v[0]}.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=v)
np.save(f"{d}/i32.npy", np.array([1, -2, 3], dtype=np.int32))
np.save(f"{d}/big_endian.npy", np.array([1.0], dtype=">f8"))
np.save(f"{d}/objects.npy", objs, allow_pickle=True)
)PY";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pickle
// ---------------------------------------------------------------------------------------------
TEST(Pickle, PlainValuesInEveryProtocol) {
  const std::string dir = headprune::testing::scratch_dir("pickle");
  python(dir, kPickleCases);
  for (int p = 2; p <= 5; ++p) {
    SCOPED_TRACE("protocol " + std::to_string(p));
    auto doc = parse_pickle(read_bytes(dir + "/plain_p" + std::to_string(p) + ".pkl"), "plain");
    const PickleValue& r = doc->root();
    ASSERT_EQ(r.kind, PickleValue::Kind::dict);
    EXPECT_EQ(r.get("int")->integer, 5);
    EXPECT_EQ(r.get("neg")->integer, -1);
    EXPECT_EQ(r.get("big")->integer, INT64_MAX);
    EXPECT_EQ(r.get("small")->integer, -(int64_t{1} << 40));
    EXPECT_EQ(r.get("float")->floating, 2.5);
    EXPECT_EQ(r.get("str")->text, "caf\xc3\xa9 \xe2\x9c\x93");
    ASSERT_TRUE(r.get("bytes")->is_bytes());  // protocol 2: via _codecs.encode
    EXPECT_EQ(r.get("bytes")->text, std::string("\x00\x01\xff", 3));
    const PickleValue* list = r.get("list");
    ASSERT_EQ(list->items.size(), 3u);
    EXPECT_TRUE(list->items[0]->is_none());
    EXPECT_TRUE(list->items[1]->boolean);
    EXPECT_FALSE(list->items[2]->boolean);
    EXPECT_EQ(r.get("tuple")->kind, PickleValue::Kind::tuple);
    EXPECT_EQ(r.get("tuple")->items.at(2)->integer, 3);
    EXPECT_TRUE(r.get("empty")->items.empty());
    EXPECT_EQ(r.get("nested")->get("x")->items.at(1)->get("y")->text, "z");
    // The memo: both elements are the same list.
    const PickleValue* shared = r.get("shared");
    EXPECT_EQ(shared->items.at(0), shared->items.at(1));
    EXPECT_EQ(shared->items.at(0)->items.at(1)->integer, 2);
    EXPECT_EQ(r.entries.back().first->integer, 7);  // a non-string key is kept
  }
}

TEST(Pickle, NumpyArraysAndScalarsInEveryProtocol) {
  const std::string dir = headprune::testing::scratch_dir("pickle-np");
  python(dir, kPickleCases);
  for (int p = 2; p <= 5; ++p) {
    SCOPED_TRACE("protocol " + std::to_string(p));
    auto doc = parse_pickle(read_bytes(dir + "/numpy_p" + std::to_string(p) + ".pkl"), "numpy");
    const PickleValue& r = doc->root();
    const PickleArray& f32 = r.get("f32")->array;
    EXPECT_EQ(f32.kind, 'f');
    EXPECT_EQ(f32.itemsize, 4);
    EXPECT_EQ(f32.shape, (std::vector<int64_t>{3, 4}));
    for (int i = 0; i < 12; ++i) EXPECT_EQ(static_cast<float>(f32.element_as_double(i)), static_cast<float>(i) / 3.0f);
    const PickleArray& f64 = r.get("f64")->array;
    EXPECT_EQ(f64.dtype_name(), "float64");
    EXPECT_EQ(f64.element_as_double(1), -0.5);
    EXPECT_EQ(r.get("i64")->array.element_as_double(1), 1099511627776.0);
    EXPECT_EQ(r.get("u8")->array.element_as_double(1), 255.0);
    EXPECT_EQ(r.get("bool")->array.dtype_name(), "bool");
    EXPECT_EQ(r.get("bool")->array.element_as_double(0), 1.0);
    EXPECT_EQ(r.get("f16")->array.element_as_double(2), 65504.0);
    EXPECT_EQ(r.get("f16")->array.element_as_double(1), -2.0);
    EXPECT_EQ(r.get("empty")->array.shape, (std::vector<int64_t>{0, 3}));
    const PickleArray& obj = r.get("obj")->array;
    ASSERT_EQ(obj.kind, 'O');
    ASSERT_EQ(obj.objects.size(), 2u);
    EXPECT_EQ(obj.objects[0]->get("a")->integer, 1);
    EXPECT_EQ(obj.objects[1]->text, "two");
    EXPECT_EQ(r.get("si")->integer, -7);
    EXPECT_EQ(r.get("sf")->floating, 0.25);
    EXPECT_TRUE(r.get("sb")->boolean);
    EXPECT_TRUE(r.get("d0")->array.shape.empty());
    EXPECT_EQ(r.get("d0")->array.element_as_double(0), 3.5);
  }
}

TEST(Pickle, UnsupportedInputsNameTheClassOrOpcode) {
  const std::string dir = headprune::testing::scratch_dir("pickle-bad");
  python(dir, kPickleCases);
  EXPECT_EQ(user_error([&] { parse_pickle(read_bytes(dir + "/fraction.pkl"), "f.pkl: entry 'x'"); })
                .rfind("f.pkl: entry 'x': unsupported class fractions.Fraction (this reader knows plain Python values "
                       "and NumPy arrays) (pickle byte ", 0),
            0u);
  EXPECT_NE(user_error([&] { parse_pickle(read_bytes(dir + "/set.pkl"), "s"); }).find("unsupported pickle opcode 0x8f"),
            std::string::npos);
  EXPECT_NE(user_error([&] { parse_pickle(read_bytes(dir + "/bigint.pkl"), "b"); }).find("does not fit 64 bits"),
            std::string::npos);
  EXPECT_NE(user_error([&] { parse_pickle(read_bytes(dir + "/proto1.pkl"), "p"); }).find("unsupported pickle opcode"),
            std::string::npos);
  EXPECT_EQ(user_error([&] { parse_pickle("", "e"); }), "e: truncated pickle (no STOP opcode) (pickle byte 0)");
  EXPECT_NE(user_error([&] { parse_pickle(std::string("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00X\xff\xff\xff\x7f", 16), "h"); })
                .find("wants 2147483647 bytes"),
            std::string::npos);
}

TEST(Pickle, TruncatedOrCorruptedBytesNeverCrash) {
  const std::string dir = headprune::testing::scratch_dir("pickle-fuzz");
  python(dir, kPickleCases);
  for (const char* name : {"numpy_p2.pkl", "numpy_p4.pkl", "numpy_p5.pkl", "plain_p3.pkl"}) {
    const std::string bytes = read_bytes(dir + "/" + name);
    // Every proper prefix is a UserError (a pickle is only complete at STOP).
    for (size_t n = 0; n < bytes.size(); ++n) {
      try {
        parse_pickle(std::string_view(bytes).substr(0, n), name);
        ADD_FAILURE() << name << " cut at " << n << " parsed";
      } catch (const UserError&) {
      }
    }
    // Random byte changes: parsed or a UserError, nothing else (no crash, no other exception).
    std::mt19937 rng(42);
    for (int trial = 0; trial < 3000; ++trial) {
      std::string b = bytes;
      for (int k = 0; k < 1 + trial % 4; ++k) b[rng() % b.size()] = static_cast<char>(rng());
      try {
        parse_pickle(b, name);
      } catch (const UserError&) {
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------
TEST(Npy, HeaderVersionsAndDtypes) {
  const std::string dir = headprune::testing::scratch_dir("npy");
  python(dir, kPickleCases);
  for (const char* v : {"v1", "v2", "v3"}) {
    SCOPED_TRACE(v);
    auto doc = load_npy(dir + "/" + v + ".npy");
    const PickleArray& a = doc->root().array;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.dtype_name(), "float32");
    for (int i = 0; i < 6; ++i) EXPECT_EQ(static_cast<float>(a.element_as_double(i)), static_cast<float>(i) * 0.1f);
  }
  EXPECT_EQ(load_npy(dir + "/i32.npy")->root().array.element_as_double(1), -2.0);
  auto objs = load_npy(dir + "/objects.npy");
  EXPECT_EQ(objs->root().array.objects.at(1)->text, "two");
  EXPECT_NE(user_error([&] { load_npy(dir + "/big_endian.npy"); }).find("big-endian .npy data ('>f8') is not supported"),
            std::string::npos);
  EXPECT_EQ(user_error([&] { load_npy(dir + "/missing.npy"); }),
            dir + "/missing.npy: file not found (expected a NumPy .npy file)");
  EXPECT_EQ(user_error([&] { parse_npy("PK\x03\x04 not npy", "x.npy"); }), "x.npy: not a NumPy .npy file (no \\x93NUMPY magic)");
  const std::string v1 = read_bytes(dir + "/v1.npy");
  for (size_t n = 0; n < v1.size(); ++n) {
    try {
      parse_npy(std::string_view(v1).substr(0, n), "cut.npy");
      ADD_FAILURE() << "cut at " << n << " parsed";
    } catch (const UserError&) {
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Answer vocabulary files
// ---------------------------------------------------------------------------------------------
TEST(AnswerVocabFile, MmfFormatAsVocabDictReadsIt) {
  const std::string dir = headprune::testing::scratch_dir("vocab");
  write_file(dir + "/with_unk.txt", "<unk>\nyes\r\n  no \n2");
  AnswerVocab v = AnswerVocab::load(dir + "/with_unk.txt");
  EXPECT_EQ(v.answers(), (std::vector<std::string>{"<unk>", "yes", "no", "2"}));
  EXPECT_EQ(v.index("no"), 2);
  EXPECT_EQ(v.sha256(), headprune::sha256_hex("<unk>\nyes\r\n  no \n2"));
  EXPECT_EQ(v.source(), dir + "/with_unk.txt");
  // Without a "<unk>" line MMF's VocabDict puts it first: every index moves by one.
  write_file(dir + "/no_unk.txt", "yes\nno\n");
  EXPECT_EQ(AnswerVocab::load(dir + "/no_unk.txt").answers(), (std::vector<std::string>{"<unk>", "yes", "no"}));
  write_file(dir + "/dup.txt", "<unk>\nyes\nno\nyes\n");
  EXPECT_EQ(user_error([&] { AnswerVocab::load(dir + "/dup.txt"); }),
            dir + "/dup.txt:4: answer 'yes' is listed a second time (first on line 2)");
  write_file(dir + "/empty.txt", "");
  EXPECT_EQ(user_error([&] { AnswerVocab::load(dir + "/empty.txt"); }),
            dir + "/empty.txt: empty answer vocabulary (expected one answer per line)");
  EXPECT_NE(user_error([&] { AnswerVocab::load(dir + "/nothing"); }).find(": not found (expected an answer vocabulary"),
            std::string::npos);
}

TEST(AnswerVocabFile, ShippedVocabulariesAndTheirSha256) {
  const std::string root = HEADPRUNE_SOURCE_DIR;
  AnswerVocab mmf = AnswerVocab::load(root + "/data/vqa/mmf_answers_vqa.txt");
  AnswerVocab lxmert = AnswerVocab::load(root + "/data/vqa");
  ASSERT_EQ(mmf.size(), 3129);
  ASSERT_EQ(lxmert.size(), 3129);
  EXPECT_EQ(mmf.answer(0), "<unk>");
  // The provenance recorded in data/vqa/README.md.
  EXPECT_EQ(mmf.sha256(), "27c3d96da094e2e4bd40a481cb7467de214e4e262c12ce9970ed94c15d406bcd");
  EXPECT_EQ(lxmert.sha256(), headprune::sha256_file(root + "/data/vqa/trainval_label2ans.json"));
  // Same strings, one shared position (data/vqa/README.md): the two must never be swapped.
  int same_position = 0, shared = 0;
  for (int64_t i = 0; i < mmf.size(); ++i) {
    same_position += mmf.answer(i) == lxmert.answer(i);
    shared += lxmert.index(mmf.answer(i)) >= 0;
  }
  EXPECT_EQ(same_position, 1);
  EXPECT_EQ(shared, 3128);
}

// ---------------------------------------------------------------------------------------------
// imdb
// ---------------------------------------------------------------------------------------------
TEST(MmfImdb, QuestionsAndSoftScoresAsMmfComputesThem) {
  const std::string dir = make_mmf_data("imdb");
  const auto expected = read_json(dir + "/expected.json");
  AnswerVocab vocab = AnswerVocab::load(dir + "/answers_vqa.txt");
  EXPECT_EQ(vocab.sha256(), expected["answers_sha256"].get<std::string>());
  VqaQuestions q = load_mmf_imdb(dir + "/imdb_val2014.npy", vocab);
  const auto& eq = expected["questions"];
  ASSERT_EQ(q.samples.size(), eq.size());  // the header record is skipped
  int scored = 0;
  for (size_t i = 0; i < eq.size(); ++i) {
    const Sample& s = q.samples[i];
    SCOPED_TRACE(s.question_id);
    EXPECT_EQ(s.question_id, eq[i]["question_id"].get<std::string>());
    EXPECT_EQ(s.img_id, eq[i]["img_id"].get<std::string>());
    EXPECT_EQ(s.question, eq[i]["question"].get<std::string>());
    std::map<std::string, double> want;
    for (auto it = eq[i]["scores"].begin(); it != eq[i]["scores"].end(); ++it) want[it.key()] = it.value().get<double>();
    EXPECT_EQ(s.label, want);  // exact: both are MMF's float32 values
    for (const auto& [index, score] : s.label_ids) EXPECT_EQ(static_cast<double>(score), want.at(vocab.answer(index)));
    scored += !want.empty();
  }
  EXPECT_GT(scored, 10);
  EXPECT_EQ(q.samples[1].label.at("red"), static_cast<double>(0.9f));
}

TEST(MmfImdb, SimpleWordMatchesMmf) {
  const std::string dir = make_mmf_data("simple-word");
  const auto expected = read_json(dir + "/expected.json");
  // The records' raw answers are in the imdb; their simple_word forms in expected.json.
  auto doc = load_npy(dir + "/imdb_val2014.npy");
  const auto& records = doc->root().array.objects;
  int checked = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    const PickleValue* answers = records[i]->get("answers");
    for (size_t k = 0; k < answers->items.size(); ++k, ++checked)
      EXPECT_EQ(mmf_simple_word(answers->items[k]->text), expected["questions"][i - 1]["simple_word"][k].get<std::string>());
  }
  EXPECT_GT(checked, 100);
  EXPECT_EQ(mmf_simple_word("  What's THIS, man's?  "), "what 's this man 's");
}

TEST(MmfImdb, MmfSoftLabelRule) {
  AnswerVocab vocab = AnswerVocab::from_answers({"<unk>", "a", "b", "c"});
  // k of 10 annotators: 0.3, 0.6, 0.9, 1 (as float32).
  auto l = mmf_soft_labels({"a", "b", "b", "c", "c", "c", "x", "x", "x", "x"}, vocab);
  EXPECT_EQ(l, (std::map<std::string, double>{{"a", 0.3f}, {"b", 0.6f}, {"c", 0.9f}}));
  // Fewer than 10 answers are repeated up to 10 (_increase_to_ten): ["a","b","b"] -> a x4, b x6.
  l = mmf_soft_labels({"a", "b", "b"}, vocab);
  EXPECT_EQ(l, (std::map<std::string, double>{{"a", 1.0}, {"b", 1.0}}));
  l = mmf_soft_labels({"a", "b", "c"}, vocab);  // a x4, b x3, c x3
  EXPECT_EQ(l, (std::map<std::string, double>{{"a", 1.0}, {"b", 0.9f}, {"c", 0.9f}}));
  EXPECT_TRUE(mmf_soft_labels({}, vocab).empty());
  EXPECT_TRUE(mmf_soft_labels({"<unk>"}, vocab).empty());  // UNK is never scored
}

TEST(MmfImdb, UserErrors) {
  const std::string dir = headprune::testing::scratch_dir("imdb-bad");
  python(dir, R"PY(
import sys
import numpy as np
d = sys.argv[1]
np.save(f"{d}/floats.npy", np.zeros((2, 3), np.float32))
def objs(records):
    a = np.empty(len(records), dtype=object); a[:] = records; return a
np.save(f"{d}/no_question.npy", objs([{"image_id": 1, "question_id": 5, "image_name": "COCO_val2014_000000000001", "answers": ["a"]}]))
np.save(f"{d}/int_answers.npy", objs([{"image_id": 1, "question_id": 5, "question": "q?", "answers": [1, 2]}]))
np.save(f"{d}/eleven.npy", objs([{"image_id": 1, "question_id": 5, "question": "q?", "answers": ["a"] * 11}]))
np.save(f"{d}/not_dicts.npy", objs([{"image_id": 1, "question_id": 5, "question": "q?"}, "oops"]))
np.save(f"{d}/test_split.npy", objs([{"image_id": 7, "question_id": 5, "question": "q?"}]))
)PY");
  AnswerVocab vocab = AnswerVocab::from_answers({"<unk>", "a"});
  EXPECT_EQ(user_error([&] { load_mmf_imdb(dir + "/floats.npy", vocab); }),
            dir + "/floats.npy: holds a float32 array [2, 3], expected a 1-d object array of question dicts (an MMF "
                  "imdb_<split>.npy)");
  EXPECT_EQ(user_error([&] { load_mmf_imdb(dir + "/no_question.npy", vocab); }),
            dir + "/no_question.npy: record 0 (question_id 5): missing field 'question'");
  EXPECT_EQ(user_error([&] { load_mmf_imdb(dir + "/int_answers.npy", vocab); }),
            dir + "/int_answers.npy: record 0 (question_id 5): field 'answers' is an int, expected a str");
  EXPECT_EQ(user_error([&] { load_mmf_imdb(dir + "/eleven.npy", vocab); }),
            dir + "/eleven.npy: record 0 (question_id 5): field 'answers' has 11 answers (MMF's vqa_answer processor "
                  "takes at most 10)");
  EXPECT_EQ(user_error([&] { load_mmf_imdb(dir + "/not_dicts.npy", vocab); }),
            dir + "/not_dicts.npy: record 1 is a str, expected a dict");
  VqaQuestions t = load_mmf_imdb(dir + "/test_split.npy", vocab);
  ASSERT_EQ(t.samples.size(), 1u);
  EXPECT_EQ(t.samples[0].img_id, "7");  // no image_name or feature_path: the image id
  EXPECT_TRUE(t.samples[0].label.empty());
}

// ---------------------------------------------------------------------------------------------
// selection: list
// ---------------------------------------------------------------------------------------------
TEST(SelectionList, OrderOfTheFileAndItsErrors) {
  const std::string dir = make_mmf_data("selection");
  const auto expected = read_json(dir + "/expected.json");
  AnswerVocab vocab = AnswerVocab::load(dir + "/answers_vqa.txt");
  VqaQuestions q = load_mmf_imdb(dir + "/imdb_val2014.npy", vocab);
  SampleOptions so;
  so.selection.mode = Selection::list;
  so.selection.list_file = dir + "/selection.txt";
  SampleList list = make_sample_list(q, so, nullptr);
  const auto& want = expected["selection"];
  ASSERT_EQ(list.samples.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(list.samples[i].question_id, want[i].get<std::string>());
    EXPECT_EQ(q.samples[static_cast<size_t>(list.file_index[i])].question_id, want[i].get<std::string>());
  }
  EXPECT_EQ(list.selected, static_cast<int64_t>(want.size()));

  write_file(dir + "/unknown.txt", want[0].get<std::string>() + "\n\n12345\n");
  so.selection.list_file = dir + "/unknown.txt";
  EXPECT_EQ(user_error([&] { make_sample_list(q, so, nullptr); }),
            dir + "/unknown.txt:3: question id 12345 is not in " + dir + "/imdb_val2014.npy");
  write_file(dir + "/twice.txt", want[0].get<std::string>() + "\n" + want[0].get<std::string>() + "\n");
  so.selection.list_file = dir + "/twice.txt";
  EXPECT_EQ(user_error([&] { make_sample_list(q, so, nullptr); }),
            dir + "/twice.txt:2: question id " + want[0].get<std::string>() + " is listed a second time (first on line 1)");
  write_file(dir + "/empty.txt", "# nothing\n");
  so.selection.list_file = dir + "/empty.txt";
  EXPECT_EQ(user_error([&] { make_sample_list(q, so, nullptr); }),
            dir + "/empty.txt: empty selection: the file lists no question id");
  // An id whose image is excluded is named as such.
  write_file(dir + "/one.txt", want[0].get<std::string>() + "\n");
  so.selection.list_file = dir + "/one.txt";
  const std::string img = q.samples[static_cast<size_t>(list.file_index[0])].img_id;
  write_file(dir + "/exclude.txt", img + "\n");
  so.exclude_images = dir + "/exclude.txt";
  EXPECT_EQ(user_error([&] { make_sample_list(q, so, nullptr); }),
            dir + "/one.txt:1: question id " + want[0].get<std::string>() + ": its image " + img +
                " is in data.exclude_images");
}

// ---------------------------------------------------------------------------------------------
// LMDB import
// ---------------------------------------------------------------------------------------------
TEST(MmfLmdb, ImportIsBitExactAndQuestionsFindTheirImages) {
  for (int protocol : {2, 3, 4, 5}) {
    SCOPED_TRACE("protocol " + std::to_string(protocol));
    const std::string dir = make_mmf_data("lmdb", "--protocol " + std::to_string(protocol));
    const auto expected = read_json(dir + "/expected.json");
    TsvImportOptions opt;
    opt.progress_interval_s = 0;
    auto result = import_mmf_lmdb(dir + "/features.lmdb", dir + "/store.h5", opt);
    EXPECT_FALSE(fs::exists(dir + "/store.h5.partial"));
    EXPECT_EQ(result.images, 4);
    EXPECT_EQ(result.feature_dim, 2048);
    FeatureStore store(dir + "/store.h5");
    std::vector<std::string> keys = expected["image_keys"].get<std::vector<std::string>>();
    EXPECT_EQ(store.image_ids(), keys);  // MMF's key order
    for (const auto& key : keys) {
      ImageRecord r = store.read(key);
      auto npy = load_npy(dir + "/features/" + key + ".npy");
      const PickleArray& want = npy->root().array;
      ASSERT_EQ(r.num_boxes, want.shape[0]);
      ASSERT_EQ(static_cast<int64_t>(r.features.size()) * 4, static_cast<int64_t>(want.data.size()));
      EXPECT_EQ(std::memcmp(r.features.data(), want.data.data(), want.data.size()), 0) << "features of " << key;
      EXPECT_GT(r.image_w, 600);
      EXPECT_GE(r.objects_id[0], 0);
      EXPECT_GT(r.objects_conf[0], 0.0f);
    }
    // The imdb's COCO names find the LMDB's numeric keys.
    AnswerVocab vocab = AnswerVocab::load(dir + "/answers_vqa.txt");
    VqaQuestions q = load_mmf_imdb(dir + "/imdb_val2014.npy", vocab);
    SampleOptions so;
    so.selection.mode = Selection::all;
    SampleList list = make_sample_list(q, so, &store);
    EXPECT_EQ(list.samples.size(), q.samples.size());
    EXPECT_EQ(store.read(list.samples[0].img_id).img_id, "262148");
  }
}

TEST(MmfLmdb, BadEntriesNameTheLmdbAndTheKeyAndLeaveNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no_features", "features.lmdb: entry '265148': no 'features' (keys: feature_path, image_height, image_width, "
                      "num_boxes, objects, cls_prob, bbox)"},
      {"bad_shape", "features.lmdb: entry '265148': 'features' is a float32 array [19], expected a float array [N, D]"},
      {"bad_dtype", "features.lmdb: entry '265148': 'features' is an int32 array [19, 2048], expected a float array [N, D]"},
      {"bad_class", "features.lmdb: entry '265148': unsupported class fractions.Fraction"},
      {"truncated", "features.lmdb: entry '265148': truncated pickle"},
  };
  for (const auto& [bad, message] : cases) {
    SCOPED_TRACE(bad);
    const std::string dir = make_mmf_data("lmdb-" + bad, "--bad " + bad);
    TsvImportOptions opt;
    opt.progress_interval_s = 0;
    std::string err = user_error([&] { import_mmf_lmdb(dir + "/features.lmdb", dir + "/store.h5", opt); });
    EXPECT_EQ(err.rfind(dir + "/" + message, 0), 0u) << err;
    EXPECT_FALSE(fs::exists(dir + "/store.h5"));
    EXPECT_FALSE(fs::exists(dir + "/store.h5.partial"));
  }
  const std::string dir = headprune::testing::scratch_dir("lmdb-missing");
  EXPECT_EQ(user_error([&] { import_mmf_lmdb(dir + "/none.lmdb", dir + "/s.h5"); }),
            dir + "/none.lmdb: not found (expected an MMF LMDB: a folder with data.mdb, or the data file itself)");
  python(dir, R"PY(
import lmdb, pickle, sys
env = lmdb.open(sys.argv[1] + "/nokeys.lmdb")
with env.begin(write=True) as txn:
    txn.put(b"1", pickle.dumps({"features": 1}))
env = lmdb.open(sys.argv[1] + "/file.lmdb", subdir=False)
with env.begin(write=True) as txn:
    txn.put(b"keys", pickle.dumps([b"1", b"2"]))
    txn.put(b"1", pickle.dumps([1]))
)PY");
  EXPECT_EQ(user_error([&] { import_mmf_lmdb(dir + "/nokeys.lmdb", dir + "/s.h5"); }),
            dir + "/nokeys.lmdb: entry 'keys': missing (an MMF feature LMDB lists its image keys there; written by "
                  "MMF's lmdb_conversion.py)");
  // A single-file LMDB (MDB_NOSUBDIR) opens; its first entry is not a dict.
  EXPECT_EQ(user_error([&] { import_mmf_lmdb(dir + "/file.lmdb", dir + "/s.h5"); }),
            dir + "/file.lmdb: entry '1': holds a list, expected a dict with 'features'");
  EXPECT_FALSE(fs::exists(dir + "/s.h5"));
}
