// Which questions a run evaluates (config `data.selection`, `data.num_samples`, `data.seed`) and
// the training-image exclusion list (`data.exclude_images`).
//
//   seed_shuffle  the seed's selection, exactly: Python's
//                   random.seed(seed); r = list(range(n)); random.shuffle(r); r[:num_samples]
//                 (data/python_random.hpp), indices into the question file in file order;
//   first_n       0, 1, ..., num_samples - 1;
//   all           every question, in file order (num_samples is ignored);
//   list          the question ids of `data.selection_file`, one a line, in that order
//                 (num_samples is ignored): a sample list pinned by someone who ran another loader
//                 (MMF's shuffled validation loader, say). Resolved by make_sample_list
//                 (vqa_dataset.hpp), which knows the question ids.
//
// Failure: an empty selection and num_samples > available are UserErrors that name `where`.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

namespace headprune::data {

enum class Selection { all, first_n, seed_shuffle, list };

/// "all", "first_n", "seed_shuffle", "list"; anything else is a UserError naming `where` (e.g. the
/// config file and key) and the accepted names.
Selection selection_from_string(const std::string& name, const std::string& where);
const char* selection_name(Selection selection);

struct SelectionSpec {
  Selection mode = Selection::seed_shuffle;
  int64_t num_samples = -1;  ///< -1: every available item (seed_shuffle then permutes them all)
  int64_t seed = 1234;       ///< seed_shuffle only; the seed code's default
  std::string list_file;     ///< list only: the question ids, one a line
};

/// One question id of a selection file and the line it is on (1-based).
struct ListedId {
  std::string question_id;
  int64_t line = 0;
};

/// Reads a selection file: one question id a line, outer whitespace stripped, blank lines and
/// lines starting with '#' skipped. UserError when the file is missing, lists no id, or lists
/// an id twice (naming both lines).
std::vector<ListedId> read_selection_file(const std::string& path);

/// random.seed(seed); r = list(range(n)); random.shuffle(r); return r[:num_samples]
/// (num_samples < 0: all n). HP_ASSERTs num_samples <= n; select_indices() does the user checks.
std::vector<int64_t> seed_shuffle(int64_t n, int64_t num_samples, int64_t seed);

/// Indices into a list of `available` items, per `spec` (not Selection::list). UserError naming `where` (the question
/// file, say) when nothing would be selected (available == 0 or num_samples == 0) or when
/// num_samples > available.
std::vector<int64_t> select_indices(const SelectionSpec& spec, int64_t available, const std::string& where);

/// A list of image ids whose questions must not be evaluated: the images a checkpoint was
/// trained on (the public LXMERT VQA model saw train + nominival, so evaluating it on the full
/// val set leaks; exclude nominival's images to run on minival only).
class ImageExclusion {
 public:
  ImageExclusion() = default;

  /// Reads `path`: a JSON file holding a list of image ids (strings or integers) or a list of
  /// records with an "img_id" field (e.g. LXMERT's nominival.json itself), or a text file with
  /// one image id per line (blank lines and lines starting with '#' are skipped). UserError
  /// naming the file and the record for anything else.
  static ImageExclusion load(const std::string& path);

  /// From ids in memory (tests); `source` names them in log lines.
  static ImageExclusion from_ids(const std::vector<std::string>& ids, const std::string& source);

  bool contains(const std::string& img_id) const { return keys_.count(image_key(img_id)) > 0; }
  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  const std::string& source() const { return source_; }

  /// The key both spellings of a COCO image share: "COCO_val2014_000000393225" and "393225" both
  /// give "393225" (COCO ids are unique across train2014 and val2014). Other ids are kept as is.
  static std::string image_key(const std::string& img_id);

 private:
  std::unordered_set<std::string> keys_;
  std::string source_;
};

}  // namespace headprune::data
