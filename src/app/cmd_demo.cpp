// `headprune demo`: the embedded default. Generates a synthetic VQA world, trains a small LXMERT
// and a small VisualBERT on it (or reuses them), writes one analysis run config per model, and
// runs the analysis with `headprune run` under mpirun when this build has that subcommand
// (demo/demo.hpp).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "app/commands.hpp"
#include "headprune/common/build_info.hpp"
#include "headprune/common/error.hpp"
#include "headprune/demo/demo.hpp"

namespace headprune::app {

namespace {

struct DemoCommandOptions {
  headprune::demo::DemoOptions demo;  // qualified: the member name hides the namespace
  bool no_analysis = false;
  int ranks = 2;
};

bool has_subcommand(CLI::App& app, const std::string& name) {
  try {
    return app.get_subcommand(name) != nullptr;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// How to start `ranks` processes: $HEADPRUNE_MPIRUN if set, else mpirun when it is on PATH
// (with the settings a root user in a container needs), else one plain process.
std::string launcher(int ranks) {
  if (const char* custom = std::getenv("HEADPRUNE_MPIRUN"); custom && *custom) return custom;
  if (ranks > 1 && std::system("command -v mpirun >/dev/null 2>&1") == 0) {
    std::string env;
    if (geteuid() == 0) env = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ";
    return env + "mpirun -n " + std::to_string(ranks) + " --oversubscribe";
  }
  return "";
}

int run_shell(const std::string& command) {
  std::printf("$ %s\n", command.c_str());
  std::fflush(stdout);
  const int status = std::system(command.c_str());
  if (status == -1) return static_cast<int>(ExitCode::runtime);
  return WIFEXITED(status) ? WEXITSTATUS(status) : static_cast<int>(ExitCode::runtime);
}

}  // namespace

void add_demo_command(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<DemoCommandOptions>();
  auto* sub = app.add_subcommand("demo", "The embedded default: a synthetic VQA world, two small models trained on it, "
                                         "and the full analysis of both");
  sub->add_option("--out", opts->demo.out_dir, "demo folder (default out/demo)");
  sub->add_option("--seed", opts->demo.seed, "seed of the world, the initialisation and the analysis (default 1)")
      ->check(AtLeast(0));
  sub->add_flag("--retrain", opts->demo.retrain, "train the models even if models for the same settings exist");
  sub->add_flag("--small", opts->demo.small, "a smaller world and a shorter schedule (quick look, tests)");
  sub->add_option("--threads", opts->demo.threads,
                  "LibTorch threads per trained model (default 1; the two models train at the same time; the "
                  "trained weights depend on it)")
      ->check(AtLeast(1));
  sub->add_option("--samples", opts->demo.analysis_samples,
                  "validation questions per analysis run (default 500, small 64)")
      ->check(AtLeast(1));
  sub->add_option("--ranks", opts->ranks, "MPI ranks of the analysis (default 2)")->check(AtLeast(1));
  sub->add_flag("--no-analysis", opts->no_analysis, "stop after training and writing the run configs");
  CLI::App* root = &app;
  table.entries.emplace_back(sub, [opts, root] {
    const auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw RuntimeFailure("cannot find this executable (/proc/self/exe): " + ec.message());
    opts->demo.executable = self;  // train both models at once, as `headprune train` processes
    demo::DemoResult r = demo::prepare_demo(opts->demo);
    std::printf("\nheadprune demo (seed %llu%s): world %s%s\n", static_cast<unsigned long long>(opts->demo.seed),
                opts->demo.small ? ", small" : "", r.world.dir.c_str(), r.world_reused ? " (reused)" : "");
    std::printf("  %-11s %15s %15s %26s %10s\n", "model", "valid accuracy", "before training", "majority answer",
                "train s");
    for (const auto& m : r.models) {
      char majority[64];
      std::snprintf(majority, sizeof majority, "'%s' %.2f", m.majority_answer.c_str(), m.majority_accuracy);
      std::printf("  %-11s %15.2f %15.2f %26s %10.1f%s\n", m.family.c_str(), m.valid_accuracy, m.initial_accuracy,
                  majority, m.seconds, m.reused ? " (reused)" : "");
    }
    for (const auto& m : r.models) std::printf("  %s: checkpoint %s, run config %s\n", m.family.c_str(), m.dir.c_str(),
                                               m.run_config.c_str());
    std::fflush(stdout);

    if (opts->no_analysis) {
      std::printf("stopped after training (--no-analysis)\n");
      return static_cast<int>(ExitCode::ok);
    }
    if (!has_subcommand(*root, "run")) {
      std::printf("this build has no `headprune run`: stopped after training; run the analysis later with\n");
      for (const auto& m : r.models) std::printf("  headprune run %s\n", m.run_config.c_str());
      return static_cast<int>(ExitCode::ok);
    }
    const std::string launch = launcher(opts->ranks);
    std::vector<std::string> results;
    for (const auto& m : r.models) {
      const int code = run_shell((launch.empty() ? "" : launch + " ") + quote(self) + " run " + quote(m.run_config) +
                                 " --overwrite");
      if (code != 0) {
        std::fprintf(stderr, "headprune: demo: the %s analysis failed (exit %d)\n", m.family.c_str(), code);
        return code;
      }
      results.push_back(m.results);
    }
    std::string where = results.front() + ", " + results.back();
    if (has_subcommand(*root, "merge")) {
      const std::string merged = (std::filesystem::path(r.world.dir).parent_path() / "results" / "demo.h5").string();
      std::string cmd = quote(self) + " merge " + quote(merged);
      for (const auto& p : results) cmd += " " + quote(p);
      if (const int code = run_shell(cmd + " --overwrite"); code != 0) return code;
      where = merged;
    }
    // The report: tables, plots and report.md (analysis/report.py, Debian's python3 + h5py + matplotlib).
    const std::string script = build_info().source_dir + "/analysis/report.py";
    std::string report;
    if (results.size() > 0 && std::filesystem::exists(script) && std::filesystem::exists("/usr/bin/python3")) {
      const std::string dir = (std::filesystem::path(r.world.dir).parent_path() / "report").string();
      if (run_shell("/usr/bin/python3 " + quote(script) + " " + quote(where) + " --out " + quote(dir)) == 0)
        report = dir + "/report.md";
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("demo done in %.1f s; results: %s\n", seconds, where.c_str());
    std::printf("visualizations: %s\n",
                (std::filesystem::path(r.world.dir).parent_path() / "visualizations").string().c_str());
    if (!report.empty()) std::printf("report: %s\n", report.c_str());
    return static_cast<int>(ExitCode::ok);
  });
}

}  // namespace headprune::app
