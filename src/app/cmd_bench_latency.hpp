// `headprune bench --latency` / `--pruned FOLDER`: forward latency of a dense model against its
// physically pruned versions (src/app/cmd_bench_latency.cpp; docs/export.md).
#pragma once

#include <ATen/core/ScalarType.h>

#include <string>
#include <vector>

namespace headprune::app {

struct LatencyOptions {
  std::vector<std::string> families;               ///< full-size random models (the families table)
  std::string pruned;                              ///< an exported folder: time it against its source instead
  std::vector<int64_t> batch_sizes{1, 8, 32, 64};
  std::vector<double> ratios{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};  ///< of all scored heads
  int reps = 5;                                    ///< timed forwards per cell (median), after one warm-up
  int64_t tokens = 20;
  std::string csv;                                 ///< also write the table here (analysis/plot_latency.py)
  std::string device = "cpu";
  at::ScalarType dtype = at::kFloat;
};

void run_latency_bench(const LatencyOptions& options);

}  // namespace headprune::app
