// The plan of a run, made by rank 0 and broadcast: which samples form each batch, which rank
// runs which batches, and (global protocol) which rank evaluates which (ratio, batch) cell.
//
// Batches are fixed by the sample order and the batch size alone — never by the rank count —
// so every per-sample value is computed on the same padded batch whatever the rank count, and
// 1, 2, 3 or 4 ranks write bit-identical results. Ranks get contiguous runs of batches balanced
// by cost (question tokens x regions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::run {

struct Plan {
  int64_t num_samples = 0;
  int64_t batch_size = 0;
  std::vector<int64_t> batch_begin;  ///< batch b = samples [batch_begin[b], batch_begin[b+1]); size = batches + 1
  std::vector<int64_t> rank_begin;   ///< rank r runs batches [rank_begin[r], rank_begin[r+1]); size = ranks + 1

  int64_t num_batches() const { return static_cast<int64_t>(batch_begin.size()) - 1; }
  int64_t num_ranks() const { return static_cast<int64_t>(rank_begin.size()) - 1; }
  /// The batches `rank` runs among `todo` (batches not yet done, ascending).
  std::vector<int64_t> batches_of(int rank, const std::vector<int64_t>& todo) const;

  std::string serialize() const;
  static Plan deserialize(const std::string& bytes);
};

/// Splits `cost.size()` samples into batches of `batch_size` and the batches listed in `todo`
/// into `ranks` contiguous runs of about equal total cost.
Plan make_plan(const std::vector<int64_t>& cost, int64_t batch_size, int ranks, const std::vector<int64_t>& todo);

/// Cells of the global protocol's evaluation grid (ratio k, batch b), assigned round-robin.
struct Cell {
  int64_t ratio = 0;
  int64_t batch = 0;
};
std::vector<Cell> cells_of(int rank, int ranks, int64_t num_ratios, const std::vector<int64_t>& todo_batches);

}  // namespace headprune::run
