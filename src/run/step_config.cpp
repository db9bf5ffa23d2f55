// Step 1 of `headprune run`: rank 0 reads and resolves the config, every rank types the same YAML
// text; this rank's LibTorch threads; the (method, granularity, sign) combos of the run.
#include <ATen/Parallel.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "headprune/common/error.hpp"
#include "headprune/common/log.hpp"
#include "headprune/prune/per_sample.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

// LibTorch threads per rank: the config, else the cores the launcher bound this rank to, shared
// with the other ranks of the node when the rank is not bound at all (never oversubscribe).
int threads_for_rank(int64_t configured, int local_size) {
  if (configured > 0) return static_cast<int>(configured);
  cpu_set_t set;
  CPU_ZERO(&set);
  int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (allowed >= hw) allowed = std::max(1, hw / std::max(1, local_size));  // unbound: share the node
  return std::max(1, allowed);
}

}  // namespace

void read_config(Context& ctx, const RunOptions& options) {
  dist::Communicator& comm = *ctx.comm;
  std::string error;
  if (ctx.root) {
    try {
      config::Config c = config::load_config(options.config_path, options.overrides);
      if (options.overwrite) c.output.overwrite = true;
      ctx.yaml = config::to_yaml(c);
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  agree_on_error(comm, error);
  comm.broadcast_bytes(ctx.yaml, 0);
  ctx.cfg = config::load_config_text(ctx.yaml, options.config_path);
  log_set_config_level(ctx.cfg.log_level, "log_level");
  ctx.threads = threads_for_rank(ctx.cfg.run.threads_per_rank, ctx.session->local_size());
  at::set_num_threads(ctx.threads);
  spdlog::debug("{} LibTorch thread(s) on {}", ctx.threads, ctx.session->host_names()[static_cast<size_t>(comm.rank())]);

  for (const auto& m : ctx.cfg.scoring.methods)
    for (auto g : ctx.cfg.prune.granularities)
      for (auto s : ctx.cfg.prune.signs)
        for (auto k : ctx.cfg.prune.modalities)
          for (int64_t r = 0; r < ctx.repeats_of(m); ++r) ctx.combos.push_back({m, g, s, k, r});
  ctx.ratios_per_forward =
      prune::ratios_per_forward(ctx.cfg.run.batch_size * std::max<int64_t>(1, static_cast<int64_t>(ctx.combos.size())));
}

}  // namespace headprune::run
