// Writing and merging results files (layout: docs/results-format.md).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "headprune/io/output_path.hpp"

namespace headprune::h5 {
class File;
}

namespace headprune::io {

/// One experiment as the job assembled it on rank 0.
struct Experiment {
  std::string name;
  std::map<std::string, std::string> meta_text;   ///< attributes of meta/
  std::map<std::string, int64_t> meta_int;
  std::map<std::string, std::vector<std::string>> strings;  ///< e.g. "meta/answers", "samples/img_id"
  std::map<std::string, at::Tensor> datasets;     ///< path below the experiment -> data
};

/// Writes one results file in pieces: experiments' meta and small datasets at once, large
/// per-sample datasets block by block as they arrive (the job streams them from its ranks, so no
/// process holds them whole), then commit(). The file is written as `path`.tmp and renamed by
/// commit(), after it checked that every block-written dataset was filled exactly once: the
/// results file is complete or absent.
class ResultsWriter {
 public:
  /// Refuses an existing `path` unless `overwrite` (UserError naming it).
  ResultsWriter(const std::string& path, bool overwrite);
  ~ResultsWriter();
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  void add(const Experiment& experiment);
  /// Writes `block` at `offset` of dataset `name` of `experiment` ("scores/ours/head"), creating it
  /// with `shape` and the block's element type at its first block. `block` has as many dimensions
  /// as `shape`.
  void write_block(const std::string& experiment, const std::string& name, const std::vector<int64_t>& shape,
                   const at::Tensor& block, const std::vector<int64_t>& offset);
  void commit();

 private:
  std::string path_;
  RemoveOnExit remove_tmp_;
  std::unique_ptr<h5::File> file_;
  std::map<std::string, std::pair<int64_t, int64_t>> filled_;  ///< block-written dataset -> (written, total) elements
};

/// Writes `path` (to `path`.tmp, renamed when complete). Refuses an existing file unless
/// `overwrite` (UserError naming it).
void write_results_file(const std::string& path, const std::vector<Experiment>& experiments, bool overwrite);

/// Copies every experiment of `inputs` into `out`. Two inputs holding the same experiment name
/// are refused (UserError naming both files) unless every dataset of the two is identical.
void merge_results_files(const std::string& out, const std::vector<std::string>& inputs, bool overwrite);

}  // namespace headprune::io
