// Stop requests for commands that are not resumable jobs (import-features): SIGTERM, SIGUSR1 and a
// first Ctrl-C set a flag that the command polls between units of work, so that it can remove
// what it had half-written and exit with one line instead of dying mid-file. A second Ctrl-C
// ends the process at once. (`run` has its own handlers: it checkpoints; see run/job.hpp.)
#pragma once

#include <stdexcept>
#include <string>

namespace headprune {

void install_stop_handlers();
bool stop_requested();

/// Thrown when a command stops on a signal before its end; main() prints it as one line and exits
/// with ExitCode::preempted (3): rerunning the same command does the work again.
class StoppedBySignal : public std::runtime_error {
 public:
  explicit StoppedBySignal(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace headprune
