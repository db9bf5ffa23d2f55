// ctest-labels: fast fixture
// Visualisations of pruned models (issue 10): the region heatmap rule (max over covering boxes,
// min-max normalised, multiplied into the image; clipping; top boxes), PNG I/O, the token HTML
// and LaTeX (escaping), the relevance of compute_relevance() against the seed's visualisation
// numbers in the fixtures, and `visualize` end to end on a generated image with known boxes and
// the fixture models (panel sizes, brightest box, black background, every token with its value,
// missing images, the command line).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "fixtures.hpp"
#include "headprune/common/error.hpp"
#include "headprune/models/families.hpp"
#include "headprune/config/config.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/h5_tensor.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/visualize/heatmap.hpp"
#include "headprune/visualize/image.hpp"
#include "headprune/visualize/relevance.hpp"
#include "headprune/visualize/render.hpp"
#include "headprune/visualize/tokens.hpp"
#include "headprune/visualize/visualize.hpp"
#include "testing.hpp"

using namespace headprune;
using namespace headprune::visualize;
namespace fs = std::filesystem;
namespace hptest = headprune::testing;

namespace {

using headprune::testing::user_error;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int brightness(const Image& img, int x, int y) {
  const uint8_t* p = img.at(x, y);
  return p[0] + p[1] + p[2];
}

bool is_black(const Image& img, int x, int y) { return brightness(img, x, y) == 0; }

// ---- the generated world: one image with known boxes, the fixture models' 12 answers ----------
constexpr Rgb kBase{200, 180, 160};
constexpr int kW = 320, kH = 240;
const std::vector<std::string> kAnswers = {"yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "dog"};
// Disjoint boxes, large enough that outlines and rank tabs never reach their centres; the area
// right of x = 310 and below y = 230 (and between the boxes) is covered by none.
const std::vector<Box> kBoxes = {{10, 10, 90, 90}, {110, 20, 200, 100}, {220, 30, 310, 120}, {20, 130, 150, 230}};

data::ImageRecord record(const std::string& id, const std::vector<Box>& boxes, uint32_t seed) {
  data::ImageRecord r;
  r.img_id = id;
  r.image_h = kH;
  r.image_w = kW;
  r.num_boxes = static_cast<int64_t>(boxes.size());
  r.feature_dim = 24;
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t i = 0; i < r.num_boxes * r.feature_dim; ++i) r.features.push_back(normal(gen));
  for (const Box& b : boxes) r.boxes.insert(r.boxes.end(), {b.x1, b.y1, b.x2, b.y2});
  for (int64_t i = 0; i < r.num_boxes; ++i) {
    r.objects_id.push_back(i);
    r.objects_conf.push_back(1.f);
    r.attrs_id.push_back(0);
    r.attrs_conf.push_back(1.f);
  }
  return r;
}

struct World {
  std::string dir, questions, features, answers, images;
};

// vis_img_0: an image file (uniform kBase) and features; vis_img_1: features only (a box partly
// outside the image); vis_img_2: neither.
World make_world(const std::string& tag) {
  World w;
  w.dir = hptest::scratch_dir(tag);
  w.answers = w.dir + "/answers";
  w.images = w.dir + "/images";
  fs::create_directories(w.answers);
  fs::create_directories(w.images);
  nlohmann::json a2l = nlohmann::json::object();
  for (size_t i = 0; i < kAnswers.size(); ++i) a2l[kAnswers[i]] = i;
  std::ofstream(w.answers + "/trainval_ans2label.json") << a2l.dump();
  std::ofstream(w.answers + "/trainval_label2ans.json") << nlohmann::json(kAnswers).dump();
  nlohmann::json q = nlohmann::json::array();
  auto add = [&](int id, const std::string& img, const std::string& sent, const std::string& ans) {
    q.push_back({{"question_id", id}, {"img_id", img}, {"sent", sent}, {"label", {{ans, 1.0}}}, {"answer_type", "other"},
                 {"question_type", "what"}});
  };
  add(1000, "vis_img_0", "what color is the dog?", "white");
  add(1001, "vis_img_0", "is the # & $ % sign red?", "yes");
  add(1002, "vis_img_1", "how many people are there?", "2");
  add(1003, "vis_img_2", "is it sunny?", "no");
  w.questions = w.dir + "/questions.json";
  std::ofstream(w.questions) << q.dump(1);
  w.features = w.dir + "/features.h5";
  data::FeatureStoreWriter writer(w.features, {});
  writer.append(record("vis_img_0", kBoxes, 1), "test");
  writer.append(record("vis_img_1", {{-30, -20, 100, 80}, {150, 100, 400, 300}, {40, 150, 120, 200}}, 2), "test");
  writer.finish();
  image_write_png(image_canvas(kW, kH, kBase), w.images + "/vis_img_0.png");
  return w;
}

config::Config world_config(const World& w, const std::string& family, const std::string& extra = "") {
  std::ostringstream y;
  y << "name: vis_test\nprecision: fp64\n"
    << "model: {family: " << family << ", path: " << hptest::data_path(family) << "}\n"
    << "data: {questions: " << w.questions << ", features: " << w.features << ", answers: " << w.answers
    << ", image_root: " << w.images << "}\n"
    << "output: {path: " << w.dir << "/unused.h5}\n"
    << "visualize: {samples: [1000, 1001], out_dir: " << w.dir << "/vis}\n";
  std::vector<std::string> overrides;
  std::istringstream ex(extra);
  for (std::string o; ex >> o;) overrides.push_back(o);
  return config::load_config_text(y.str(), "test", overrides);
}

}  // namespace

