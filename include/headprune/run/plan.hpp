// The plan of a run, made by rank 0 and broadcast: which samples form each batch, which rank
// runs which units of the per-sample phase, and (global protocol) which rank evaluates which
// (ratio, batch) cell.
//
// Batches are fixed by the sample order and the batch size alone — never by the rank count —
// so every per-sample value is computed on the same padded batch whatever the rank count, and
// 1, 2, 3 or 4 ranks write bit-identical results.
//
// Units of the per-sample phase (run.shard):
//   samples            one unit per batch: score it, evaluate every ratio (unit id = batch b)
//   samples_x_ratios   one unit per (ratio block j, batch b), id j * batches + b: each scores its
//                      batch and evaluates the ratios of its block, for runs with more ranks than
//                      batches. Blocks: the ratios that share a masked forward in the per-sample
//                      protocol (prune/per_sample.hpp: forward_groups), a leading ratio 0 (no
//                      forward: the unpruned answer) joined to the first. The scoring pass of a
//                      batch is repeated by each of its units (nothing is exchanged between
//                      ranks); unit j = 0 keeps it.
// Both modes run the same masked forwards (the same rows together), so a ratio's answers are the
// same bits in either mode (tested). Ranks get contiguous runs of units balanced by
// cost (question tokens x regions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::run {

enum class Shard { samples, samples_x_ratios };
const char* shard_name(Shard s);

/// Ratios [begin, end) of the prune grid evaluated by one unit of the per-sample phase.
struct RatioBlock {
  int64_t begin = 0, end = 0;
};
/// The ratio blocks of `shard` over `ratios` (one block of all ratios for `samples`);
/// `per_forward`: ratios per masked forward (prune::ratios_per_forward).
std::vector<RatioBlock> ratio_blocks(Shard shard, const std::vector<double>& ratios, int64_t per_forward);

struct Plan {
  int64_t num_samples = 0;
  int64_t batch_size = 0;
  std::vector<int64_t> batch_begin;  ///< batch b = samples [batch_begin[b], batch_begin[b+1]); size = batches + 1
  std::vector<int64_t> rank_begin;   ///< rank r runs todo units [rank_begin[r], rank_begin[r+1]); size = ranks + 1

  int64_t num_batches() const { return static_cast<int64_t>(batch_begin.size()) - 1; }
  int64_t num_ranks() const { return static_cast<int64_t>(rank_begin.size()) - 1; }
  /// The units `rank` runs among `todo` (units not yet done, ascending).
  std::vector<int64_t> units_of(int rank, const std::vector<int64_t>& todo) const;

  std::string serialize() const;
  static Plan deserialize(const std::string& bytes);
};

/// Splits `cost.size()` samples into batches of `batch_size` and the units listed in `todo`
/// (unit u is of batch u % batches) into `ranks` contiguous runs of about equal total cost.
Plan make_plan(const std::vector<int64_t>& cost, int64_t batch_size, int ranks, const std::vector<int64_t>& todo);

/// Cells of the global protocol's evaluation grid (ratio k, batch b), assigned round-robin.
struct Cell {
  int64_t ratio = 0;
  int64_t batch = 0;
};
std::vector<Cell> cells_of(int rank, int ranks, int64_t num_ratios, const std::vector<int64_t>& todo_batches);

}  // namespace headprune::run
