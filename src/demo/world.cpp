// The synthetic VQA world (demo/world.hpp). The scenes' PNGs go through the project's one image
// writer, visualize::image_write_png (stb is compiled in src/visualize/image.cpp only).
#include "headprune/demo/world.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "headprune/common/error.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/visualize/image.hpp"

namespace headprune::demo {

namespace fs = std::filesystem;

namespace {

// Bump when the generator's output changes for the same options (invalidates reused worlds and
// the models trained on them).
constexpr int kGeneratorVersion = 1;
constexpr int kAnnotators = 10;
constexpr int kColourDims = 6, kShapeDims = 4, kSizeDims = 2;
constexpr int64_t kCodeDims = kColourDims + kShapeDims + kSizeDims + 4;

// Deterministic randomness from 64-bit MT19937 outputs only (the engine's outputs are fixed by
// the standard; std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t next() { return gen_(); }
  int64_t below(int64_t n) {  // uniform in [0, n), n >= 1 (modulo bias < 2^-56: irrelevant)
    return static_cast<int64_t>(next() % static_cast<uint64_t>(n));
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return uniform() < p; }
  double normal() {  // Box-Muller, one value per call
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[static_cast<size_t>(below(static_cast<int64_t>(v.size())))]; }

 private:
  std::mt19937_64 gen_;
};

// One independent stream per (seed, split, image, purpose).
uint64_t stream_seed(uint64_t seed, bool train, int64_t index, int purpose) {
  return splitmix64(splitmix64(splitmix64(seed) ^ (train ? 0x7472ULL : 0x7661ULL)) ^
                    (static_cast<uint64_t>(index) * 4 + static_cast<uint64_t>(purpose)));
}

const std::vector<std::string> kColours = {"red", "green", "blue", "yellow", "purple", "orange"};
const std::vector<std::string> kShapes = {"circle", "square", "triangle", "diamond"};
const std::vector<std::string> kShapesPlural = {"circles", "squares", "triangles", "diamonds"};
const std::vector<std::string> kSizes = {"small", "large"};
const uint8_t kRgb[6][3] = {{214, 48, 49}, {46, 160, 67}, {36, 92, 214}, {240, 196, 25}, {136, 72, 180}, {245, 128, 32}};

std::string article(const std::string& next_word) {
  return (!next_word.empty() && std::string("aeiou").find(next_word[0]) != std::string::npos) ? "an" : "a";
}

// ---- scenes -----------------------------------------------------------------------------

SyntheticScene make_scene(const SyntheticWorldOptions& o, bool train, int64_t index) {
  Rng rng(stream_seed(o.seed, train, index, 0));
  SyntheticScene scene;
  char id[64];
  std::snprintf(id, sizeof id, "synth_%s_%06lld", train ? "train" : "valid", static_cast<long long>(index));
  scene.img_id = id;
  scene.train = train;
  const double W = static_cast<double>(o.canvas_w), H = static_cast<double>(o.canvas_h);
  const double unit = std::min(W, H);
  const double half[2] = {std::round(unit * 0.055), std::round(unit * 0.1)};
  const int64_t n = o.min_objects + rng.below(o.max_objects - o.min_objects + 1);
  const double gap = 4;
  for (int64_t k = 0; k < n; ++k) {
    SyntheticObject obj;
    obj.colour = static_cast<int>(rng.below(kColourDims));
    obj.shape = static_cast<int>(rng.below(kShapeDims));
    obj.size = static_cast<int>(rng.below(kSizeDims));
    const double r = half[obj.size];
    bool placed = false;
    for (int attempt = 0; attempt < 500 && !placed; ++attempt) {
      const double cx = r + 2 + rng.uniform() * (W - 2 * r - 4);
      const double cy = r + 2 + rng.uniform() * (H - 2 * r - 4);
      std::array<float, 4> box = {static_cast<float>(std::round(cx - r)), static_cast<float>(std::round(cy - r)),
                                  static_cast<float>(std::round(cx + r)), static_cast<float>(std::round(cy + r))};
      bool clear = true;
      for (const auto& other : scene.objects)
        if (box[0] < other.box[2] + gap && other.box[0] < box[2] + gap && box[1] < other.box[3] + gap &&
            other.box[1] < box[3] + gap)
          clear = false;
      if (clear) {
        obj.box = box;
        placed = true;
      }
    }
    HP_ASSERT(placed, "cannot place an object on the synthetic canvas");
    scene.objects.push_back(obj);
  }
  // Region features: codes + box + noise.
  const int64_t D = o.feature_dim;
  scene.features.assign(static_cast<size_t>(n * D), 0.0f);
  for (int64_t k = 0; k < n; ++k) {
    const SyntheticObject& obj = scene.objects[static_cast<size_t>(k)];
    float* f = scene.features.data() + k * D;
    f[obj.colour] = 1.0f;
    f[kColourDims + obj.shape] = 1.0f;
    f[kColourDims + kShapeDims + obj.size] = 1.0f;
    const int b = kColourDims + kShapeDims + kSizeDims;
    f[b + 0] = obj.box[0] / static_cast<float>(W);
    f[b + 1] = obj.box[1] / static_cast<float>(H);
    f[b + 2] = obj.box[2] / static_cast<float>(W);
    f[b + 3] = obj.box[3] / static_cast<float>(H);
    for (int64_t d = 0; d < D; ++d) f[d] += static_cast<float>(o.feature_noise * rng.normal());
  }
  return scene;
}

// ---- questions --------------------------------------------------------------------------

struct Draft {
  std::string sent, answer, answer_type, question_type;
  std::vector<std::string> confusions;  // what a wrong annotator says instead
  bool needs_image = true;
};

// A predicate over objects and its words ("red circle", "small thing", ...): -1 = any.
struct Desc {
  int colour = -1, shape = -1, size = -1;
  bool matches(const SyntheticObject& o) const {
    return (colour < 0 || o.colour == colour) && (shape < 0 || o.shape == shape) && (size < 0 || o.size == size);
  }
  std::string words() const {
    std::string s;
    if (size >= 0) s += kSizes[static_cast<size_t>(size)] + " ";
    if (colour >= 0) s += kColours[static_cast<size_t>(colour)] + " ";
    s += shape >= 0 ? kShapes[static_cast<size_t>(shape)] : "thing";
    return s;
  }
  int64_t count(const SyntheticScene& s) const {
    return std::count_if(s.objects.begin(), s.objects.end(), [&](const SyntheticObject& o) { return matches(o); });
  }
};

Desc desc_of(const SyntheticObject& o, bool colour, bool shape, bool size) {
  return {colour ? o.colour : -1, shape ? o.shape : -1, size ? o.size : -1};
}

std::vector<std::string> others(const std::vector<std::string>& pool, const std::string& except) {
  std::vector<std::string> out;
  for (const auto& p : pool)
    if (p != except) out.push_back(p);
  return out;
}

std::vector<std::string> number_confusions(int64_t n) {
  std::vector<std::string> out;
  if (n > 0) out.push_back(std::to_string(n - 1));
  out.push_back(std::to_string(n + 1));
  return out;
}

// The first description in `options` (built from object `o`) that matches exactly one object.
bool unique_desc(const SyntheticScene& s, const std::vector<Desc>& options, Desc* out) {
  for (const Desc& d : options)
    if (d.count(s) == 1) {
      *out = d;
      return true;
    }
  return false;
}

// "what <attribute> is the <description>?" about one object, described without the attribute asked
// for (first without its size, then with it): the answer is the object's value of the attribute,
// the confusions the attribute's other values.
bool q_attribute(const SyntheticScene& s, Rng& rng, Draft* q, const std::string& attribute,
                 int SyntheticObject::*field, const std::vector<std::string>& values) {
  const auto& o = rng.pick(s.objects);
  const bool colour = attribute != "color", shape = attribute != "shape";
  std::vector<Desc> options = {desc_of(o, colour, shape, false)};
  if (attribute != "size") options.push_back(desc_of(o, colour, shape, true));
  Desc d;
  if (!unique_desc(s, options, &d)) return false;
  q->question_type = "what " + attribute + " is the";
  q->sent = q->question_type + " " + d.words() + "?";
  q->answer = values[static_cast<size_t>(o.*field)];
  q->answer_type = "other";
  q->confusions = others(values, q->answer);
  return true;
}

bool q_colour(const SyntheticScene& s, Rng& rng, Draft* q) {
  return q_attribute(s, rng, q, "color", &SyntheticObject::colour, kColours);
}
bool q_shape(const SyntheticScene& s, Rng& rng, Draft* q) {
  return q_attribute(s, rng, q, "shape", &SyntheticObject::shape, kShapes);
}
bool q_size(const SyntheticScene& s, Rng& rng, Draft* q) {
  return q_attribute(s, rng, q, "size", &SyntheticObject::size, kSizes);
}

bool q_count(const SyntheticScene& s, Rng& rng, Draft* q) {
  const int64_t kind = rng.below(3);  // colour, shape, colour + shape
  Desc d;
  if (rng.chance(0.85)) {
    d = desc_of(rng.pick(s.objects), kind != 1, kind != 0, false);
  } else {
    d.colour = kind != 1 ? static_cast<int>(rng.below(kColourDims)) : -1;
    d.shape = kind != 0 ? static_cast<int>(rng.below(kShapeDims)) : -1;
  }
  const int64_t n = d.count(s);
  std::string what = d.shape >= 0 ? (d.colour >= 0 ? kColours[static_cast<size_t>(d.colour)] + " " : std::string()) +
                                        kShapesPlural[static_cast<size_t>(d.shape)]
                                  : kColours[static_cast<size_t>(d.colour)] + " things";
  q->sent = "how many " + what + " are there?";
  q->answer = std::to_string(n);
  q->answer_type = "number";
  q->question_type = "how many";
  q->confusions = number_confusions(n);
  return true;
}

bool q_exist(const SyntheticScene& s, Rng& rng, Draft* q) {
  Desc d;
  const bool want_yes = rng.chance(0.5);
  if (want_yes) {
    d = desc_of(rng.pick(s.objects), true, true, false);
  } else {
    bool found = false;
    for (int attempt = 0; attempt < 50 && !found; ++attempt) {
      d = {static_cast<int>(rng.below(kColourDims)), static_cast<int>(rng.below(kShapeDims)), -1};
      found = d.count(s) == 0;
    }
    if (!found) return false;
  }
  const std::string words = d.words();
  q->sent = "is there " + article(words) + " " + words + "?";
  q->answer = d.count(s) > 0 ? "yes" : "no";
  q->answer_type = "yes/no";
  q->question_type = "is there a";
  q->confusions = {q->answer == "yes" ? "no" : "yes"};
  return true;
}

bool q_relation(const SyntheticScene& s, Rng& rng, Draft* q) {
  const auto& ref = rng.pick(s.objects);
  Desc b;
  const int64_t ref_kind = rng.below(3);
  std::vector<Desc> ref_options = ref_kind == 0   ? std::vector<Desc>{desc_of(ref, false, true, false), desc_of(ref, true, true, false)}
                                  : ref_kind == 1 ? std::vector<Desc>{desc_of(ref, true, false, false), desc_of(ref, true, true, false)}
                                                  : std::vector<Desc>{desc_of(ref, true, true, false)};
  if (!unique_desc(s, ref_options, &b)) return false;
  const bool left = rng.chance(0.5);
  const bool want_yes = rng.chance(0.5);
  const float near = 6.0f;
  auto side = [&](const SyntheticObject& o) { return left ? o.cx() < ref.cx() : o.cx() > ref.cx(); };
  for (int attempt = 0; attempt < 30; ++attempt) {
    Desc a;
    const int64_t kind = rng.below(3);
    if (want_yes) {
      std::vector<SyntheticObject> candidates;
      for (const auto& o : s.objects)
        if (!b.matches(o) && side(o)) candidates.push_back(o);
      if (candidates.empty()) return false;
      a = desc_of(rng.pick(candidates), kind != 1, kind != 0, false);
    } else {
      a = {kind != 1 ? static_cast<int>(rng.below(kColourDims)) : -1,
           kind != 0 ? static_cast<int>(rng.below(kShapeDims)) : -1, -1};
    }
    bool answer = false, ambiguous = false;
    for (const auto& o : s.objects) {
      if (b.matches(o) || !a.matches(o)) continue;
      if (std::fabs(o.cx() - ref.cx()) < near) ambiguous = true;
      if (side(o)) answer = true;
    }
    if (ambiguous || answer != want_yes) continue;
    const std::string aw = a.words();
    q->sent = "is there " + article(aw) + " " + aw + (left ? " left of the " : " right of the ") + b.words() + "?";
    q->answer = answer ? "yes" : "no";
    q->answer_type = "yes/no";
    q->question_type = left ? "is there a left of" : "is there a right of";
    q->confusions = {answer ? "no" : "yes"};
    return true;
  }
  return false;
}

void q_text(Rng& rng, Draft* q) {
  q->needs_image = false;
  switch (rng.below(5)) {
    case 0: {  // sides
      const int64_t shape = rng.below(kShapeDims);
      static const int sides[4] = {0, 4, 3, 4};
      q->sent = "how many sides does a " + kShapes[static_cast<size_t>(shape)] + " have?";
      q->answer = std::to_string(sides[shape]);
      q->answer_type = "number";
      q->question_type = "how many sides";
      q->confusions = number_confusions(sides[shape]);
      break;
    }
    case 1: {  // opposites
      static const std::vector<std::pair<std::string, std::string>> pairs = {
          {"left", "right"}, {"right", "left"}, {"small", "large"}, {"large", "small"}, {"yes", "no"}, {"no", "yes"}};
      const auto& [word, answer] = rng.pick(pairs);
      q->sent = "what is the opposite of " + word + "?";
      q->answer = answer;
      q->answer_type = "other";
      q->question_type = "what is the opposite of";
      q->confusions = {word};
      break;
    }
    case 2: {  // colour mixing
      static const std::vector<std::array<std::string, 3>> mixes = {
          {"red", "blue", "purple"}, {"blue", "yellow", "green"}, {"red", "yellow", "orange"}};
      const auto& m = rng.pick(mixes);
      const bool swap = rng.chance(0.5);
      q->sent = "what color do you get when you mix " + m[swap ? 1 : 0] + " and " + m[swap ? 0 : 1] + "?";
      q->answer = m[2];
      q->answer_type = "other";
      q->question_type = "what color do you get";
      q->confusions = others(kColours, m[2]);
      break;
    }
    case 3: {  // world knowledge
      static const std::vector<std::pair<std::string, std::string>> facts = {
          {"sky", "blue"}, {"grass", "green"}, {"a banana", "yellow"}, {"a tomato", "red"}, {"a plum", "purple"},
          {"an orange", "orange"}};
      const auto& [thing, colour] = rng.pick(facts);
      q->sent = "what color is " + (thing == "sky" || thing == "grass" ? "the " + thing : thing) + " usually?";
      q->answer = colour;
      q->answer_type = "other";
      q->question_type = "what color is";
      q->confusions = others(kColours, colour);
      break;
    }
    default: {  // categories
      const bool ask_colour_word = rng.chance(0.5);
      const bool category_colour = rng.chance(0.5);
      const std::string word = ask_colour_word ? rng.pick(kColours) : rng.pick(kShapes);
      q->sent = "is " + (ask_colour_word ? word : article(word) + " " + word) + " a " +
                (category_colour ? "color" : "shape") + "?";
      q->answer = ask_colour_word == category_colour ? "yes" : "no";
      q->answer_type = "yes/no";
      q->question_type = "is";
      q->confusions = {q->answer == "yes" ? "no" : "yes"};
      break;
    }
  }
}

// 10 annotators; each wrong with probability `error`, saying one of the confusions.
std::map<std::string, double> annotate(const Draft& q, double error, Rng& rng) {
  std::map<std::string, int64_t> counts;
  for (int a = 0; a < kAnnotators; ++a) {
    if (!q.confusions.empty() && rng.chance(error)) ++counts[rng.pick(q.confusions)];
    else ++counts[q.answer];
  }
  std::map<std::string, double> label;
  for (const auto& [answer, count] : counts) label[answer] = data::soft_score(count);
  return label;
}

void make_questions(const SyntheticWorldOptions& o, const SyntheticScene& scene, int64_t index,
                    std::vector<SyntheticQuestion>& out) {
  Rng rng(stream_seed(o.seed, scene.train, index, 1));
  using Maker = bool (*)(const SyntheticScene&, Rng&, Draft*);
  // Image templates and their weights (out of 100).
  static const std::vector<std::pair<Maker, int>> makers = {{q_colour, 20}, {q_shape, 15}, {q_size, 10},
                                                            {q_count, 20},  {q_exist, 15}, {q_relation, 20}};
  std::set<std::string> asked;
  int64_t k = 0;
  for (int attempt = 0; attempt < 50 * o.questions_per_image && k < o.questions_per_image; ++attempt) {
    Draft q;
    if (rng.chance(o.text_only_fraction)) {
      q_text(rng, &q);
    } else {
      int64_t r = rng.below(100);
      Maker maker = makers.back().first;
      for (const auto& [m, w] : makers) {
        if (r < w) {
          maker = m;
          break;
        }
        r -= w;
      }
      if (!maker(scene, rng, &q)) continue;
    }
    if (!asked.insert(q.sent).second) continue;
    SyntheticQuestion sq;
    sq.question_id = (scene.train ? 100000000 : 200000000) + index * 100 + k;
    sq.img_id = scene.img_id;
    sq.sent = q.sent;
    sq.answer = q.answer;
    sq.label = annotate(q, o.annotator_error, rng);
    sq.answer_type = q.answer_type;
    sq.question_type = q.question_type;
    sq.needs_image = q.needs_image;
    sq.train = scene.train;
    out.push_back(std::move(sq));
    ++k;
  }
}

std::vector<std::string> all_answers() {
  std::vector<std::string> a = {"yes", "no"};
  for (int n = 0; n <= 9; ++n) a.push_back(std::to_string(n));
  for (const auto& c : kColours) a.push_back(c);
  for (const auto& s : kShapes) a.push_back(s);
  for (const auto& s : kSizes) a.push_back(s);
  a.push_back("left");
  a.push_back("right");
  return a;
}

std::vector<std::string> all_words() {
  std::set<std::string> words = {"what", "color", "is", "the", "shape", "size", "thing", "how", "many", "things",
                                 "are", "there", "a", "an", "left", "right", "of", "sides", "does", "have",
                                 "opposite", "do", "you", "get", "when", "mix", "and", "sky", "grass", "banana",
                                 "tomato", "plum", "orange", "usually", "yes", "no", "?"};
  for (const auto* list : {&kColours, &kShapes, &kShapesPlural, &kSizes})
    for (const auto& w : *list) words.insert(w);
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  vocab.insert(vocab.end(), words.begin(), words.end());
  return vocab;
}

std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeFailure(path + ": cannot create the file (check the folder's permissions and free space)");
  out << text;
  if (!out.flush()) throw RuntimeFailure(path + ": write failed (disk full?)");
}

