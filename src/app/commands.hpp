// Subcommands of the `headprune` executable. Each lives in src/app/cmd_<name>.cpp and
// registers itself on the CLI11 app; main() runs the one that was parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace headprune::app {

/// A numeric option of at least `min`, with a message a user can read ("--ranks: 0 is less than
/// 1"); CLI11's PositiveNumber prints its range up to 1.8e308. `integer`: no fraction either.
/// Checked before conversion, so an unsigned option no longer wraps "-1" to 2^64 - 1.
inline CLI::Validator AtLeast(double min, bool integer = true) {
  return CLI::Validator(
      [min, integer](std::string& text) -> std::string {
        std::size_t used = 0;
        double v = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(v) || (integer && std::trunc(v) != v))
          return "'" + text + "' is not " + (integer ? "an integer" : "a number");
        if (v < min) return text + " is less than " + CLI::detail::to_string(min);
        return "";
      },
      (integer ? "INT>=" : "NUM>=") + CLI::detail::to_string(min));
}

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
void add_export_command(CLI::App& app, CommandTable& table);

}  // namespace headprune::app
