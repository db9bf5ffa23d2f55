// ctest-labels: fast
// The synthetic VQA world (demo/world.hpp): deterministic for a seed, answers that follow
// from the scene (or from the words alone), and files that the real loaders read back exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "headprune/common/error.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/demo/world.hpp"
#include "headprune/visualize/image.hpp"
#include "testing.hpp"

using namespace headprune;
using namespace headprune::data;
using namespace headprune::demo;
namespace fs = std::filesystem;

namespace {

SyntheticWorldOptions tiny(uint64_t seed) {
  SyntheticWorldOptions o;
  o.seed = seed;
  o.train_images = 60;
  o.valid_images = 20;
  o.questions_per_image = 6;
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> words(const std::string& sent) {
  std::string s = sent;
  std::replace(s.begin(), s.end(), '?', ' ');
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int index_of(const std::vector<std::string>& list, const std::string& w) {
  auto it = std::find(list.begin(), list.end(), w);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

// The objects matching the description words (colour / shape / size words, "thing" = any).
int64_t count_matching(const SyntheticScene& scene, const std::vector<std::string>& desc) {
  int colour = -1, shape = -1, size = -1;
  for (const auto& w : desc) {
    std::string singular = w.size() > 1 && w.back() == 's' && w != "things" ? w.substr(0, w.size() - 1) : w;
    if (index_of(synthetic_colours(), w) >= 0) colour = index_of(synthetic_colours(), w);
    if (index_of(synthetic_shapes(), singular) >= 0) shape = index_of(synthetic_shapes(), singular);
    if (index_of(synthetic_sizes(), w) >= 0) size = index_of(synthetic_sizes(), w);
  }
  return std::count_if(scene.objects.begin(), scene.objects.end(), [&](const SyntheticObject& o) {
    return (colour < 0 || o.colour == colour) && (shape < 0 || o.shape == shape) && (size < 0 || o.size == size);
  });
}

class SyntheticWorldFilesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& d : dirs_) fs::remove_all(d);
  }
  std::string scratch(const std::string& tag) {
    dirs_.push_back(headprune::testing::scratch_dir(tag));
    return dirs_.back();
  }
  std::vector<std::string> dirs_;
};

}  // namespace

TEST(SyntheticWorld, DeterministicForASeed) {
  const SyntheticWorld a = make_synthetic_world(tiny(7));
  const SyntheticWorld b = make_synthetic_world(tiny(7));
  ASSERT_EQ(a.questions.size(), b.questions.size());
  for (size_t i = 0; i < a.questions.size(); ++i) {
    EXPECT_EQ(a.questions[i].question_id, b.questions[i].question_id);
    EXPECT_EQ(a.questions[i].sent, b.questions[i].sent);
    EXPECT_EQ(a.questions[i].label, b.questions[i].label);
  }
  ASSERT_EQ(a.scenes.size(), b.scenes.size());
  for (size_t i = 0; i < a.scenes.size(); ++i) {
    ASSERT_EQ(a.scenes[i].features.size(), b.scenes[i].features.size());
    EXPECT_EQ(0, std::memcmp(a.scenes[i].features.data(), b.scenes[i].features.data(),
                             a.scenes[i].features.size() * sizeof(float)));
  }
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.answers, b.answers);
  EXPECT_EQ(tiny(7).hash(), tiny(7).hash());

  const SyntheticWorld c = make_synthetic_world(tiny(8));
  EXPECT_NE(tiny(7).hash(), tiny(8).hash());
  bool differs = false;
  for (size_t i = 0; i < std::min(a.questions.size(), c.questions.size()); ++i)
    differs |= a.questions[i].sent != c.questions[i].sent;
  EXPECT_TRUE(differs);
}

TEST(SyntheticWorld, MoreImagesKeepTheFirstScenes) {
  // Each image has its own random stream: growing a split does not reshuffle the others.
  SyntheticWorldOptions more = tiny(3);
  more.train_images += 10;
  const SyntheticWorld a = make_synthetic_world(tiny(3)), b = make_synthetic_world(more);
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(a.scenes[i].features, b.scenes[i].features);
  EXPECT_EQ(a.scenes[60].features, b.scenes[70].features);  // the first valid scene
}

