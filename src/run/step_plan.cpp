// Step 4 of `headprune run`: rank 0 reads the finished units of earlier runs of this identity,
// finds the batches left to do and balances them over the ranks; every rank receives the plan.
#include <spdlog/spdlog.h>

#include "headprune/common/error.hpp"
#include "steps.hpp"

namespace headprune::run {

void plan_run(Context& ctx) {
  dist::Communicator& comm = *ctx.comm;
  std::string error, plan_bytes;
  if (ctx.root) {
    try {
      ctx.done = load_partials(ctx.partial, ctx.identity);
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  agree_on_error(comm, error);
  if (ctx.root) {
    std::vector<int64_t> cost;
    for (const auto& s : ctx.samples()) cost.push_back(ctx.in.builder->cost(s));
    Plan full = make_plan(cost, ctx.cfg.run.batch_size, 1, {});
    for (int64_t b = 0; b < full.num_batches(); ++b)
      if (!has_prefix(ctx.done, "b" + std::to_string(b) + "/")) ctx.todo.push_back(b);
    ctx.plan = make_plan(cost, ctx.cfg.run.batch_size, comm.size(), ctx.todo);
    if (!ctx.done.empty())
      spdlog::info("resume: {} of {} batches already done", full.num_batches() - static_cast<int64_t>(ctx.todo.size()),
                   full.num_batches());
    plan_bytes = ctx.plan.serialize();
    std::string t(reinterpret_cast<const char*>(ctx.todo.data()), ctx.todo.size() * sizeof(int64_t));
    plan_bytes = std::to_string(plan_bytes.size()) + ":" + plan_bytes + t;
  }
  comm.broadcast_bytes(plan_bytes, 0);
  const size_t colon = plan_bytes.find(':');
  const size_t n = std::stoull(plan_bytes.substr(0, colon));
  ctx.plan = Plan::deserialize(plan_bytes.substr(colon + 1, n));
  const std::string t = plan_bytes.substr(colon + 1 + n);
  ctx.todo.assign(reinterpret_cast<const int64_t*>(t.data()), reinterpret_cast<const int64_t*>(t.data() + t.size()));
}

}  // namespace headprune::run
