// `headprune run`: the MPI batch job.
//
//   config -> samples -> plan (rank 0, broadcast) -> per rank: score + per-sample protocol,
//   batch by batch -> gather to rank 0 -> global rankings -> (ratio x batch) cells of the global
//   protocol -> gather -> one results file written by rank 0.
//
// Checkpoints: every run.checkpoint_every batches (and on SIGTERM/SIGUSR1) each rank writes what
// it finished since its last checkpoint to <output>.partial/; rerunning the same command resumes
// from there, with any rank count, and ends with the same results file. A signal makes the job
// exit with ExitCode::preempted (3) once the current batch is checkpointed.
#pragma once

#include <string>
#include <vector>

namespace headprune::dist {
class MpiSession;
}

namespace headprune::run {

struct RunOptions {
  std::string config_path;
  std::vector<std::string> overrides;  ///< dotted key=value
  bool overwrite = false;              ///< --overwrite: replace an existing results file
};

/// Runs the job on every rank of `session`; returns the process exit code.
int run_job(const RunOptions& options, dist::MpiSession& session);

/// Installs the SIGTERM/SIGUSR1/SIGINT handlers that request a checkpoint-and-exit (a second
/// SIGINT ends the process at once).
void install_preemption_handlers();
bool preemption_requested();

}  // namespace headprune::run