// ---- heatmap rule ------------------------------------------------------------------------------

TEST(Heatmap, PixelsTakeTheLargestRelevanceOfTheirBoxesNormalised) {
  const Image base = image_canvas(100, 80, {200, 100, 50});
  // A and B overlap; C sticks out of the image on the left and at the bottom; D lies outside.
  const std::vector<Box> boxes = {{10, 10, 40, 40}, {30, 30, 70, 60}, {-20.5f, 50, 30, 200}, {150, 90, 300, 300}};
  const std::vector<double> rel = {0.2, 1.0, 0.5, 0.9};
  HeatmapStyle plain;
  plain.top_k = 0;
  const Image out = relevance_heatmap(base, boxes, rel, plain);
  ASSERT_EQ(out.width, 100);
  ASSERT_EQ(out.height, 80);
  auto px = [&](int x, int y) { return out.rgb(x, y); };
  EXPECT_EQ(px(50, 45).r, 200);  // B alone: the most relevant, unchanged
  EXPECT_EQ(px(50, 45).b, 50);
  EXPECT_EQ(px(35, 35).r, 200);  // A and B: the larger
  EXPECT_EQ(px(20, 20).r, 40);   // A alone: 0.2 of the image
  EXPECT_EQ(px(20, 20).g, 20);
  EXPECT_EQ(px(5, 70).r, 100);   // C, clipped to the image: 0.5
  EXPECT_EQ(px(0, 79).r, 100);
  EXPECT_EQ(px(90, 5).r, 0);     // no box
  EXPECT_EQ(px(99, 79).r, 0);    // D is outside the image: nothing drawn
  // Boxes are cut as the seed slices them: columns int(x1) .. int(x2)-1.
  EXPECT_EQ(px(69, 45).r, 200);
  EXPECT_EQ(px(70, 45).r, 0);
  Rect r = box_pixels(boxes[2], 100, 80);
  EXPECT_EQ(r.x0, 0);
  EXPECT_EQ(r.x1, 30);
  EXPECT_EQ(r.y1, 80);
  r = box_pixels(boxes[3], 100, 80);
  EXPECT_EQ(r.x1 - r.x0, 0);
}

