#include "headprune/run/plan.hpp"

#include <cstring>
#include <numeric>

#include "headprune/common/error.hpp"
#include "headprune/prune/per_sample.hpp"

namespace headprune::run {

const char* shard_name(Shard s) { return s == Shard::samples ? "samples" : "samples_x_ratios"; }

std::vector<RatioBlock> ratio_blocks(Shard shard, const std::vector<double>& ratios, int64_t per_forward) {
  const auto S = static_cast<int64_t>(ratios.size());
  if (shard == Shard::samples || S <= 1) return {{0, S}};
  std::vector<RatioBlock> out;  // one unit per masked forward of the per-sample protocol
  for (const auto& [begin, end] : prune::forward_blocks(ratios, per_forward)) out.push_back({begin, end});
  return out;
}

std::vector<int64_t> Plan::units_of(int rank, const std::vector<int64_t>& todo) const {
  std::vector<int64_t> out;
  for (int64_t i = rank_begin[static_cast<size_t>(rank)]; i < rank_begin[static_cast<size_t>(rank) + 1]; ++i)
    out.push_back(todo[static_cast<size_t>(i)]);
  return out;
}

Plan make_plan(const std::vector<int64_t>& cost, int64_t batch_size, int ranks, const std::vector<int64_t>& todo) {
  HP_ASSERT(batch_size >= 1 && ranks >= 1, "bad plan parameters");
  Plan plan;
  plan.num_samples = static_cast<int64_t>(cost.size());
  plan.batch_size = batch_size;
  for (int64_t s = 0; s < plan.num_samples; s += batch_size) plan.batch_begin.push_back(s);
  plan.batch_begin.push_back(plan.num_samples);
  // Cost of each unit still to do (its batch's), then cut their prefix sums at multiples of total / ranks.
  const int64_t nb = plan.num_batches();
  std::vector<int64_t> batch_cost;
  for (int64_t u : todo) {
    const int64_t b = u % nb;
    int64_t c = 0;
    for (int64_t s = plan.batch_begin[static_cast<size_t>(b)]; s < plan.batch_begin[static_cast<size_t>(b) + 1]; ++s)
      c += std::max<int64_t>(1, cost[static_cast<size_t>(s)]);
    batch_cost.push_back(c);
  }
  const int64_t total = std::accumulate(batch_cost.begin(), batch_cost.end(), int64_t{0});
  plan.rank_begin.assign(static_cast<size_t>(ranks) + 1, static_cast<int64_t>(todo.size()));
  plan.rank_begin[0] = 0;
  int64_t acc = 0;
  size_t i = 0;
  for (int r = 1; r < ranks; ++r) {
    // Rank r starts at the first batch whose cost prefix reaches r/ranks of the total.
    const double target = static_cast<double>(total) * r / ranks;
    while (i < batch_cost.size() && static_cast<double>(acc) + batch_cost[i] / 2.0 <= target) acc += batch_cost[i++];
    plan.rank_begin[static_cast<size_t>(r)] = static_cast<int64_t>(i);
  }
  return plan;
}

std::vector<Cell> cells_of(int rank, int ranks, int64_t num_ratios, const std::vector<int64_t>& todo_batches) {
  std::vector<Cell> out;
  int64_t index = 0;
  for (int64_t k = 0; k < num_ratios; ++k)
    for (int64_t b : todo_batches)
      if (index++ % ranks == rank) out.push_back({k, b});
  return out;
}

namespace {
void put(std::string& out, const std::vector<int64_t>& v) {
  int64_t n = static_cast<int64_t>(v.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
}
std::vector<int64_t> get(const std::string& in, size_t& pos) {
  int64_t n = 0;
  HP_ASSERT(pos + sizeof n <= in.size(), "truncated plan");
  std::memcpy(&n, in.data() + pos, sizeof n);
  pos += sizeof n;
  std::vector<int64_t> v(static_cast<size_t>(n));
  HP_ASSERT(pos + v.size() * sizeof(int64_t) <= in.size(), "truncated plan");
  std::memcpy(v.data(), in.data() + pos, v.size() * sizeof(int64_t));
  pos += v.size() * sizeof(int64_t);
  return v;
}
}  // namespace

std::string Plan::serialize() const {
  std::string out;
  put(out, {num_samples, batch_size});
  put(out, batch_begin);
  put(out, rank_begin);
  return out;
}

Plan Plan::deserialize(const std::string& bytes) {
  size_t pos = 0;
  Plan p;
  auto head = get(bytes, pos);
  p.num_samples = head.at(0);
  p.batch_size = head.at(1);
  p.batch_begin = get(bytes, pos);
  p.rank_begin = get(bytes, pos);
  return p;
}

}  // namespace headprune::run
