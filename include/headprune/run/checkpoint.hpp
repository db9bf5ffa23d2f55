// Checkpoints of a run: what each rank finished, saved so that a rerun resumes.
//
//   <output>.partial/config.yaml              the result-defining config the partial results belong to
//   <output>.partial/<run>-rank<r>-<seq>.h5   one u8 dataset "bundle": finished units (batches
//                                             "b<i>/...", ratio blocks "p<j>_<i>/..." and global-
//                                             protocol cells "c<k>_<i>/...": src/run/steps.hpp);
//                                             attribute "identity" on "bundle": the run identity
// Each file is written to a temporary name and renamed: a checkpoint is complete or absent. <run> is
// unique per run (start time, host, pid of rank 0), so two runs never write the same file name.
//
// The run identity is a SHA-256 of the result-defining config and of the inputs (weights,
// questions, tokenizer vocabulary, answers, features). A resume reads only checkpoints of its own
// identity and refuses the folder otherwise: results of two configs, or of changed inputs, are
// never mixed.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "headprune/config/config.hpp"
#include "headprune/io/tensor_bundle.hpp"

namespace headprune::run {

std::string partial_dir(const config::Config& cfg);

/// The config with the keys that do not change results (threads, logging, checkpoint cadence,
/// overwrite) reset: partial results may be resumed only under the same text.
std::string result_defining_yaml(config::Config cfg);

/// The identity of a run's results: the result-defining config and what the inputs hold.
/// Checkpoints carry it, and a resume reads only its own. The weights, questions and tokenizer
/// vocabulary are hashed whole, the answer list by its file's SHA-256 (as in /meta); the feature
/// store (often tens of GB) by the SHA-256 of its image ids (`features_sha256`), size and
/// modification time.
std::string run_identity(const std::string& defining_yaml, const std::string& weights_sha256,
                         const std::string& questions_sha256, const std::string& annotations_path,
                         const std::string& tokenizer_vocab, const std::string& answers_sha256,
                         const std::string& features_path, const std::string& features_sha256);

/// Collects finished units and writes them to the rank's next checkpoint file on flush().
class Checkpointer {
 public:
  Checkpointer(const std::string& dir, const std::string& run_id, const std::string& identity, int rank)
      : dir_(dir), run_id_(run_id), identity_(identity), rank_(rank) {}
  void add(const io::TensorBundle& b);
  void flush();

 private:
  std::string dir_, run_id_, identity_;
  int rank_;
  int seq_ = 0;
  io::TensorBundle pending_;
};

/// What the checkpoint files of a folder hold.
struct Partials {
  std::vector<std::string> files;  ///< sorted
  std::set<std::string> units;     ///< finished units: "b3", "p2_3", "c2_5" (a key up to its first '/')
};
/// Rank 0 before a resume: lists the checkpoint files in `dir` and their units, reading one file at
/// a time (empty when there is none). Throws UserError naming the first file whose identity is
/// not `identity` (or that has none).
Partials scan_partials(const std::string& dir, const std::string& identity);

/// Every finished unit of `files` (checked by scan_partials): each rank loads its share of them.
io::TensorBundle load_checkpoints(const std::vector<std::string>& files);

}  // namespace headprune::run
