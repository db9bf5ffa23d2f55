// `headprune visualize` from a Config (visualize/visualize.hpp).
#include "headprune/visualize/visualize.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "headprune/common/error.hpp"
#include "headprune/data/images.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/run/inputs.hpp"
#include "headprune/visualize/relevance.hpp"

namespace headprune::visualize {

namespace fs = std::filesystem;

std::string visualize_method(const config::Config& config) {
  const auto& m = config.scoring.methods;
  if (std::find(m.begin(), m.end(), "ours") != m.end() || m.empty()) return "ours";
  return m.front();
}

std::string visualize_out_dir(const config::Config& config, const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (config.visualize.out_dir && !config.visualize.out_dir->empty()) return *config.visualize.out_dir;
  return (fs::path("visualizations") / config.name).string();
}

Image box_canvas(int width, int height, const std::vector<Box>& boxes) {
  Image img = image_canvas(width, height, {225, 225, 225});
  for (const Box& b : boxes) draw_rect_outline(img, box_pixels(b, width, height), 1, {150, 150, 150});
  return img;
}

void refuse_existing_drawings(const std::string& out_dir, bool overwrite) {
  std::error_code ec;
  if (!overwrite && fs::exists(fs::path(out_dir) / "index.html", ec))
    throw UserError(out_dir + ": holds the drawings of an earlier run (index.html); pass --overwrite or "
                              "output.overwrite=true to write over them, or choose another output folder");
}

VisualizeReport visualize(const config::Config& c, const VisualizeOptions& options) {
  if (c.visualize.samples.empty())
    throw UserError("visualize.samples is empty: list the question ids to draw, e.g. visualize.samples=[262148000]");
  VisualizeReport report;
  report.out_dir = visualize_out_dir(c, options.out_dir);
  refuse_existing_drawings(report.out_dir, options.overwrite);
  const std::string method_name = options.method.empty() ? visualize_method(c) : options.method;
  RelevanceOptions ro;
  ro.method = explain::find_method(method_name, options.method.empty() ? "scoring.methods" : "--method").name;
  ro.target = c.scoring.explain;
  ro.rule = c.prune.count_rule;
  ro.ratios = c.visualize.ratios;
  ro.michel_normalize = c.scoring.michel_normalize;
  ro.random_seed = static_cast<uint64_t>(c.scoring.random_seed);
  ro.ig_steps = c.scoring.ig_steps;
  if (c.run.threads_per_rank > 0) at::set_num_threads(static_cast<int>(c.run.threads_per_rank));

  const run::Inputs in = run::load_inputs(c, 0, "headprune visualize");
  std::unordered_map<std::string, size_t> by_id;
  for (size_t i = 0; i < in.questions.samples.size(); ++i) by_id.emplace(in.questions.samples[i].question_id, i);
  const bool skip_missing = c.data.on_missing == data::OnMissing::skip;
  std::string ratios;
  for (double r : ro.ratios) ratios += (ratios.empty() ? "" : ", ") + ratio_percent(r) + "%";
  spdlog::info("visualize: {} question(s), pruning [{}] of the heads ranked by '{}', output {}",
               c.visualize.samples.size(), ratios, method_name, report.out_dir);

  for (int64_t qid : c.visualize.samples)  // every id before any work
    if (!by_id.count(std::to_string(qid)))
      throw UserError("visualize.samples: question id " + std::to_string(qid) + " is not in " + in.questions.source);

  for (int64_t qid : c.visualize.samples) {
    const std::string id = std::to_string(qid);
    auto it = by_id.find(id);
    const data::Sample& sample = in.questions.samples[it->second];
    if (!in.images->contains(sample.img_id)) {
      const std::string msg = in.images->missing_message(sample.img_id) + " of question " + id;
      if (!skip_missing) throw UserError(msg + " (data.on_missing: skip leaves such questions out)");
      spdlog::warn("{}; question skipped (data.on_missing: skip)", msg);
      report.skipped.push_back(id);
      continue;
    }
    // The image first: a missing file should not wait for the model.
    Image image;
    // The picture: data.image_root, else the folder a pixel model reads its images from.
    const std::optional<std::string> root = c.data.image_root ? c.data.image_root : c.data.images;
    if (root) {
      try {
        image = image_read(data::find_image_file(*root, sample.img_id, c.data.image_root ? "data.image_root" : "data.images"));
      } catch (const UserError& e) {
        if (!skip_missing)
          throw UserError("question " + id + ": " + e.what() + " (data.on_missing: skip draws on a plain canvas)");
        spdlog::warn("question {}: {}; drawing on a plain canvas (data.on_missing: skip)", id, e.what());
      }
    }

    run::BuiltBatch built = in.builder->build({&sample}, in.vocab->size());
    ro.sample_index = static_cast<int64_t>(it->second);
    SampleVisualization vis = compute_relevance(*in.model, built, sample, *in.vocab, ro);
    if (image.empty()) {
      image = box_canvas(vis.image_w, vis.image_h, vis.boxes);
      ++report.canvases;
    } else if (image.width != vis.image_w || image.height != vis.image_h) {
      spdlog::warn("question {}: image {} is {}x{} but its boxes were detected on {}x{}; boxes scaled", id,
                   sample.img_id, image.width, image.height, vis.image_w, vis.image_h);
    }
    SampleFiles files = write_sample(vis, image, report.out_dir);
    std::string answers;
    for (const auto& st : vis.steps) answers += (answers.empty() ? "" : ", ") + ratio_percent(st.ratio) + "%: " + st.answer;
    spdlog::info("question {} ({}): {} -> {}", id, sample.question, answers, files.strip);
    report.samples.push_back(std::move(vis));
    report.files.push_back(std::move(files));
  }
  report.index_html = write_index(report.out_dir, "headprune visualize: " + c.name, report.samples, report.files);
  spdlog::info("visualize: {} question(s) drawn{}; open {}", report.samples.size(),
               report.skipped.empty() ? std::string() : ", " + std::to_string(report.skipped.size()) + " skipped",
               report.index_html);
  return report;
}

}  // namespace headprune::visualize
