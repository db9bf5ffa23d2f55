// `headprune merge OUT.h5 IN.h5 ...`: combine run files into one file of experiments.
#include "app/commands.hpp"
#include "headprune/io/results_file.hpp"

namespace headprune::app {

void add_merge_command(CLI::App& app, CommandTable& table) {
  struct Opts {
    std::string out;
    std::vector<std::string> inputs;
    bool overwrite = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("merge", "Combine results files (e.g. of Slurm array tasks) into one");
  sub->add_option("out", opts->out, "merged results file")->required();
  sub->add_option("inputs", opts->inputs, "results files to merge")->required();
  sub->add_flag("--overwrite", opts->overwrite, "replace an existing output file");
  table.entries.emplace_back(sub, [opts] {
    io::merge_results_files(opts->out, opts->inputs, opts->overwrite);
    return 0;
  });
}

}  // namespace headprune::app
