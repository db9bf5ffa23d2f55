// The run plan: fixed batches, contiguous cost-balanced shards, the global protocol's cells.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <utility>
#include <vector>

#include "headprune/prune/per_sample.hpp"
#include "headprune/run/plan.hpp"

using headprune::run::cells_of;
using headprune::run::make_plan;
using headprune::run::Plan;

TEST(Plan, BatchesDependOnlyOnSampleOrderAndBatchSize) {
  std::vector<int64_t> cost(23, 10);
  std::vector<int64_t> all(6);
  std::iota(all.begin(), all.end(), 0);
  Plan one = make_plan(cost, 4, 1, all), four = make_plan(cost, 4, 4, all);
  EXPECT_EQ(one.batch_begin, (std::vector<int64_t>{0, 4, 8, 12, 16, 20, 23}));
  EXPECT_EQ(one.batch_begin, four.batch_begin);
}

TEST(Plan, ShardsAreContiguousCoverEveryBatchOnceAndBalanceCost) {
  // Expensive samples at the front: a count-balanced split would give rank 0 most of the work.
  std::vector<int64_t> cost;
  for (int i = 0; i < 64; ++i) cost.push_back(i < 16 ? 400 : 100);
  std::vector<int64_t> all(16);
  std::iota(all.begin(), all.end(), 0);
  for (int ranks : {1, 2, 3, 4}) {
    Plan p = make_plan(cost, 4, ranks, all);
    ASSERT_EQ(p.num_ranks(), ranks);
    std::vector<int64_t> seen;
    std::vector<int64_t> rank_cost;
    for (int r = 0; r < ranks; ++r) {
      auto mine = p.units_of(r, all);
      for (size_t i = 1; i < mine.size(); ++i) EXPECT_EQ(mine[i], mine[i - 1] + 1) << "contiguous";
      seen.insert(seen.end(), mine.begin(), mine.end());
      int64_t c = 0;
      for (int64_t b : mine)
        for (int64_t s = p.batch_begin[b]; s < p.batch_begin[b + 1]; ++s) c += cost[s];
      rank_cost.push_back(c);
    }
    EXPECT_EQ(seen, all) << ranks << " ranks";
    const int64_t total = std::accumulate(rank_cost.begin(), rank_cost.end(), int64_t{0});
    for (int64_t c : rank_cost) EXPECT_LE(c, total / ranks + 1600) << "within one batch of the fair share";
  }
}

TEST(Plan, ResumePlansOnlyWhatIsLeftAndRoundTrips) {
  std::vector<int64_t> cost(40, 1);
  std::vector<int64_t> todo = {1, 2, 5, 7, 8, 9};
  Plan p = make_plan(cost, 4, 2, todo);
  std::vector<int64_t> seen;
  for (int r = 0; r < 2; ++r)
    for (int64_t b : p.units_of(r, todo)) seen.push_back(b);
  EXPECT_EQ(seen, todo);
  Plan q = Plan::deserialize(p.serialize());
  EXPECT_EQ(q.batch_begin, p.batch_begin);
  EXPECT_EQ(q.rank_begin, p.rank_begin);
  EXPECT_EQ(q.num_samples, 40);
}

TEST(Plan, GlobalCellsCoverTheRatioBatchGridOnce) {
  std::vector<int64_t> batches = {0, 1, 2, 3, 4};
  std::set<std::pair<int64_t, int64_t>> cells;
  size_t count = 0;
  for (int r = 0; r < 3; ++r)
    for (const auto& c : cells_of(r, 3, 10, batches)) {
      cells.insert({c.ratio, c.batch});
      ++count;
    }
  EXPECT_EQ(count, 50u);
  EXPECT_EQ(cells.size(), 50u);
}