std::string questions_json(const SyntheticWorld& w, bool train) {
  std::string s = "[\n";
  bool first = true;
  for (const auto& q : w.questions) {
    if (q.train != train) continue;
    nlohmann::json rec = {{"question_id", q.question_id}, {"img_id", q.img_id},           {"sent", q.sent},
                          {"label", q.label},             {"answer_type", q.answer_type}, {"question_type", q.question_type}};
    s += (first ? "" : ",\n") + rec.dump();
    first = false;
  }
  return s + "\n]\n";
}

}  // namespace

const std::vector<std::string>& synthetic_colours() { return kColours; }
const std::vector<std::string>& synthetic_shapes() { return kShapes; }
const std::vector<std::string>& synthetic_sizes() { return kSizes; }

void SyntheticWorldOptions::check() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UserError("synthetic world: " + what);
  };
  need(train_images >= 1, "train_images must be at least 1");
  need(valid_images >= 1, "valid_images must be at least 1");
  need(questions_per_image >= 1 && questions_per_image <= 99, "questions_per_image must be in 1..99");
  need(feature_dim >= kCodeDims, "feature_dim must be at least " + std::to_string(kCodeDims));
  need(min_objects >= 2 && min_objects <= max_objects && max_objects <= 8,
       "objects per scene must satisfy 2 <= min_objects <= max_objects <= 8");
  need(canvas_w >= 160 && canvas_h >= 120 && canvas_w <= 4096 && canvas_h <= 4096,
       "canvas must be between 160x120 and 4096x4096 pixels");
  need(feature_noise >= 0 && feature_noise <= 10, "feature_noise must be in [0, 10]");
  need(annotator_error >= 0 && annotator_error <= 0.5, "annotator_error must be in [0, 0.5]");
  need(text_only_fraction >= 0 && text_only_fraction <= 1, "text_only_fraction must be in [0, 1]");
  need(train_images + valid_images <= 1000000, "at most 1000000 images");
}

