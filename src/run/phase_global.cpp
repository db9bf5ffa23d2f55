// Phase 7 of `headprune run`: the global protocol (prune/global.hpp). Every rank builds the masks
// of every combo itself from the rankings (reduce.cpp: exact, so every rank builds the same; no
// broadcast), and the ranks evaluate the (ratio, batch) cells, round-robin. A finished cell is a
// bundle under "c<ratio>_<batch>/curves/global/<combo>/{pred_index,label_score}" ([B]).
#include <ATen/ATen.h>

#include "headprune/prune/global.hpp"
#include "progress.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

io::TensorBundle run_cell(const Context& ctx, const prune::GlobalProtocol& protocol, const Cell& cell,
                          const io::TensorBundle& global_masks) {
  const auto samples = ctx.samples_of_batch(cell.batch);
  BuiltBatch built = ctx.in.builder->build(samples, ctx.in.model->num_answers());
  std::vector<prune::GlobalProtocol::ComboMask> masks;
  for (const auto& c : ctx.combos) masks.push_back({global_masks.at(c.key())[cell.ratio], c.granularity});
  at::Tensor pred = protocol.evaluate(*ctx.in.model, built.batch, masks);  // [B,C]
  at::Tensor scores = label_scores(ctx, samples, pred);
  io::TensorBundle out;
  const std::string key = cell_unit(cell.ratio, cell.batch) + "/curves/global/";
  for (size_t c = 0; c < ctx.combos.size(); ++c) {
    out[key + ctx.combos[c].key() + "/pred_index"] = pred.select(1, static_cast<int64_t>(c)).contiguous();
    out[key + ctx.combos[c].key() + "/label_score"] = scores.select(1, static_cast<int64_t>(c)).contiguous();
  }
  return out;
}

}  // namespace

io::TensorBundle global_phase(Context& ctx, UnitLoop& loop, const Rankings& rankings) {
  dist::Communicator& comm = *ctx.comm;
  if (!ctx.runs(config::Protocol::global)) return {};
  const prune::GlobalProtocol protocol(ctx.cfg.prune.ratios, ctx.cfg.prune.count_rule, ctx.cfg.prune.global_normalize);
  io::TensorBundle global_masks;  // by combo key: uint8 [ratios, M(,H)]
  for (const auto& c : ctx.combos)
    global_masks[c.key()] = protocol.masks(rankings.at(c.ranking()), c.sign,
                                           prune::eligible_units(*ctx.in.model, c.kind, c.granularity));
  const int64_t S = static_cast<int64_t>(ctx.cfg.prune.ratios.size()), nb = ctx.plan.num_batches();
  std::string todo_cells;
  if (ctx.root) {
    std::vector<int64_t> cells;  // flat k * nb + b of cells not done yet
    for (int64_t k = 0; k < S; ++k)
      for (int64_t b = 0; b < nb; ++b)
        if (!ctx.done_units.count(cell_unit(k, b))) cells.push_back(k * nb + b);
    todo_cells.assign(reinterpret_cast<const char*>(cells.data()), cells.size() * sizeof(int64_t));
  }
  comm.broadcast_bytes(todo_cells, 0);
  const auto* flat = reinterpret_cast<const int64_t*>(todo_cells.data());
  const size_t n_cells = todo_cells.size() / sizeof(int64_t);
  const size_t ranks = static_cast<size_t>(comm.size()), rank = static_cast<size_t>(comm.rank());
  const size_t my_cells = (n_cells + ranks - 1 - rank) / ranks;  // cells rank, rank + ranks, ...
  const int64_t N = static_cast<int64_t>(ctx.samples().size());
  Progress progress("global protocol", static_cast<int64_t>(my_cells), N * S, ctx.cfg.run.progress_seconds,
                    "sample x ratio evaluations");
  loop.run(
      my_cells,
      [&](size_t i) {
        const int64_t c = flat[rank + i * ranks];
        return run_cell(ctx, protocol, Cell{c / nb, c % nb}, global_masks);
      },
      [&](size_t i) {
        if (ctx.root) progress.step(static_cast<int64_t>(i) + 1);
      });
  return global_masks;
}

}  // namespace headprune::run
