// `headprune visualize CONFIG.yaml [key=value ...] [--out DIR] [--method NAME]`: relevance of image
// regions and question tokens as heads are pruned (visualize/visualize.hpp).
#include <memory>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "headprune/common/error.hpp"
#include "headprune/common/log.hpp"
#include "headprune/config/config.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/visualize/visualize.hpp"

namespace headprune::app {

namespace {
struct VisualizeCommandOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  visualize::VisualizeOptions run;
};

// The scoring methods' names (explain/methods.hpp's table), for the help text.
std::string method_list() {
  std::string out;
  for (const auto& name : explain::method_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}
}  // namespace

void add_visualize_command(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<VisualizeCommandOptions>();
  auto* sub = app.add_subcommand(
      "visualize", "Draw what the model looks at (image regions, question tokens) as its least important heads are pruned");
  sub->add_option("config", opts->config_path, "experiment YAML file (keys: docs/config.md; visualize.samples lists the questions)")
      ->required();
  sub->add_option("overrides", opts->overrides, "dotted overrides, e.g. visualize.samples=[262148000] data.image_root=/coco/val2014");
  sub->add_option("--out", opts->run.out_dir, "output folder (default: visualize.out_dir, else visualizations/<name>)");
  sub->add_flag("--overwrite", opts->run.overwrite, "write over the drawings of an earlier run in the output folder");
  sub->add_option("--method", opts->run.method,
                  "scores that rank the heads: " + method_list() + " (default: ours if in scoring.methods, else its first)");
  sub->footer("Writes OUT/index.html and per question OUT/<question_id>/{strip.png, regions_<p>pct.png, tokens.html, "
              "tokens.tex, relevance.json}.\nExit codes: 0 ok, 1 runtime failure, 2 usage/config/input error.");
  table.entries.emplace_back(sub, [opts] {
    config::Config c = config::load_config(opts->config_path, opts->overrides);
    log_set_config_level(c.log_level, "log_level");
    opts->run.overwrite = opts->run.overwrite || c.output.overwrite;
    visualize::visualize(c, opts->run);
    return static_cast<int>(ExitCode::ok);
  });
}

}  // namespace headprune::app
