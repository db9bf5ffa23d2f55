// headprune: explain and prune the attention heads of vision-language transformers.
//
// main() only parses the command line and turns exceptions into the documented exit codes
// (README.md, "Exit codes"): a UserError is one line and exit 2, anything else exit 1.
#include <c10/util/Exception.h>
#include <malloc.h>

#include <cstdio>
#include <exception>

#include "app/commands.hpp"
#include "headprune/common/build_info.hpp"
#include "headprune/common/crash.hpp"
#include "headprune/common/error.hpp"
#include "headprune/common/log.hpp"
#include "headprune/common/stop_signal.hpp"

namespace {
// A batch's activations (megabytes each) are allocated and freed on every forward. glibc hands
// blocks that large back to the kernel when they are freed (mmap/munmap, and trimming the heap's
// top), so the next forward faults them in again, zero-filled by the kernel: about 6 % of the
// batched protocol's time went to clearing pages (perf, `headprune bench`). Keep freed memory in
// the heap for reuse instead; the resident size stays at its peak, which the batch size bounds.
void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // only blocks above 256 MiB get their own mapping
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // hand the heap's top back only above 1 GiB free
  mallopt(M_TOP_PAD, 256 << 20);         // grow the heap in steps of 256 MiB (address space only)
}
}  // namespace

int main(int argc, char** argv) {
  using headprune::ExitCode;
  keep_freed_memory_for_reuse();
  headprune::install_crash_handlers("the command");
  CLI::App app{"headprune: explain and prune the attention heads of vision-language transformers"};
  app.set_version_flag("--version", "headprune " + headprune::build_info().version + " (" +
                                        headprune::build_info().git_commit + ")");
  app.require_subcommand(1);
  headprune::app::CommandTable table;
  headprune::app::add_run_command(app, table);
  headprune::app::add_merge_command(app, table);
  headprune::app::add_conformance_command(app, table);
  headprune::app::add_bench_command(app, table);
  headprune::app::add_import_features_command(app, table);
  headprune::app::add_train_command(app, table);
  headprune::app::add_demo_command(app, table);
  headprune::app::add_visualize_command(app, table);
  headprune::app::add_export_command(app, table);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: printed by CLI11
    // A usage error is one line like every other user error (CLI11's own print is two lines).
    std::fprintf(stderr, "headprune: error: %s (see headprune --help)\n", e.what());
    return static_cast<int>(ExitCode::usage);
  }

  try {
    headprune::log_init(0, 1);
    for (auto& [sub, run] : table.entries)
      if (sub->parsed()) return run();
    return static_cast<int>(ExitCode::usage);
  } catch (const headprune::UserError& e) {
    std::fprintf(stderr, "headprune: error: %s\n", e.what());
    return static_cast<int>(ExitCode::usage);
  } catch (const headprune::StoppedBySignal& e) {
    std::fprintf(stderr, "headprune: stopped: %s\n", e.what());
    return static_cast<int>(ExitCode::preempted);
  } catch (const headprune::RuntimeFailure& e) {
    std::fprintf(stderr, "headprune: failed: %s\n", e.what());
    return static_cast<int>(ExitCode::runtime);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "headprune: failed (LibTorch): %s\n", e.what_without_backtrace());
    return static_cast<int>(ExitCode::runtime);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "headprune: failed: %s\n", e.what());
    return static_cast<int>(ExitCode::runtime);
  }
}
