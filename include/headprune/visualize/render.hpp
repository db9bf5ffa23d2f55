// The files of a visualisation, from relevance values already computed (visualize/relevance.hpp):
//
//   OUT/index.html                      every sample: its strip, its token table, links
//   OUT/<question_id>/strip.png         original + one panel per ratio, each titled
//                                       ("original", "40% pruned: yes"), the question on top
//   OUT/<question_id>/regions_<p>pct.png  the region heatmap at ratio p %, the image's own size
//   OUT/<question_id>/tokens.html       the question tokens coloured by relevance, one row per ratio
//   OUT/<question_id>/tokens.tex        the same as a LaTeX standalone document
//   OUT/<question_id>/relevance.json    every number drawn (raw and normalised), boxes, answers
//
// Boxes come in the pixels of the feature store's image size; when the image file has another
// size they are scaled to it. Strip panels wider than 640 pixels are scaled down (the
// regions_*.png files never are).
//
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headprune/visualize/heatmap.hpp"
#include "headprune/visualize/image.hpp"
#include "headprune/visualize/tokens.hpp"

namespace headprune::visualize {

/// The relevance of one pruned model for one question.
struct RelevanceStep {
  double ratio = 0;                      ///< fraction of heads pruned (the least important first)
  int64_t pruned_heads = 0;              ///< how many that was
  int64_t total_heads = 0;
  int64_t answer_index = -1;             ///< the pruned model's prediction
  std::string answer;
  double answer_score = 0;               ///< its VQA soft score for this question (0 if unlabelled)
  std::vector<double> token_relevance;   ///< raw, one per token
  std::vector<double> region_relevance;  ///< raw, one per box
};

/// Everything drawn for one question.
struct SampleVisualization {
  std::string question_id;
  std::string question;
  std::string img_id;
  std::string model;                 ///< the model family's name
  std::string method;                ///< the head scores that chose the pruned heads
  std::vector<std::string> tokens;   ///< word pieces incl. [CLS]/[SEP]
  int image_w = 0, image_h = 0;      ///< the store's image size (the boxes' pixel frame)
  std::vector<Box> boxes;            ///< pixels
  std::vector<RelevanceStep> steps;  ///< one per ratio, in the configured order
};

/// Files written for one sample (paths as written, OUT/<question_id>/...).
struct SampleFiles {
  std::string dir;
  std::string strip;
  std::vector<std::string> regions;  ///< one per step
  std::string tokens_html;
  std::string tokens_latex;
  std::string relevance_json;
};

/// "40% pruned: yes"-style panel and row labels; the ratio as a percentage ("0", "40", "12.5").
std::string ratio_percent(double ratio);
std::string step_label(const RelevanceStep& step);

/// The token rows (normalised relevance) of a sample, one per step.
std::vector<TokenRow> token_rows(const SampleVisualization& sample);

/// `sample.boxes` in the pixels of a width x height image.
std::vector<Box> boxes_for_image(const SampleVisualization& sample, int width, int height);

/// The strip image of a sample drawn over `image` (the original, or a canvas).
Image render_strip(const SampleVisualization& sample, const Image& image);

/// Writes OUT/<question_id>/* (not index.html). RuntimeFailure naming the path on I/O errors.
/// HP_ASSERTs consistent sizes (tokens, boxes and every step's relevance).
SampleFiles write_sample(const SampleVisualization& sample, const Image& image, const std::string& out_dir);

/// Writes OUT/index.html showing every sample (strip, token table, links to its files);
/// `title` heads the page. Returns its path.
std::string write_index(const std::string& out_dir, const std::string& title,
                        const std::vector<SampleVisualization>& samples, const std::vector<SampleFiles>& files);

}  // namespace headprune::visualize