TEST(SyntheticWorld, RejectsBadOptions) {
  SyntheticWorldOptions o = tiny(1);
  o.feature_dim = 8;
  EXPECT_THROW(make_synthetic_world(o), UserError);
  o = tiny(1);
  o.max_objects = 9;
  EXPECT_THROW(make_synthetic_world(o), UserError);
  o = tiny(1);
  o.valid_images = 0;
  EXPECT_THROW(make_synthetic_world(o), UserError);
}

TEST(SyntheticWorld, ScenesAreWellFormed) {
  const SyntheticWorld w = make_synthetic_world(tiny(11));
  std::set<std::string> ids;
  for (const auto& s : w.scenes) {
    EXPECT_TRUE(ids.insert(s.img_id).second) << s.img_id;
    ASSERT_GE(s.objects.size(), 3u);
    ASSERT_LE(s.objects.size(), 8u);
    EXPECT_EQ(s.features.size(), s.objects.size() * 32);
    for (size_t i = 0; i < s.objects.size(); ++i) {
      const auto& o = s.objects[i];
      EXPECT_GE(o.box[0], 0);
      EXPECT_GE(o.box[1], 0);
      EXPECT_LE(o.box[2], 320);
      EXPECT_LE(o.box[3], 240);
      for (size_t j = 0; j < i; ++j) {  // no overlaps
        const auto& p = s.objects[j];
        EXPECT_FALSE(o.box[0] < p.box[2] && p.box[0] < o.box[2] && o.box[1] < p.box[3] && p.box[1] < o.box[3]);
      }
      // The strongest colour / shape / size codes are the object's (noise 0.1).
      const float* f = s.features.data() + i * 32;
      EXPECT_EQ(std::max_element(f, f + 6) - f, o.colour);
      EXPECT_EQ(std::max_element(f + 6, f + 10) - (f + 6), o.shape);
      EXPECT_EQ(std::max_element(f + 10, f + 12) - (f + 10), o.size);
    }
  }
}

TEST(SyntheticWorld, AnswersFollowFromTheSceneOrTheWords) {
  SyntheticWorldOptions o = tiny(5);
  o.train_images = 300;
  const SyntheticWorld w = make_synthetic_world(o);
  std::map<std::string, const SyntheticScene*> scenes;
  for (const auto& s : w.scenes) scenes[s.img_id] = &s;
  std::map<std::string, std::string> text_answers;
  std::map<std::string, int64_t> answer_count;
  std::map<std::string, int64_t> per_type;
  int64_t yes = 0, yes_no = 0, text_only = 0, checked = 0;
  std::set<int64_t> qids;
  for (const auto& q : w.questions) {
    EXPECT_TRUE(qids.insert(q.question_id).second);
    ASSERT_TRUE(q.label.count(q.answer)) << q.sent;
    for (const auto& [a, score] : q.label) EXPECT_LE(score, q.label.at(q.answer)) << q.sent;
    EXPECT_NE(std::find(w.answers.begin(), w.answers.end(), q.answer), w.answers.end()) << q.answer;
    ++answer_count[q.answer];
    ++per_type[q.question_type];
    if (!q.needs_image) {
      ++text_only;
      auto it = text_answers.emplace(q.sent, q.answer).first;
      EXPECT_EQ(it->second, q.answer) << q.sent;  // the words alone decide
      continue;
    }
    const SyntheticScene& s = *scenes.at(q.img_id);
    const auto ws = words(q.sent);
    if (q.answer_type == "yes/no") {
      ++yes_no;
      yes += q.answer == "yes";
    }
    if (q.question_type == "how many") {  // how many <desc> are there
      std::vector<std::string> desc(ws.begin() + 2, ws.end() - 2);
      EXPECT_EQ(std::to_string(count_matching(s, desc)), q.answer) << q.sent;
      ++checked;
    } else if (q.question_type == "is there a") {  // is there a/an <desc>
      std::vector<std::string> desc(ws.begin() + 3, ws.end());
      EXPECT_EQ(count_matching(s, desc) > 0 ? "yes" : "no", q.answer) << q.sent;
      ++checked;
    } else if (q.question_type == "is there a left of" || q.question_type == "is there a right of") {
      const bool left = q.question_type == "is there a left of";
      const auto at = std::find(ws.begin(), ws.end(), left ? "left" : "right");
      ASSERT_NE(at, ws.end());
      const std::vector<std::string> a(ws.begin() + 3, at), b(at + 3, ws.end());
      ASSERT_EQ(count_matching(s, b), 1) << q.sent;
      const SyntheticObject* ref = nullptr;
      for (const auto& obj : s.objects)
        if (count_matching(SyntheticScene{"", true, {obj}, {}}, b) == 1) ref = &obj;
      bool any = false;
      for (const auto& obj : s.objects) {
        if (&obj == ref || count_matching(SyntheticScene{"", true, {obj}, {}}, a) == 0) continue;
        EXPECT_GE(std::fabs(obj.cx() - ref->cx()), 6.0f) << "no near-ties: " << q.sent;
        any |= left ? obj.cx() < ref->cx() : obj.cx() > ref->cx();
      }
      EXPECT_EQ(any ? "yes" : "no", q.answer) << q.sent;
      ++checked;
    } else if (q.question_type == "what color is the" || q.question_type == "what shape is the") {
      std::vector<std::string> desc(ws.begin() + 4, ws.end());
      ASSERT_EQ(count_matching(s, desc), 1) << q.sent;  // a unique reference
      std::vector<std::string> with = desc;
      with.push_back(q.answer);  // the referenced object has the answer's colour / shape
      EXPECT_EQ(count_matching(s, with), 1) << q.sent;
      ++checked;
    }
  }
  EXPECT_GT(checked, 500);
  const double n = static_cast<double>(w.questions.size());
  EXPECT_NEAR(text_only / n, o.text_only_fraction, 0.05);
  EXPECT_NEAR(static_cast<double>(yes) / static_cast<double>(yes_no), 0.5, 0.1);
  int64_t top = 0;
  for (const auto& [a, c] : answer_count) top = std::max(top, c);
  EXPECT_LT(top / n, 0.3) << "the majority answer should be a weak baseline";
  for (const char* type : {"what color is the", "what shape is the", "what size is the", "how many", "is there a",
                           "is there a left of", "is there a right of"})
    EXPECT_GT(per_type[type], 20) << type;
}

