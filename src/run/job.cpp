// `headprune run`: the wiring of the job's steps (src/run/steps.hpp says which file holds which).
#include "headprune/run/job.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "headprune/common/error.hpp"
#include "headprune/common/log.hpp"
#include "headprune/common/stop_signal.hpp"
#include "headprune/config/config.hpp"
#include "headprune/dist/communicator.hpp"
#include "headprune/visualize/visualize.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace fs = std::filesystem;

// SIGTERM/SIGUSR1/first SIGINT set the flag of common/stop_signal.hpp; the job polls it after
// every batch or cell, checkpoints and exits 3 (a second Ctrl-C ends the process at once).
void install_preemption_handlers() { install_stop_handlers(); }
bool preemption_requested() { return stop_requested(); }

namespace {

// visualize.samples inside a run: drawn by rank 0 once the results are written, with the model
// of the run freed first (visualize loads its own).
void draw_requested_samples(Context& ctx, const RunOptions& options) {
  const std::string yaml = ctx.yaml;
  ctx.in = Inputs{};
  const config::Config vcfg = config::load_config_text(yaml, options.config_path);
  visualize::VisualizeOptions vo;
  vo.overwrite = vcfg.output.overwrite;  // checked when the output was claimed (step 2)
  auto report = visualize::visualize(vcfg, vo);
  spdlog::info("visualizations of {} sample(s): {}", report.samples.size(), report.index_html);
}

}  // namespace

int run_job(const RunOptions& options, dist::MpiSession& session) {
  Context ctx;
  try {
    install_preemption_handlers();
    log_init(session.rank(), session.size());
    ctx.start_time = utc_now();
    auto comm = dist::make_mpi_communicator();  // config, output claim and inputs: bytes and flags
    ctx.comm = comm.get();
    ctx.session = &session;
    ctx.root = comm->rank() == 0;

    read_config(ctx, options);  // 1
    claim_output(ctx);          // 2
    load_run_inputs(ctx);       // 3
    // From here on one communicator for everything: with device: cuda NCCL reduces GPU tensors
    // (bytes and CPU tensors still travel over MPI); MPI otherwise.
    auto reductions = dist::make_communicator(config::to_string(ctx.cfg.device));
    ctx.comm = reductions.get();
    plan_run(ctx);  // 4

    UnitLoop loop(ctx);
    scoring_phase(ctx, loop);                                                 // 5
    const Rankings rankings = reduce_rankings(ctx, loop);                     // 6
    const io::TensorBundle global_masks = global_phase(ctx, loop, rankings);  // 7
    const Accuracies accuracies = reduce_accuracies(ctx, loop);              // 8
    write_results(ctx, loop, rankings, accuracies, global_masks);            // 9
    if (ctx.root && !ctx.cfg.visualize.samples.empty()) draw_requested_samples(ctx, options);
    ctx.comm->barrier();
    return static_cast<int>(ExitCode::ok);
  } catch (const Preempted&) {
    spdlog::warn("stopped by a signal after a checkpoint; rerun the same command to resume (exit code {})",
                 static_cast<int>(ExitCode::preempted));
    return static_cast<int>(ExitCode::preempted);
  } catch (const QuietExit& q) {
    return q.code;
  } catch (const UserError&) {
    // Rank 0's partial folder, when this run made it: removed again if the run stops on an input
    // error (a corrected rerun must not find it), kept after a signal or a crash (to resume).
    if (!ctx.created_partial.empty()) {
      std::error_code ec;
      fs::remove_all(ctx.created_partial, ec);
    }
    throw;
  }
}

}  // namespace headprune::run
