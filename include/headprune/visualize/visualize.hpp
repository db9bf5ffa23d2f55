// `headprune visualize`: what a model looks at as its heads are pruned, for a few questions.
//
//   config::Config c = config::load_config("configs/lxmert_vqa.yaml", {"visualize.samples=[262148000]"});
//   visualize::VisualizeReport r = visualize::visualize(c, {});   // r.index_html: open in a browser
//
// For each question id of visualize.samples (looked up in data.questions, in that order): build
// it as a batch of one from the feature store, prune the least important heads by the chosen
// method's scores at every ratio of visualize.ratios with prune.count_rule, compute the
// relevance maps (visualize/relevance.hpp) and write the files of visualize/render.hpp under
// the output folder, then OUT/index.html.
//
// The model is loaded as `headprune run` loads it (model.*, precision; device: cuda uses the first
// GPU). Image: <data.image_root>/<img_id>.jpg (or .png, .jpeg, or the id's other COCO spelling:
// data::find_image_file) when data.image_root is set; without
// it, a plain grey canvas of the stored image size with the boxes drawn faintly.
//
// Failure (UserError, one line): visualize.samples empty; a question id not in data.questions;
// a question whose image has no features (data.on_missing: skip -> warning, question left out);
// an image file missing or unreadable (data.on_missing: skip -> warning, drawn on the canvas);
// everything load_model / the data readers refuse. RuntimeFailure when a file cannot be written.
//
// Torch-free header.
#pragma once

#include <string>
#include <vector>

#include "headprune/config/config.hpp"
#include "headprune/visualize/render.hpp"

namespace headprune::visualize {

struct VisualizeOptions {
  std::string out_dir;  ///< empty: visualize.out_dir, else "visualizations/<name>"
  std::string method;   ///< empty: visualize_method(config)
  bool overwrite = false;  ///< write over the drawings of an earlier run in out_dir (else a UserError)
};

/// Throws UserError when `out_dir` holds drawings already (its index.html) and !overwrite.
void refuse_existing_drawings(const std::string& out_dir, bool overwrite);

struct VisualizeReport {
  std::string out_dir;
  std::string index_html;
  std::vector<SampleVisualization> samples;  ///< drawn, in visualize.samples order
  std::vector<SampleFiles> files;            ///< same order
  std::vector<std::string> skipped;          ///< question ids left out (no features, on_missing: skip)
  int64_t canvases = 0;                      ///< samples drawn on a canvas instead of their image
};

/// The scoring method that ranks the heads: 'ours' (the seed's visualisations) when it is in
/// scoring.methods, otherwise the first of scoring.methods.
std::string visualize_method(const config::Config& config);

/// The output folder: `override_dir`, else visualize.out_dir, else "visualizations/<name>".
std::string visualize_out_dir(const config::Config& config, const std::string& override_dir);

/// The grey canvas used without an image: width x height, boxes outlined faintly.
Image box_canvas(int width, int height, const std::vector<Box>& boxes);

/// Runs the whole visualisation (see the top of this file).
VisualizeReport visualize(const config::Config& config, const VisualizeOptions& options);

}  // namespace headprune::visualize