TEST(Heatmap, TopBoxesAreOutlinedInsideTheirBoxesOnly) {
  const Image base = image_canvas(200, 160, {100, 100, 100});
  const std::vector<Box> boxes = {{10, 10, 60, 60}, {100, 20, 180, 90}, {20, 100, 90, 150}};
  const std::vector<double> rel = {0.3, 0.9, 0.0};
  const Image out = relevance_heatmap(base, boxes, rel);  // top 5, but box 2 has relevance 0
  const HeatmapStyle style;
  EXPECT_EQ(out.rgb(100, 50).r, style.outline.r);  // left edge of the best box
  EXPECT_EQ(out.rgb(35, 59).g, style.outline.g);   // bottom edge of the second
  EXPECT_EQ(out.rgb(20, 125).r, 0);                // relevance 0: black, not outlined
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      bool covered = false;
      for (const Box& b : boxes) {
        const Rect r = box_pixels(b, out.width, out.height);
        covered |= x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1;
      }
      if (!covered) ASSERT_TRUE(is_black(out, x, y)) << x << "," << y;
    }
  EXPECT_EQ(top_boxes({0.3, 0.9, 0.0, 0.9, NAN}, 3), (std::vector<int>{1, 3, 0}));
}

TEST(Heatmap, ConstantOrNonFiniteRelevanceGivesABlackImage) {
  const Image base = image_canvas(50, 40, {255, 255, 255});
  const std::vector<Box> boxes = {{0, 0, 50, 40}, {5, 5, 20, 20}};
  for (const auto& rel : {std::vector<double>{0.0, 0.0}, std::vector<double>{NAN, INFINITY}}) {
    const Image out = relevance_heatmap(base, boxes, rel);
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x) ASSERT_TRUE(is_black(out, x, y));
  }
}

// ---- image I/O and text ------------------------------------------------------------------------

TEST(Image, PngRoundTripsAndBadFilesAreClearErrors) {
  const std::string dir = hptest::scratch_dir("vis-png");
  Image img = image_canvas(33, 17, {1, 2, 3});
  fill_rect(img, {5, 5, 10, 12}, {250, 128, 7});
  draw_text(img, 12, 2, "Ok 40%", 1, {9, 9, 9});
  image_write_png(img, dir + "/a.png");
  const Image back = image_read(dir + "/a.png");
  ASSERT_EQ(back.width, 33);
  ASSERT_EQ(back.height, 17);
  EXPECT_EQ(back.pixels, img.pixels);
  EXPECT_EQ(user_error([&] { image_read(dir + "/none.jpg"); }), dir + "/none.jpg: image file not found");
  std::ofstream(dir + "/bad.jpg") << "not a jpeg";
  const std::string e = user_error([&] { image_read(dir + "/bad.jpg"); });
  EXPECT_EQ(e.rfind(dir + "/bad.jpg: cannot decode image (", 0), 0u) << e;
  EXPECT_THROW(image_write_png(img, dir + "/no/such/folder/a.png"), RuntimeFailure);
  // Compression settings change the bytes, never the pixels, and one write's settings do not
  // leak into the next (stb keeps them in globals). Identical rows of varied columns: the
  // default per-row choice takes "up" (all zeros), so a forced "sub" must give other bytes.
  Image columns = image_canvas(33, 17, {});
  for (int y = 0; y < columns.height; ++y)
    for (int x = 0; x < columns.width; ++x) {
      uint8_t* p = columns.at(x, y);
      p[0] = static_cast<uint8_t>(x * 53), p[1] = static_cast<uint8_t>(x * 97), p[2] = static_cast<uint8_t>(x * 31);
    }
  PngOptions fast;
  fast.compression_level = 1;
  fast.filter = 1;
  image_write_png(columns, dir + "/default.png");
  image_write_png(columns, dir + "/fast.png", fast);
  image_write_png(columns, dir + "/again.png");
  EXPECT_EQ(image_read(dir + "/fast.png").pixels, columns.pixels);
  EXPECT_EQ(image_read(dir + "/default.png").pixels, columns.pixels);
  EXPECT_NE(read_file(dir + "/fast.png"), read_file(dir + "/default.png"));
  EXPECT_EQ(read_file(dir + "/again.png"), read_file(dir + "/default.png"));
  // JPEG (COCO's format): lossy, so a flat image comes back within a few levels.
  const Image flat = image_canvas(40, 24, {200, 180, 160});
  image_write_jpeg(flat, dir + "/b.jpg", 95);
  const Image jpeg = image_read(dir + "/b.jpg");
  ASSERT_EQ(jpeg.width, 40);
  ASSERT_EQ(jpeg.height, 24);
  for (size_t i = 0; i < jpeg.pixels.size(); ++i) ASSERT_NEAR(jpeg.pixels[i], flat.pixels[i], 4) << i;
}