// run.shard: samples_x_ratios splits the grid into the per-sample protocol's forward groups, one
// per unit, ratio 0 (no forward) riding with the first; the blocks cover every ratio once, in order.
TEST(Plan, RatioBlocksCoverTheGridOnce) {
  using headprune::run::ratio_blocks;
  using headprune::run::Shard;
  const std::vector<double> grid{0, 0.1, 0.2, 0.3};
  auto one = ratio_blocks(Shard::samples, grid, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].begin, 0);
  EXPECT_EQ(one[0].end, 4);
  auto blocks = ratio_blocks(Shard::samples_x_ratios, grid, 1);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].begin, 0);
  EXPECT_EQ(blocks[0].end, 2);
  EXPECT_EQ(blocks[1].begin, 2);
  EXPECT_EQ(blocks[2].end, 4);
  auto no_zero = ratio_blocks(Shard::samples_x_ratios, {0.5, 0.6}, 1);
  ASSERT_EQ(no_zero.size(), 2u);
  EXPECT_EQ(no_zero[1].begin, 1);
  EXPECT_EQ(ratio_blocks(Shard::samples_x_ratios, {0}, 1).size(), 1u);
  // The paper grid at 8 ratios a forward (batch 8, one combo): forwards of 5 and 4 ratios.
  const std::vector<double> paper{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  auto grouped = ratio_blocks(Shard::samples_x_ratios, paper, 8);
  ASSERT_EQ(grouped.size(), 2u);
  EXPECT_EQ(grouped[0].begin, 0);
  EXPECT_EQ(grouped[0].end, 6);
  EXPECT_EQ(grouped[1].begin, 6);
  EXPECT_EQ(grouped[1].end, 10);
  EXPECT_EQ(ratio_blocks(Shard::samples_x_ratios, paper, 64).size(), 1u);
}

// Consecutive ratios fill a masked forward up to kForwardRows rows, as evenly as possible.
TEST(Plan, ForwardGroupsAreEvenAndFillTheForwardRows) {
  namespace prune = headprune::prune;
  EXPECT_EQ(prune::ratios_per_forward(8), prune::kForwardRows / 8);
  EXPECT_EQ(prune::ratios_per_forward(prune::kForwardRows + 1), 1);
  EXPECT_EQ(prune::ratios_per_forward(1), prune::kForwardRows);
  using Groups = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(prune::forward_groups(9, 8), (Groups{{0, 5}, {5, 9}}));
  EXPECT_EQ(prune::forward_groups(9, 1).size(), 9u);
  EXPECT_EQ(prune::forward_groups(9, 9), (Groups{{0, 9}}));
  EXPECT_EQ(prune::forward_groups(10, 3), (Groups{{0, 3}, {3, 6}, {6, 8}, {8, 10}}));
  EXPECT_TRUE(prune::forward_groups(0, 4).empty());
  for (int64_t n = 1; n <= 12; ++n)
    for (int64_t g = 1; g <= 12; ++g) {
      const auto groups = prune::forward_groups(n, g);
      int64_t at = 0, smallest = n, largest = 0;
      for (const auto& [b, e] : groups) {
        EXPECT_EQ(b, at);
        EXPECT_LE(e - b, g);
        smallest = std::min(smallest, e - b);
        largest = std::max(largest, e - b);
        at = e;
      }
      EXPECT_EQ(at, n);
      EXPECT_LE(largest - smallest, 1) << n << " by " << g;
      EXPECT_EQ(static_cast<int64_t>(groups.size()), (n + g - 1) / g);
    }
}

// Units (block j, batch b) = j * batches + b: every todo unit goes to exactly one rank, and a
// unit's cost is its batch's.
TEST(Plan, RatioUnitsAreSplitOverTheRanksOnce) {
  std::vector<int64_t> cost(10, 1);
  std::vector<int64_t> units;
  for (int64_t u = 0; u < 3 * 3; ++u) units.push_back(u);  // 3 batches of 4, 3 blocks
  for (int ranks : {1, 2, 4, 16}) {
    Plan p = make_plan(cost, 4, ranks, units);
    ASSERT_EQ(p.num_batches(), 3);
    std::vector<int64_t> seen;
    for (int r = 0; r < ranks; ++r)
      for (int64_t u : p.units_of(r, units)) seen.push_back(u);
    EXPECT_EQ(seen, units) << ranks << " ranks";
  }
  Plan four = make_plan(cost, 4, 4, units);
  for (int r = 0; r < 4; ++r) EXPECT_FALSE(four.units_of(r, units).empty()) << "rank " << r << " idle";
}
