// Shared helpers for the test suite: where the bundled fixtures are, scratch folders.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "headprune/common/error.hpp"

namespace headprune::testing {

/// The message of the UserError that `f` throws; records a test failure (and returns "") when
/// it throws none.
template <typename F>
std::string user_error(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

/// tests/data/<sub> in the source tree (the bundled reference fixtures).
std::string data_path(const std::string& sub);

/// Path of the built `headprune` executable.
std::string binary_path();

/// A fresh, empty folder under the system temp dir, removed by the OS; unique per call.
std::string scratch_dir(const std::string& tag);

/// Runs a shell command, returns its exit status; stdout+stderr captured into *output.
int run_command(const std::string& command, std::string* output);

}  // namespace headprune::testing
