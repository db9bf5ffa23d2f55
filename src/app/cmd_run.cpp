// `headprune run CONFIG.yaml [key=value ...]`: the MPI batch job (src/run/job.cpp).
#include <cstdio>

#include "app/commands.hpp"
#include "headprune/common/error.hpp"
#include "headprune/config/config.hpp"
#include "headprune/dist/communicator.hpp"
#include "headprune/run/job.hpp"

namespace headprune::app {

void add_run_command(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<run::RunOptions>();
  auto* sub = app.add_subcommand("run", "Score and prune attention heads: the MPI batch job (mpirun/srun or alone)");
  sub->add_option("config", opts->config_path, "experiment YAML file (configs/*.yaml; keys: docs/config.md)")->required();
  sub->add_option("overrides", opts->overrides, "dotted overrides, e.g. prune.ratios=[0,0.5] model.path=/data/lxmert");
  sub->add_flag("--overwrite", opts->overwrite, "replace an existing results file");
  auto check_only = std::make_shared<bool>(false);
  sub->add_flag("--check", *check_only,
                "only check the config and the overrides (keys, types, values; not the input files), print "
                "'config ok', exit 0 or 2: what jobs/submit.sh runs for every grid cell before submitting");
  sub->footer("Exit codes: 0 ok, 1 runtime failure, 2 usage/config/input error, 3 preempted (checkpointed: rerun to resume).");
  table.entries.emplace_back(sub, [opts, check_only] {
    if (*check_only) {  // no MPI, no inputs: the config alone
      config::Config c = config::load_config(opts->config_path, opts->overrides);
      std::printf("config ok: %s (%s, output %s)\n", c.name.c_str(), opts->config_path.c_str(), c.output.path.c_str());
      return static_cast<int>(ExitCode::ok);
    }
    dist::MpiSession session;
    try {
      return run::run_job(*opts, session);
    } catch (const std::exception& e) {
      if (session.size() > 1) {  // end the whole job now rather than leave the other ranks waiting
        const bool user = dynamic_cast<const UserError*>(&e) != nullptr;
        std::fprintf(stderr, "headprune: rank %d: %s: %s\n", session.rank(), user ? "error" : "failed", e.what());
        std::fflush(stderr);
        dist::abort_job(static_cast<int>(user ? ExitCode::usage : ExitCode::runtime));
      }
      throw;
    }
  });
}


}  // namespace headprune::app
