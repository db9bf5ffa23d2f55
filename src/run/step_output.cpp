// Step 2 of `headprune run`: claim the output. Never overwrite silently; partial results must
// belong to this config. The partial folder itself is made only once the inputs have loaded
// (step 3), so that a run stopped by a bad input leaves nothing that would block the corrected
// rerun. Rank 0 holds an exclusive lock on the output for the whole run: a second run on the same
// output stops here at once, naming the first (it could otherwise mix its checkpoints in).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/visualize/visualize.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
namespace {

// True when `dir` holds nothing but its config.yaml (a run before its first checkpoint).
bool holds_only_its_config(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != "config.yaml") return false;
  return true;
}

// Rank 0: the checks above; sets ctx.make_partial when step 3 is to (re)make the folder.
void check_output(Context& ctx) {
  const std::string& partial = ctx.partial;
  io::check_output_file(ctx.cfg.output.path, ctx.cfg.output.overwrite, "--overwrite or output.overwrite=true");
  if (fs::exists(partial) && !fs::is_directory(partial))
    throw UserError(partial + ": is not a folder (expected the run's partial results; remove it)");
  ctx.lock = std::make_unique<io::OutputLock>(ctx.cfg.output.path);
  // Again under the lock: a run that held it until a moment ago may have just written the file.
  io::check_output_file(ctx.cfg.output.path, ctx.cfg.output.overwrite, "--overwrite or output.overwrite=true");
  if (!ctx.cfg.visualize.samples.empty())  // drawn at the end: refuse now, not after the run
    visualize::refuse_existing_drawings(visualize::visualize_out_dir(ctx.cfg, ""), ctx.cfg.output.overwrite);
  if (fs::exists(partial + "/config.yaml")) {
    std::ifstream in(partial + "/config.yaml");
    std::string old((std::istreambuf_iterator<char>(in)), {});
    if (old == ctx.defining) {
      spdlog::info("resuming from {}", partial);
    } else if (holds_only_its_config(partial)) {
      // A run of another config that stopped before its first checkpoint: nothing to lose,
      // and no run is still going on it (it would hold the lock we hold).
      spdlog::info("{}: replacing the empty partial folder of another config", partial);
      ctx.make_partial = true;
    } else {
      throw UserError(partial + ": partial results of a different config (remove the folder to start over, or "
                                "rerun with the config that made them)");
    }
  } else {
    if (fs::exists(partial) && !fs::is_empty(partial))
      throw UserError(partial + ": holds files but no config.yaml (not the partial results of a run?); remove it");
    ctx.make_partial = true;
  }
}

}  // namespace

void claim_output(Context& ctx) {
  ctx.partial = partial_dir(ctx.cfg);
  ctx.defining = result_defining_yaml(ctx.cfg);
  ctx.run_id = std::to_string(std::time(nullptr)) + "-" + io::host_and_pid();
  std::replace(ctx.run_id.begin(), ctx.run_id.end(), ':', '-');
  std::string error;
  if (ctx.root) {
    try {
      check_output(ctx);
    } catch (const UserError& e) {
      error = e.what();
    } catch (const fs::filesystem_error& e) {
      error = std::string(e.what());
    }
  }
  agree_on_error(*ctx.comm, error);
  ctx.comm->broadcast_bytes(ctx.run_id, 0);
}

}  // namespace headprune::run