std::string SyntheticWorldOptions::hash() const {
  std::ostringstream s;
  s << "synthetic-v" << kGeneratorVersion << ";seed=" << seed << ";train=" << train_images << ";valid=" << valid_images
    << ";q=" << questions_per_image << ";dim=" << feature_dim << ";objects=" << min_objects << "-" << max_objects
    << ";canvas=" << canvas_w << "x" << canvas_h << ";noise=" << fmt_double(feature_noise)
    << ";error=" << fmt_double(annotator_error) << ";text=" << fmt_double(text_only_fraction)
    << ";images=" << write_images;
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : s.str()) h = (h ^ c) * 0x100000001b3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

SyntheticWorld make_synthetic_world(const SyntheticWorldOptions& options) {
  options.check();
  SyntheticWorld w;
  w.options = options;
  w.vocab = all_words();
  w.answers = all_answers();
  for (bool train : {true, false}) {
    const int64_t n = train ? options.train_images : options.valid_images;
    for (int64_t i = 0; i < n; ++i) {
      w.scenes.push_back(make_scene(options, train, i));
      make_questions(options, w.scenes.back(), i, w.questions);
    }
  }
  return w;
}

std::vector<uint8_t> render_synthetic_scene(const SyntheticScene& scene, int64_t canvas_w, int64_t canvas_h) {
  std::vector<uint8_t> px(static_cast<size_t>(canvas_w * canvas_h * 3));
  for (int64_t y = 0; y < canvas_h; ++y)
    for (int64_t x = 0; x < canvas_w; ++x) {
      uint8_t v = ((x / 40 + y / 40) % 2) ? 236 : 242;  // a faint checkerboard floor
      uint8_t* p = &px[static_cast<size_t>((y * canvas_w + x) * 3)];
      p[0] = p[1] = p[2] = v;
    }
  for (const auto& o : scene.objects) {
    const double cx = (o.box[0] + o.box[2]) / 2.0, cy = (o.box[1] + o.box[3]) / 2.0, r = (o.box[2] - o.box[0]) / 2.0;
    auto inside = [&](double x, double y) {
      const double dx = x - cx, dy = y - cy;
      switch (o.shape) {
        case 0: return dx * dx + dy * dy <= r * r;
        case 1: return std::fabs(dx) <= r && std::fabs(dy) <= r;
        case 2: return dy >= -r && dy <= r && std::fabs(dx) <= (dy + r) / 2.0;
        default: return std::fabs(dx) + std::fabs(dy) <= r;
      }
    };
    const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(o.box[0]) - 1);
    const int64_t x1 = std::min<int64_t>(canvas_w - 1, static_cast<int64_t>(o.box[2]) + 1);
    const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(o.box[1]) - 1);
    const int64_t y1 = std::min<int64_t>(canvas_h - 1, static_cast<int64_t>(o.box[3]) + 1);
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        const double fx = x + 0.5, fy = y + 0.5;
        if (!inside(fx, fy)) continue;
        const bool edge = !inside(fx - 1.5, fy) || !inside(fx + 1.5, fy) || !inside(fx, fy - 1.5) || !inside(fx, fy + 1.5);
        uint8_t* p = &px[static_cast<size_t>((y * canvas_w + x) * 3)];
        for (int c = 0; c < 3; ++c) p[c] = edge ? static_cast<uint8_t>(kRgb[o.colour][c] / 2) : kRgb[o.colour][c];
      }
  }
  return px;
}

