// Step 4 of `headprune run`: rank 0 lists the units that earlier runs of this identity finished
// (checkpoint.hpp), finds the units left to do and balances them over the ranks; every rank
// receives the plan, and loads its share of the finished units' checkpoint files (file i goes to
// rank i mod ranks), so that no rank holds every resumed unit.
#include <spdlog/spdlog.h>

#include "headprune/common/error.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

// Length-prefixed pieces of one broadcast.
void put(std::string& out, const std::string& piece) { out += std::to_string(piece.size()) + ":" + piece; }
std::string take(const std::string& in, size_t& pos) {
  const size_t colon = in.find(':', pos);
  const size_t n = std::stoull(in.substr(pos, colon - pos));
  pos = colon + 1 + n;
  return in.substr(colon + 1, n);
}

}  // namespace

void plan_run(Context& ctx) {
  dist::Communicator& comm = *ctx.comm;
  ctx.blocks = ratio_blocks(ctx.cfg.run.shard, ctx.cfg.prune.ratios, ctx.ratios_per_forward);
  Partials partials;
  std::string error, bytes;
  if (ctx.root) {
    try {
      partials = scan_partials(ctx.partial, ctx.identity);
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  agree_on_error(comm, error);
  if (ctx.root) {
    std::vector<int64_t> cost;
    for (const auto& s : ctx.samples()) cost.push_back(ctx.in.builder->cost(s));
    const int64_t nb = make_plan(cost, ctx.cfg.run.batch_size, 1, {}).num_batches();
    const auto units = static_cast<int64_t>(ctx.blocks.size()) * nb;
    for (int64_t u = 0; u < units; ++u)
      if (!partials.units.count(batch_unit(u % nb, u / nb))) ctx.todo.push_back(u);
    ctx.plan = make_plan(cost, ctx.cfg.run.batch_size, comm.size(), ctx.todo);
    ctx.done_units = partials.units;
    if (!partials.units.empty())
      spdlog::info("resume: {} of {} {} already done", units - static_cast<int64_t>(ctx.todo.size()), units,
                   ctx.blocks.size() == 1 ? "batches" : "(batch, ratio block) units");
    put(bytes, ctx.plan.serialize());
    put(bytes, std::string(reinterpret_cast<const char*>(ctx.todo.data()), ctx.todo.size() * sizeof(int64_t)));
    put(bytes, join(partials.files, "\n"));
  }
  comm.broadcast_bytes(bytes, 0);
  size_t pos = 0;
  ctx.plan = Plan::deserialize(take(bytes, pos));
  const std::string todo = take(bytes, pos), files = take(bytes, pos);
  ctx.todo.assign(reinterpret_cast<const int64_t*>(todo.data()),
                  reinterpret_cast<const int64_t*>(todo.data() + todo.size()));

  std::vector<std::string> mine;
  size_t i = 0;
  for (size_t begin = 0; begin < files.size(); ++i) {
    size_t end = files.find('\n', begin);
    if (end == std::string::npos) end = files.size();
    if (static_cast<int>(i % static_cast<size_t>(comm.size())) == comm.rank()) mine.push_back(files.substr(begin, end - begin));
    begin = end + 1;
  }
  ctx.resumed = load_checkpoints(mine);
}

}  // namespace headprune::run
