// Writing and merging results files (layout: docs/results-format.md).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace headprune::io {

/// One experiment as the job assembled it on rank 0.
struct Experiment {
  std::string name;
  std::map<std::string, std::string> meta_text;   ///< attributes of meta/
  std::map<std::string, int64_t> meta_int;
  std::map<std::string, std::vector<std::string>> strings;  ///< e.g. "meta/answers", "samples/img_id"
  std::map<std::string, at::Tensor> datasets;     ///< path below the experiment -> data
};

/// Writes `path` (to `path`.tmp, renamed when complete). Refuses an existing file unless
/// `overwrite` (UserError naming it).
void write_results_file(const std::string& path, const std::vector<Experiment>& experiments, bool overwrite);

/// Copies every experiment of `inputs` into `out`. Two inputs holding the same experiment name
/// are refused (UserError naming both files) unless every dataset of the two is identical.
void merge_results_files(const std::string& out, const std::vector<std::string>& inputs, bool overwrite);

}  // namespace headprune::io