TEST(Image, TextStaysInsideItsWidthAndClip) {
  Image img = image_canvas(100, 30, {0, 0, 0});
  draw_text(img, 3, 4, "W8#", 2, {255, 255, 255});
  int lit = 0, max_x = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (!is_black(img, x, y)) {
        ++lit;
        max_x = std::max(max_x, x);
        EXPECT_GE(y, 4);
        EXPECT_LT(y, 4 + 7 * 2);
      }
  EXPECT_GT(lit, 30);
  EXPECT_LT(max_x, 3 + text_width("W8#", 2));
  Image clipped = image_canvas(100, 30, {0, 0, 0});
  draw_text(clipped, 3, 4, "W8#", 2, {255, 255, 255}, {0, 0, 10, 30});
  for (int y = 0; y < 30; ++y)
    for (int x = 10; x < 100; ++x) ASSERT_TRUE(is_black(clipped, x, y));
  EXPECT_EQ(fit_text("abcdefghij", 1, 6 * 6), "abcd..");
  EXPECT_EQ(fit_text("abc", 1, 6 * 6), "abc");
}

// ---- tokens ------------------------------------------------------------------------------------

TEST(Tokens, LatexSpecialCharactersAreEscaped) {
  EXPECT_EQ(latex_escape("# $ % & ~ _ ^ \\ { }"),
            "\\# \\$ \\% \\& \\textasciitilde{} \\_ \\textasciicircum{} \\textbackslash{} \\{ \\}");
  EXPECT_EQ(latex_escape("plain ##ing ¿"), "plain \\#\\#ing ¿");
  const std::vector<TokenRow> rows = {{"40% pruned: a_b", {"[CLS]", "#", "x_y", "{}", "~^\\"}, {0, 1, 0.5, 0.25, 0.125}}};
  const std::string tex = tokens_latex("Q 7: what & why?", rows);
  EXPECT_NE(tex.find("\\documentclass[border=4pt]{standalone}"), std::string::npos);
  EXPECT_NE(tex.find("Q 7: what \\& why?"), std::string::npos);
  EXPECT_NE(tex.find("40\\% pruned: a\\_b &"), std::string::npos);
  EXPECT_NE(tex.find("\\tok{0}{[CLS]}{0.000}"), std::string::npos);
  EXPECT_NE(tex.find("\\tok{100}{\\#}{1.000}"), std::string::npos);
  EXPECT_NE(tex.find("\\tok{50}{x\\_y}{0.500}"), std::string::npos);
  EXPECT_NE(tex.find("\\tok{25}{\\{\\}}{0.250}"), std::string::npos);
  EXPECT_NE(tex.find("\\tok{13}{\\textasciitilde{}\\textasciicircum{}\\textbackslash{}}{0.125}"), std::string::npos);
  // Outside the preamble, every special character is escaped.
  const std::string body = tex.substr(tex.find("\\begin{document}"));
  EXPECT_EQ(body.find("x_y"), std::string::npos);
  EXPECT_EQ(body.find("{#}"), std::string::npos);
  const std::string html = tokens_html("Q <7> & \"why\"", rows);
  EXPECT_NE(html.find("Q &lt;7&gt; &amp; &quot;why&quot;"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"w\">{}</span><span class=\"v\">0.250</span>"), std::string::npos);
  EXPECT_EQ(normalize_min_max({2, 4, 3}), (std::vector<double>{0, 1, 0.5}));
  EXPECT_EQ(normalize_min_max({3, 3}), (std::vector<double>{0, 0}));
}

