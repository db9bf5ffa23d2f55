// Subcommands of the `headprune` executable. Each lives in src/app/cmd_<name>.cpp and
// registers itself on the CLI11 app; main() runs the one that was parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <utility>
#include <vector>

namespace headprune::app {

/// A parsed subcommand and the function that runs it, returning a process exit code.
struct CommandTable {
  std::vector<std::pair<CLI::App*, std::function<int()>>> entries;
};

void add_conformance_command(CLI::App& app, CommandTable& table);
void add_run_command(CLI::App& app, CommandTable& table);
void add_merge_command(CLI::App& app, CommandTable& table);
void add_bench_command(CLI::App& app, CommandTable& table);
void add_import_features_command(CLI::App& app, CommandTable& table);
void add_train_command(CLI::App& app, CommandTable& table);
void add_demo_command(CLI::App& app, CommandTable& table);
void add_visualize_command(CLI::App& app, CommandTable& table);

}  // namespace headprune::app