SyntheticWorldFiles synthetic_world_files(const std::string& dir) {
  SyntheticWorldFiles f;
  const fs::path d(dir);
  f.dir = dir;
  f.train_questions = (d / "train.json").string();
  f.valid_questions = (d / "valid.json").string();
  f.features = (d / "features.h5").string();
  f.vocab = (d / "vocab.txt").string();
  f.answers_dir = dir;
  f.images_dir = (d / "images").string();
  f.scenes = (d / "scenes.json").string();
  f.world = (d / "world.json").string();
  return f;
}

SyntheticWorldFiles write_synthetic_world(const SyntheticWorld& w, const std::string& dir) {
  const SyntheticWorldOptions& o = w.options;
  SyntheticWorldFiles f = synthetic_world_files(dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeFailure(dir + ": cannot create the folder (" + ec.message() + ")");
  fs::remove(f.world, ec);  // incomplete until the end

  // Vocabulary, answers, questions.
  std::string vocab;
  for (const auto& t : w.vocab) vocab += t + "\n";
  write_text(f.vocab, vocab);
  nlohmann::json ans2label = nlohmann::json::object();
  for (size_t i = 0; i < w.answers.size(); ++i) ans2label[w.answers[i]] = i;
  write_text((fs::path(dir) / "trainval_ans2label.json").string(), ans2label.dump(1) + "\n");
  write_text((fs::path(dir) / "trainval_label2ans.json").string(), nlohmann::json(w.answers).dump(1) + "\n");
  write_text(f.train_questions, questions_json(w, true));
  write_text(f.valid_questions, questions_json(w, false));

  // Region features of every scene.
  {
    data::FeatureStoreWriter writer(f.features,
                                    {0, "synthetic world (seed " + std::to_string(o.seed) + ", " + o.hash() + ")"});
    data::ImageRecord r;
    for (const auto& s : w.scenes) {
      const int64_t n = static_cast<int64_t>(s.objects.size());
      r.img_id = s.img_id;
      r.image_w = o.canvas_w;
      r.image_h = o.canvas_h;
      r.num_boxes = n;
      r.feature_dim = o.feature_dim;
      r.features = s.features;
      r.boxes.clear();
      r.objects_id.clear();
      r.attrs_id.clear();
      for (const auto& obj : s.objects) {
        r.boxes.insert(r.boxes.end(), obj.box.begin(), obj.box.end());
        r.objects_id.push_back(obj.shape);
        r.attrs_id.push_back(obj.colour);
      }
      r.objects_conf.assign(static_cast<size_t>(n), 1.0f);
      r.attrs_conf.assign(static_cast<size_t>(n), 1.0f);
      writer.append(r, f.features);
    }
    writer.finish();
  }

  // Ground truth and images.
  nlohmann::json scenes = nlohmann::json::array();
  for (const auto& s : w.scenes) {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& obj : s.objects)
      objects.push_back({{"colour", kColours[static_cast<size_t>(obj.colour)]},
                         {"shape", kShapes[static_cast<size_t>(obj.shape)]},
                         {"size", kSizes[static_cast<size_t>(obj.size)]},
                         {"box", obj.box}});
    scenes.push_back({{"img_id", s.img_id}, {"split", s.train ? "train" : "valid"}, {"objects", objects}});
  }
  write_text(f.scenes, scenes.dump() + "\n");
  if (o.write_images) {
    fs::create_directories(f.images_dir, ec);
    if (ec) throw RuntimeFailure(f.images_dir + ": cannot create the folder (" + ec.message() + ")");
    // Fast settings (thousands of scenes): "sub" suits flat colours without trying every filter.
    visualize::PngOptions png;
    png.compression_level = 1;
    png.filter = 1;
    visualize::Image image;
    image.width = static_cast<int>(o.canvas_w);
    image.height = static_cast<int>(o.canvas_h);
    for (const auto& s : w.scenes) {
      image.pixels = render_synthetic_scene(s, o.canvas_w, o.canvas_h);
      visualize::image_write_png(image, (fs::path(f.images_dir) / (s.img_id + ".png")).string(), png);
    }
  }

  int64_t train_q = 0, text_only = 0;
  for (const auto& q : w.questions) {
    train_q += q.train;
    text_only += !q.needs_image;
  }
  nlohmann::json world = {
      {"format", "headprune-synthetic-world"},
      {"generator_version", kGeneratorVersion},
      {"hash", o.hash()},
      {"options",
       {{"seed", o.seed},
        {"train_images", o.train_images},
        {"valid_images", o.valid_images},
        {"questions_per_image", o.questions_per_image},
        {"feature_dim", o.feature_dim},
        {"min_objects", o.min_objects},
        {"max_objects", o.max_objects},
        {"canvas_w", o.canvas_w},
        {"canvas_h", o.canvas_h},
        {"feature_noise", o.feature_noise},
        {"annotator_error", o.annotator_error},
        {"text_only_fraction", o.text_only_fraction},
        {"write_images", o.write_images}}},
      {"counts",
       {{"train_questions", train_q},
        {"valid_questions", static_cast<int64_t>(w.questions.size()) - train_q},
        {"text_only_questions", text_only},
        {"images", w.scenes.size()},
        {"vocab", w.vocab.size()},
        {"answers", w.answers.size()}}}};
  write_text(f.world, world.dump(1) + "\n");
  return f;
}

std::string synthetic_world_hash(const std::string& dir) {
  const SyntheticWorldFiles f = synthetic_world_files(dir);
  std::ifstream in(f.world);
  if (!in) return "";
  try {
    nlohmann::json w = nlohmann::json::parse(in);
    for (const auto& p : {f.train_questions, f.valid_questions, f.features, f.vocab})
      if (!fs::exists(p)) return "";
    if (w.value("format", "") != "headprune-synthetic-world") return "";
    return w.value("hash", "");
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

}  // namespace headprune::demo