// ---- relevance against the seed's numbers --------------------------------------------------------

class VisualizeFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(VisualizeFixture, RelevanceIsTheSeedsVisualisation) {
  const std::string name = GetParam();
  const bool lxmert = name == "lxmert";
  auto model = hptest::fixture_model(name);
  h5::File ref(hptest::data_path(name + "/reference.h5"), h5::File::Mode::read);
  const std::vector<double> steps = ref.read_f64("/meta/vis_steps");
  RelevanceOptions ro;
  ro.rule = prune::seed_count_rule(*model);
  ro.ratios = steps;
  const auto vocab = data::AnswerVocab::from_answers(kAnswers);
  const auto samples = hptest::fixture_samples(name);
  for (size_t i = 0; i < samples.size(); ++i) {
    run::BuiltBatch built;
    built.batch = samples[i].batch;
    built.labels = samples[i].label_vector.view({1, -1});
    const int64_t T = built.batch.input_ids.size(1), R = built.batch.visual_feats.size(1);
    built.tokens = {std::vector<std::string>(static_cast<size_t>(T), "t")};
    data::ImageRegions img;
    img.image_w = kW;
    img.image_h = kH;
    img.num_boxes = R;
    img.pixel_boxes.assign(static_cast<size_t>(R * 4), 1.f);
    built.images = {img};
    data::Sample sample;
    sample.question_id = std::to_string(i);
    const SampleVisualization vis = compute_relevance(*model, built, sample, vocab, ro);
    ASSERT_EQ(vis.steps.size(), steps.size());
    char group[32];
    std::snprintf(group, sizeof group, "/sample_%03zu", i);
    for (size_t k = 0; k < steps.size(); ++k) {
      const std::string v = std::string(group) + "/vis/step_" + std::to_string(k);
      const RelevanceStep& st = vis.steps[k];
      at::Tensor tokens, regions;
      if (lxmert) {
        tokens = h5::read_tensor(ref, v + "/R_t_t")[0];
        regions = h5::read_tensor(ref, v + "/R_t_i")[0];
      } else {
        at::Tensor rel = h5::read_tensor(ref, v + "/relevance")[0];
        tokens = rel.slice(0, 0, T);
        regions = rel.slice(0, T, T + R);
      }
      const at::Tensor got_t = at::tensor(st.token_relevance, at::kDouble), got_r = at::tensor(st.region_relevance, at::kDouble);
      EXPECT_LT(hptest::max_abs_diff(got_t, tokens.nan_to_num(0)), 1e-10) << v;
      EXPECT_LT(hptest::max_abs_diff(got_r, regions.nan_to_num(0)), 1e-10) << v;
      EXPECT_EQ(st.answer_index, ref.attr_i64(v, "pred_index")) << v;
      EXPECT_EQ(st.answer, kAnswers[static_cast<size_t>(st.answer_index)]);
      const at::Tensor keep = h5::read_tensor(ref, v + "/keep_mask");
      EXPECT_EQ(st.pruned_heads, keep.numel() - keep.sum().item<int64_t>()) << v;
    }
  }
}

// ---- end to end on a generated image with known boxes ------------------------------------------

