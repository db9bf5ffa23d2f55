// The visualisation files of a sample and the index page (visualize/render.hpp).
#include "headprune/visualize/render.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/common/error.hpp"

namespace headprune::visualize {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxPanelWidth = 640;
constexpr Rgb kBackground{255, 255, 255};
constexpr Rgb kInk{25, 25, 25};

// A folder name from a question id: anything but [A-Za-z0-9._-] becomes '_'.
std::string safe_name(const std::string& id) {
  std::string out = id.empty() ? "sample" : id;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (out == "." || out == "..") out = "_";
  return out;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) throw RuntimeFailure(path + ": cannot write (check that the folder is writable and the disk not full)");
}

void check_sample(const SampleVisualization& s) {
  for (const RelevanceStep& st : s.steps) {
    HP_ASSERT(st.token_relevance.size() == s.tokens.size(), "SampleVisualization: one token relevance per token");
    HP_ASSERT(st.region_relevance.size() == s.boxes.size(), "SampleVisualization: one region relevance per box");
  }
  HP_ASSERT(s.image_w > 0 && s.image_h > 0, "SampleVisualization: image size not set");
}

nlohmann::json finite_array(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
  return a;
}

std::string sample_title(const SampleVisualization& s) {
  return "Q " + s.question_id + ": " + s.question + " (" + s.model + ", image " + s.img_id + ", heads pruned by '" +
         s.method + "' scores)";
}

// Drawable (ASCII) version of a text for the bitmap font.
std::string ascii(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += c >= 0x20 ? static_cast<char>(c) : ' ';
    } else if ((c & 0xC0) != 0x80) {
      out += '?';  // one '?' per UTF-8 character, not per byte
    }
  }
  return out;
}

}  // namespace

std::string ratio_percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", ratio * 100.0);
  return buf;
}

std::string step_label(const RelevanceStep& step) { return ratio_percent(step.ratio) + "% pruned: " + step.answer; }

std::vector<TokenRow> token_rows(const SampleVisualization& sample) {
  std::vector<TokenRow> rows;
  for (const RelevanceStep& st : sample.steps)
    rows.push_back({step_label(st), sample.tokens, normalize_min_max(st.token_relevance)});
  return rows;
}

std::vector<Box> boxes_for_image(const SampleVisualization& sample, int width, int height) {
  std::vector<Box> out = sample.boxes;
  if (width == sample.image_w && height == sample.image_h) return out;
  const float sx = static_cast<float>(width) / static_cast<float>(sample.image_w);
  const float sy = static_cast<float>(height) / static_cast<float>(sample.image_h);
  for (Box& b : out) b = {b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy};
  return out;
}

Image render_strip(const SampleVisualization& sample, const Image& image) {
  check_sample(sample);
  const std::vector<Box> boxes = boxes_for_image(sample, image.width, image.height);
  std::vector<Image> panels{image};
  std::vector<std::string> titles{"original"};
  for (const RelevanceStep& st : sample.steps) {
    panels.push_back(relevance_heatmap(image, boxes, st.region_relevance));
    titles.push_back(step_label(st));
  }
  const int pw = std::min(image.width, kMaxPanelWidth);
  const int ph = std::max(1, static_cast<int>(static_cast<int64_t>(image.height) * pw / image.width));
  if (pw != image.width)
    for (Image& p : panels) p = image_resize(p, pw, ph);

  const int s = std::max(1, (pw + 100) / 200);  // font scale: ~8 px text on a 160 px panel, 24 px on 640
  const int pad = 2 * s, gap = 4 * s, bar = kGlyphHeight * s + 2 * pad;
  const int n = static_cast<int>(panels.size());
  const int width = n * pw + (n + 1) * gap;
  const int height = gap + bar + bar + ph + gap;
  Image strip = image_canvas(width, height, kBackground);
  draw_text(strip, gap, gap + pad, fit_text(ascii(sample_title(sample)), s, width - 2 * gap), s, kInk);
  for (int i = 0; i < n; ++i) {
    const int x = gap + i * (pw + gap), y = gap + bar;
    draw_text(strip, x, y + pad, fit_text(ascii(titles[static_cast<size_t>(i)]), s, pw), s, kInk);
    paste(strip, panels[static_cast<size_t>(i)], x, y + bar);
  }
  return strip;
}