TEST(SplitMix64, MatchesTheReferenceGenerator) {
  // Vigna's splitmix64.c seeded with 0 outputs these four; output k is splitmix64(k * increment).
  constexpr uint64_t kIncrement = 0x9e3779b97f4a7c15ULL;
  static_assert(splitmix64(0) == 0xe220a8397b1dcdafULL, "usable in constant expressions");
  EXPECT_EQ(splitmix64(kIncrement), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(splitmix64(2 * kIncrement), 0x06c45d188009454fULL);
  EXPECT_EQ(splitmix64(3 * kIncrement), 0xf88bb8a8724c81ecULL);
}

TEST(SyntheticWorld, RendersObjectsInTheirColours) {
  const SyntheticWorld w = make_synthetic_world(tiny(2));
  const SyntheticScene& s = w.scenes.front();
  const std::vector<uint8_t> px = render_synthetic_scene(s, 320, 240);
  ASSERT_EQ(px.size(), 320u * 240u * 3u);
  for (const auto& o : s.objects) {
    const int x = static_cast<int>(o.cx()), y = static_cast<int>((o.box[1] + o.box[3]) / 2 + 2);
    const uint8_t* p = &px[(static_cast<size_t>(y) * 320 + static_cast<size_t>(x)) * 3];
    EXPECT_FALSE(p[0] == p[1] && p[1] == p[2]) << "object centre should be coloured, not the grey floor";
  }
}

TEST_F(SyntheticWorldFilesTest, RoundTripsThroughTheRealLoaders) {
  const SyntheticWorld w = make_synthetic_world(tiny(9));
  const std::string dir = scratch("world");
  const SyntheticWorldFiles f = write_synthetic_world(w, dir);
  EXPECT_EQ(synthetic_world_hash(dir), tiny(9).hash());

  const AnswerVocab vocab = AnswerVocab::load_dir(f.answers_dir);
  EXPECT_EQ(vocab.answers(), w.answers);
  const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(f.vocab);
  EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(w.vocab.size()));
  const FeatureStore store(f.features);
  EXPECT_EQ(store.num_images(), static_cast<int64_t>(w.scenes.size()));
  EXPECT_EQ(store.feature_dim(), 32);
  EXPECT_LE(store.max_boxes(), 8);

  std::map<int64_t, const SyntheticQuestion*> by_id;
  for (const auto& q : w.questions) by_id[q.question_id] = &q;
  int64_t loaded = 0;
  for (const auto& path : {f.train_questions, f.valid_questions}) {
    const VqaQuestions qs = load_lxmert_questions(path, vocab);
    SampleOptions all;
    all.selection.mode = Selection::all;
    const SampleList list = make_sample_list(qs, all, &store);  // every image is in the store
    EXPECT_EQ(list.samples.size(), qs.samples.size());
    for (const Sample& s : qs.samples) {
      const SyntheticQuestion& q = *by_id.at(std::stoll(s.question_id));
      EXPECT_EQ(s.img_id, q.img_id);
      EXPECT_EQ(s.question, q.sent);
      EXPECT_EQ(s.answer_type, q.answer_type);
      EXPECT_EQ(s.question_type, q.question_type);
      EXPECT_EQ(s.label, q.label);
      EXPECT_EQ(s.label_ids.size(), q.label.size());
      EXPECT_EQ((path == f.train_questions), q.train);
      const Encoding enc = tok.encode(s.question, 20);
      EXPECT_EQ(std::count(enc.ids.begin(), enc.ids.end(), tok.unk_id()), 0) << s.question;
      EXPECT_LT(enc.ids.size(), 20u) << "questions fit the demo's 20 tokens untruncated: " << s.question;
      ++loaded;
    }
  }
  EXPECT_EQ(loaded, static_cast<int64_t>(w.questions.size()));

  for (const auto& s : w.scenes) {
    const ImageRecord r = store.read(s.img_id);
    EXPECT_EQ(r.image_w, 320);
    EXPECT_EQ(r.image_h, 240);
    ASSERT_EQ(r.num_boxes, static_cast<int64_t>(s.objects.size()));
    EXPECT_EQ(r.features, s.features);
    for (size_t i = 0; i < s.objects.size(); ++i) {
      for (int k = 0; k < 4; ++k) EXPECT_EQ(r.boxes[i * 4 + k], s.objects[i].box[k]);
      EXPECT_EQ(r.objects_id[i], s.objects[i].shape);
      EXPECT_EQ(r.attrs_id[i], s.objects[i].colour);
    }
    // The rendered scene: a PNG of the canvas size (IHDR width and height, big-endian).
    const std::string png = slurp((fs::path(f.images_dir) / (s.img_id + ".png")).string());
    ASSERT_GT(png.size(), 33u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    auto be32 = [&](size_t at) {
      return (static_cast<uint32_t>(static_cast<uint8_t>(png[at])) << 24) |
             (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 1])) << 16) |
             (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 2])) << 8) | static_cast<uint8_t>(png[at + 3]);
    };
    EXPECT_EQ(be32(16), 320u);
    EXPECT_EQ(be32(20), 240u);
    // ... holding exactly the rendered pixels (PNG is lossless).
    if (s.img_id == w.scenes.front().img_id || s.img_id == w.scenes.back().img_id) {
      const visualize::Image back = visualize::image_read((fs::path(f.images_dir) / (s.img_id + ".png")).string());
      EXPECT_EQ(back.pixels, render_synthetic_scene(s, 320, 240)) << s.img_id;
    }
  }
}

TEST_F(SyntheticWorldFilesTest, SameSeedWritesIdenticalFiles) {
  const std::string a = scratch("world-a"), b = scratch("world-b");
  write_synthetic_world(make_synthetic_world(tiny(4)), a);
  write_synthetic_world(make_synthetic_world(tiny(4)), b);
  for (const char* name : {"train.json", "valid.json", "vocab.txt", "trainval_ans2label.json",
                           "trainval_label2ans.json", "scenes.json", "world.json", "images/synth_valid_000003.png"})
    EXPECT_EQ(slurp((fs::path(a) / name).string()), slurp((fs::path(b) / name).string())) << name;
}

TEST_F(SyntheticWorldFilesTest, IncompleteWorldHasNoHash) {
  const std::string dir = scratch("world-incomplete");
  EXPECT_EQ(synthetic_world_hash(dir), "");
  write_synthetic_world(make_synthetic_world(tiny(1)), dir);
  fs::remove(fs::path(dir) / "features.h5");
  EXPECT_EQ(synthetic_world_hash(dir), "");
}