TEST_P(VisualizeFixture, PanelsHaveTheImageSizeTheTopBoxIsBrightestAndTheRestBlack) {
  const World w = make_world("vis-" + GetParam());
  const config::Config cfg = world_config(w, GetParam());
  const VisualizeReport report = visualize::visualize(cfg, {});
  EXPECT_EQ(report.out_dir, w.dir + "/vis");
  ASSERT_EQ(report.samples.size(), 2u);
  EXPECT_EQ(report.canvases, 0);
  EXPECT_TRUE(fs::exists(report.index_html));
  const std::string index = read_file(report.index_html);
  EXPECT_NE(index.find("src=\"1000/strip.png\""), std::string::npos);
  EXPECT_NE(index.find("src=\"1001/strip.png\""), std::string::npos);
  const int64_t heads = GetParam() == "lxmert" ? 10 * 4 : 3 * 4;

  for (size_t s = 0; s < report.samples.size(); ++s) {
    const SampleVisualization& vis = report.samples[s];
    const SampleFiles& files = report.files[s];
    EXPECT_EQ(vis.method, "ours");
    ASSERT_EQ(vis.boxes.size(), kBoxes.size());
    ASSERT_EQ(vis.steps.size(), 4u);
    ASSERT_EQ(files.regions.size(), 4u);
    EXPECT_EQ(vis.steps[0].pruned_heads, 0);
    EXPECT_EQ(vis.steps[3].pruned_heads,
              prune::pruned_count(prune::parse_count_rule(models::find_family(GetParam(), "test").seed_count_rule, "test"),
                                  0.9, heads));
    for (size_t k = 0; k < vis.steps.size(); ++k) {
      const RelevanceStep& st = vis.steps[k];
      SCOPED_TRACE("question " + vis.question_id + ", ratio " + std::to_string(st.ratio));
      EXPECT_EQ(fs::path(files.regions[k]).filename(), "regions_" + ratio_percent(st.ratio) + "pct.png");
      const Image out = image_read(files.regions[k]);
      ASSERT_EQ(out.width, kW);
      ASSERT_EQ(out.height, kH);
      // Pixels under no box are black.
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
          bool covered = false;
          for (const Box& b : kBoxes) covered |= x >= b.x1 && x < b.x2 && y >= b.y1 && y < b.y2;
          if (!covered) ASSERT_TRUE(is_black(out, x, y)) << x << "," << y;
        }
      // The seed's rules give non-negative relevance; the most relevant box keeps the image.
      double best = 0;
      for (double r : st.region_relevance) {
        ASSERT_GE(r, 0);
        best = std::max(best, r);
      }
      int max_brightness = 0;
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) max_brightness = std::max(max_brightness, brightness(out, x, y));
      const int top = top_boxes(st.region_relevance, 1).at(0);
      const Box& tb = kBoxes[static_cast<size_t>(top)];
      const int tx = static_cast<int>((tb.x1 + tb.x2) / 2), ty = static_cast<int>((tb.y1 + tb.y2) / 2);
      if (best > 0) {
        EXPECT_EQ(out.rgb(tx, ty).r, kBase.r);
        EXPECT_EQ(out.rgb(tx, ty).g, kBase.g);
        EXPECT_EQ(out.rgb(tx, ty).b, kBase.b);
        EXPECT_EQ(brightness(out, tx, ty), max_brightness);  // the brightest pixels of the panel
        for (size_t b = 0; b < kBoxes.size(); ++b) {        // every box: the image times its share
          const int cx = static_cast<int>((kBoxes[b].x1 + kBoxes[b].x2) / 2);
          const int cy = static_cast<int>((kBoxes[b].y1 + kBoxes[b].y2) / 2);
          EXPECT_NEAR(out.rgb(cx, cy).r, kBase.r * st.region_relevance[b] / best, 1.0) << "box " << b;
          if (st.region_relevance[b] < best) EXPECT_LE(brightness(out, cx, cy), max_brightness);
        }
      } else {
        EXPECT_EQ(max_brightness, 0);  // nothing relevant (e.g. every map masked): black
      }
    }

    // Strip: original + one panel per ratio, each at least as large as the image.
    const Image strip = image_read(files.strip);
    EXPECT_GE(strip.width, 5 * kW);
    EXPECT_GT(strip.height, kH);

    // Every token with its (normalised) relevance, in HTML and LaTeX.
    const std::string html = read_file(files.tokens_html), tex = read_file(files.tokens_latex);
    for (const RelevanceStep& st : vis.steps) {
      const std::vector<double> norm = normalize_min_max(st.token_relevance);
      EXPECT_NE(html.find(html_escape(step_label(st))), std::string::npos);
      EXPECT_NE(tex.find(latex_escape(step_label(st))), std::string::npos);
      for (size_t i = 0; i < vis.tokens.size(); ++i) {
        const std::string v = format_relevance(norm[i]);
        EXPECT_NE(html.find("<span class=\"w\">" + html_escape(vis.tokens[i]) + "</span><span class=\"v\">" + v + "</span>"),
                  std::string::npos)
            << vis.tokens[i];
        EXPECT_NE(tex.find("{" + latex_escape(vis.tokens[i]) + "}{" + v + "}"), std::string::npos) << vis.tokens[i];
      }
    }
    const auto json = nlohmann::json::parse(read_file(files.relevance_json));
    EXPECT_EQ(json["steps"].size(), 4u);
    EXPECT_EQ(json["tokens"].get<std::vector<std::string>>(), vis.tokens);
  }
  // The question with LaTeX special characters: its tokens are escaped in the .tex.
  const SampleVisualization& special = report.samples[1];
  EXPECT_EQ(special.tokens, (std::vector<std::string>{"[CLS]", "is", "the", "#", "&", "$", "%", "sign", "red", "?", "[SEP]"}));
  const std::string tex = read_file(report.files[1].tokens_latex);
  for (const char* escaped : {"}{\\#}{", "}{\\&}{", "}{\\$}{", "}{\\%}{"}) EXPECT_NE(tex.find(escaped), std::string::npos) << escaped;
  for (const char* raw : {"}{#}{", "}{&}{", "}{$}{", "}{%}{"}) EXPECT_EQ(tex.find(raw), std::string::npos) << raw;
}