SampleFiles write_sample(const SampleVisualization& sample, const Image& image, const std::string& out_dir) {
  check_sample(sample);
  SampleFiles files;
  files.dir = (fs::path(out_dir) / safe_name(sample.question_id)).string();
  std::error_code ec;
  fs::create_directories(files.dir, ec);
  if (ec) throw RuntimeFailure(files.dir + ": cannot create the folder (" + ec.message() + ")");

  const std::vector<Box> boxes = boxes_for_image(sample, image.width, image.height);
  for (const RelevanceStep& st : sample.steps) {
    const std::string path = (fs::path(files.dir) / ("regions_" + ratio_percent(st.ratio) + "pct.png")).string();
    image_write_png(relevance_heatmap(image, boxes, st.region_relevance), path);
    files.regions.push_back(path);
  }
  files.strip = (fs::path(files.dir) / "strip.png").string();
  image_write_png(render_strip(sample, image), files.strip);

  const std::string title = sample_title(sample);
  const std::vector<TokenRow> rows = token_rows(sample);
  files.tokens_html = (fs::path(files.dir) / "tokens.html").string();
  write_text_file(files.tokens_html, tokens_html(title, rows));
  files.tokens_latex = (fs::path(files.dir) / "tokens.tex").string();
  write_text_file(files.tokens_latex, tokens_latex(title, rows));

  nlohmann::json j;
  j["question_id"] = sample.question_id;
  j["question"] = sample.question;
  j["img_id"] = sample.img_id;
  j["model"] = sample.model;
  j["method"] = sample.method;
  j["tokens"] = sample.tokens;
  j["image_size"] = {sample.image_w, sample.image_h};
  j["drawn_image_size"] = {image.width, image.height};
  nlohmann::json jb = nlohmann::json::array();
  for (const Box& b : sample.boxes) jb.push_back({b.x1, b.y1, b.x2, b.y2});
  j["boxes"] = jb;
  nlohmann::json steps = nlohmann::json::array();
  for (size_t k = 0; k < sample.steps.size(); ++k) {
    const RelevanceStep& st = sample.steps[k];
    steps.push_back({{"ratio", st.ratio},
                     {"pruned_heads", st.pruned_heads},
                     {"total_heads", st.total_heads},
                     {"answer", st.answer},
                     {"answer_index", st.answer_index},
                     {"answer_score", st.answer_score},
                     {"token_relevance", finite_array(st.token_relevance)},
                     {"token_relevance_normalized", finite_array(rows[k].relevance)},
                     {"region_relevance", finite_array(st.region_relevance)},
                     {"top_boxes", top_boxes(st.region_relevance, 5)},
                     {"regions_png", fs::path(files.regions[k]).filename().string()}});
  }
  j["steps"] = steps;
  files.relevance_json = (fs::path(files.dir) / "relevance.json").string();
  write_text_file(files.relevance_json, j.dump(1) + "\n");
  return files;
}

std::string write_index(const std::string& out_dir, const std::string& title,
                        const std::vector<SampleVisualization>& samples, const std::vector<SampleFiles>& files) {
  HP_ASSERT(samples.size() == files.size(), "write_index: one SampleFiles per sample");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw RuntimeFailure(out_dir + ": cannot create the folder (" + ec.message() + ")");
  auto rel = [&](const std::string& p) { return html_escape(fs::path(p).lexically_relative(out_dir).generic_string()); };
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title>\n<style>\n"
    << "body { font-family: sans-serif; margin: 1em 2em; }\n"
    << "section { margin-bottom: 2.5em; }\n"
    << "img.strip { max-width: 100%; border: 1px solid #ccc; }\n"
    << ".files { font-size: 85%; color: #555; }\n"
    << tokens_css() << "</style></head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n"
    << "<p>For each question: the image regions weighted by their relevance to the answer (brighter = more "
       "relevant; the five most relevant boxes outlined and numbered), and the question tokens coloured by relevance, "
       "for the model with the given fraction of its least important heads pruned.</p>\n";
  if (samples.empty()) o << "<p>No samples.</p>\n";
  for (size_t i = 0; i < samples.size(); ++i) {
    const SampleVisualization& s = samples[i];
    const SampleFiles& f = files[i];
    o << "<section id=\"q" << html_escape(s.question_id) << "\">\n<h2>Q " << html_escape(s.question_id) << ": "
      << html_escape(s.question) << "</h2>\n"
      << "<p>" << html_escape(s.model) << ", image " << html_escape(s.img_id) << ", heads pruned by '"
      << html_escape(s.method) << "' scores</p>\n"
      << "<img class=\"strip\" src=\"" << rel(f.strip) << "\" alt=\"relevance strip of question "
      << html_escape(s.question_id) << "\">\n"
      << tokens_html_table(token_rows(s)) << "<p class=\"files\">";
    for (size_t k = 0; k < f.regions.size() && k < s.steps.size(); ++k)
      o << "<a href=\"" << rel(f.regions[k]) << "\">regions " << html_escape(ratio_percent(s.steps[k].ratio))
        << "%</a> &middot; ";
    o << "<a href=\"" << rel(f.tokens_html) << "\">tokens.html</a> &middot; <a href=\"" << rel(f.tokens_latex)
      << "\">tokens.tex</a> &middot; <a href=\"" << rel(f.relevance_json) << "\">relevance.json</a></p>\n</section>\n";
  }
  o << "</body></html>\n";
  const std::string path = (fs::path(out_dir) / "index.html").string();
  write_text_file(path, o.str());
  return path;
}

}  // namespace headprune::visualize
