// Errors: what a user did wrong versus what we did wrong.
//
// A *user error* (bad config, bad input file, bad command line) is a UserError carrying one
// line that names the file, the key or field, and what was expected. main() prints that line
// and exits with ExitCode::usage (2). A broken internal invariant is HP_ASSERT: it prints
// file:line and aborts, because continuing would write wrong results.
#pragma once

#include <stdexcept>
#include <string>

namespace headprune {

/// Process exit codes (documented in README.md; job scripts act on them).
enum class ExitCode : int {
  ok = 0,          ///< success
  runtime = 1,     ///< runtime failure (I/O error, MPI failure, a rank died)
  usage = 2,       ///< usage, config or input error: fix the command or the files
  preempted = 3,   ///< stopped by SIGTERM/SIGUSR1 after a checkpoint: requeue and rerun
  conformance = 4, ///< conformance replay ran but a quantity is out of tolerance
};

/// A user error: one line, naming the file/key/field and what was expected.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

/// A runtime failure that is not the user's input (I/O, MPI, out of memory).
class RuntimeFailure : public std::runtime_error {
 public:
  explicit RuntimeFailure(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace headprune

/// Internal invariant: aborts with file:line. Never use for user input.
#define HP_ASSERT(cond, msg)                                                        \
  do {                                                                              \
    if (!(cond)) ::headprune::assert_fail(#cond, __FILE__, __LINE__, (msg));         \
  } while (0)