INSTANTIATE_TEST_SUITE_P(Models, VisualizeFixture, ::testing::Values("lxmert", "visualbert"));

TEST(Visualize, MissingOrUnreadableImageIsAClearErrorOrACanvas) {
  const World w = make_world("vis-missing");
  config::Config cfg = world_config(w, "lxmert", "visualize.samples=[1002]");
  EXPECT_EQ(user_error([&] { visualize::visualize(cfg, {}); }),
            "question 1002: image file not found for image vis_img_1 (tried " + w.images + "/vis_img_1.jpg, " + w.images +
                "/vis_img_1.png, " + w.images + "/vis_img_1.jpeg; data.image_root = " + w.images +
                ") (data.on_missing: skip draws on a plain canvas)");
  std::ofstream(w.images + "/vis_img_1.png") << "\x89PNG broken";
  const std::string e = user_error([&] { visualize::visualize(cfg, {}); });
  EXPECT_EQ(e.rfind("question 1002: " + w.images + "/vis_img_1.png: cannot decode image (", 0), 0u) << e;

  // on_missing: skip draws on a canvas of the stored size; a box outside the image is clipped.
  cfg = world_config(w, "lxmert", "visualize.samples=[1002] data.on_missing=skip");
  VisualizeReport r = visualize::visualize(cfg, {w.dir + "/out", ""});
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.canvases, 1);
  EXPECT_EQ(r.files[0].dir, w.dir + "/out/1002");
  const Image panel = image_read(r.files[0].regions[0]);
  EXPECT_EQ(panel.width, kW);
  EXPECT_EQ(panel.height, kH);
  EXPECT_TRUE(is_black(panel, 300, 20));  // under no box

  // No image_root: a canvas, no warning needed.
  cfg = world_config(w, "lxmert", "visualize.samples=[1000] data.image_root=");
  r = visualize::visualize(cfg, {w.dir + "/out2", ""});
  EXPECT_EQ(r.canvases, 1);

  // Questions: unknown id, image without features (error, or skipped), nothing to draw.
  cfg = world_config(w, "lxmert", "visualize.samples=[77]");
  EXPECT_EQ(user_error([&] { visualize::visualize(cfg, {}); }),
            "visualize.samples: question id 77 is not in " + w.questions);
  cfg = world_config(w, "lxmert", "visualize.samples=[1003]");
  EXPECT_EQ(user_error([&] { visualize::visualize(cfg, {}); }),
            w.features + ": no features for image vis_img_2 of question 1003 (data.on_missing: skip leaves such "
                         "questions out)");
  cfg = world_config(w, "lxmert", "visualize.samples=[1003,1000] data.on_missing=skip");
  r = visualize::visualize(cfg, {w.dir + "/out3", ""});
  EXPECT_EQ(r.skipped, std::vector<std::string>{"1003"});
  EXPECT_EQ(r.samples.size(), 1u);
  cfg = world_config(w, "lxmert", "visualize.samples=[]");
  EXPECT_NE(user_error([&] { visualize::visualize(cfg, {}); }).find("visualize.samples is empty"), std::string::npos);
}

TEST(Visualize, MethodAndOutputFolderFollowTheConfig) {
  const World w = make_world("vis-method");
  config::Config cfg = world_config(w, "lxmert", "scoring.methods=[lrp,ours] visualize.out_dir=");
  EXPECT_EQ(visualize_method(cfg), "ours");
  EXPECT_EQ(visualize_out_dir(cfg, ""), "visualizations/vis_test");
  EXPECT_EQ(visualize_out_dir(cfg, "x"), "x");
  cfg = world_config(w, "lxmert", "scoring.methods=[confidence,lrp] visualize.samples=[1000] visualize.ratios=[0.5]");
  EXPECT_EQ(visualize_method(cfg), "confidence");
  const VisualizeReport r = visualize::visualize(cfg, {});
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].method, "confidence");
  ASSERT_EQ(r.samples[0].steps.size(), 1u);
  EXPECT_EQ(r.samples[0].steps[0].pruned_heads, 20);
  EXPECT_TRUE(fs::exists(w.dir + "/vis/1000/regions_50pct.png"));
}

TEST(Visualize, CommandLine) {
  const World w = make_world("vis-cli");
  std::ostringstream y;
  y << "name: vis_cli\nmodel: {family: visualbert, path: " << hptest::data_path("visualbert") << "}\n"
    << "data: {questions: " << w.questions << ", features: " << w.features << ", answers: " << w.answers
    << ", image_root: " << w.images << "}\noutput: {path: " << w.dir << "/unused.h5}\n";
  std::ofstream(w.dir + "/cfg.yaml") << y.str();
  std::string out;
  int rc = hptest::run_command(hptest::binary_path() + " visualize " + w.dir + "/cfg.yaml visualize.samples=[1000] --out " +
                                   w.dir + "/cli",
                               &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(fs::exists(w.dir + "/cli/index.html")) << out;
  EXPECT_TRUE(fs::exists(w.dir + "/cli/1000/strip.png")) << out;
  rc = hptest::run_command(hptest::binary_path() + " visualize " + w.dir + "/cfg.yaml visualize.samples=[1002] --out " +
                               w.dir + "/cli2",
                           &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("headprune: error: question 1002: image file not found for image vis_img_1 (tried " + w.images +
                     "/vis_img_1.jpg"),
            std::string::npos)
      << out;
}
