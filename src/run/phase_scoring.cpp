// Phase 5 of `headprune run`: every rank scores its batches (explain/scores.hpp) and runs the
// per-sample protocol on each (prune/per_sample.hpp). The finished batches stay on their rank
// until the reductions (reduce.cpp) and the gather.
//
// A finished batch b is a bundle of tensors under "b<b>/": target, unpruned_pred,
// unpruned_score, scores/<method>/<granularity>, and curves/per_sample/<combo>/{pred_index,
// label_score} ([B, ratios]).
#include <ATen/ATen.h>

#include "headprune/explain/scores.hpp"
#include "headprune/prune/per_sample.hpp"
#include "progress.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

io::TensorBundle run_batch(const Context& ctx, int64_t b) {
  const auto samples = ctx.samples_of_batch(b);
  const models::VqaModel& model = *ctx.in.model;
  BuiltBatch built = ctx.in.builder->build(samples, model.num_answers());
  std::vector<int64_t> index;
  for (int64_t s = ctx.plan.batch_begin[static_cast<size_t>(b)]; s < ctx.plan.batch_begin[static_cast<size_t>(b) + 1]; ++s)
    index.push_back(s);
  explain::ScoringOptions so;
  so.methods = ctx.cfg.scoring.methods;
  so.target = ctx.cfg.scoring.explain;
  so.michel_normalize = ctx.cfg.scoring.michel_normalize;
  so.random_seed = static_cast<uint64_t>(ctx.cfg.scoring.random_seed);
  so.ig_steps = ctx.cfg.scoring.ig_steps;
  explain::ScoringResult scored = explain::score_batch(model, built.batch, so, built.labels, index);
  refuse_nonfinite(ctx, samples, scored.logits, "logits");
  for (const auto& [method, us] : scored.scores)
    refuse_nonfinite(ctx, samples, us.head, method + " scores");

  io::TensorBundle out;
  const std::string key = "b" + std::to_string(b) + "/";
  at::Tensor pred0 = scored.logits.argmax(1).cpu();
  out[key + "target"] = scored.target.cpu();
  out[key + "unpruned_pred"] = pred0;
  out[key + "unpruned_score"] = label_scores(ctx, samples, pred0.unsqueeze(1)).view({-1});
  for (const auto& [method, us] : scored.scores) {
    for (auto g : ctx.cfg.prune.granularities)
      out[key + "scores/" + method + "/" + prune::granularity_name(g)] =
          g == prune::Granularity::head ? us.head : us.layer;
  }
  if (!ctx.runs(config::Protocol::per_sample)) return out;

  // All combos x ratios of the batch in one batched masked evaluation; ratio 0 reuses the
  // scoring pass's unpruned logits.
  const int64_t B = built.batch.size(), S = static_cast<int64_t>(ctx.cfg.prune.ratios.size());
  const prune::PerSampleProtocol protocol(ctx.cfg.prune.ratios, ctx.cfg.prune.count_rule);
  std::vector<prune::PerSampleProtocol::ComboMasks> masks;
  for (const auto& c : ctx.combos) {
    const auto& us = scored.scores.at(c.method);
    masks.push_back({protocol.masks(c.granularity == prune::Granularity::head ? us.head : us.layer, c.granularity, c.sign),
                     c.granularity});
  }
  const at::Tensor pred = protocol.evaluate(model, built.batch, masks, scored.logits).pred;  // [B,C,S]
  at::Tensor scores = label_scores(ctx, samples, pred.view({B, -1})).view({B, -1, S});
  for (size_t c = 0; c < ctx.combos.size(); ++c) {
    const std::string p = key + "curves/per_sample/" + ctx.combos[c].path();
    out[p + "/pred_index"] = pred.select(1, static_cast<int64_t>(c)).contiguous();
    out[p + "/label_score"] = scores.select(1, static_cast<int64_t>(c)).contiguous();
  }
  return out;
}

}  // namespace

void scoring_phase(Context& ctx, UnitLoop& loop) {
  const auto my_batches = ctx.plan.batches_of(ctx.comm->rank(), ctx.todo);
  int64_t todo_samples = 0;
  for (int64_t b : ctx.todo)
    todo_samples += ctx.plan.batch_begin[static_cast<size_t>(b) + 1] - ctx.plan.batch_begin[static_cast<size_t>(b)];
  Progress progress("scoring", static_cast<int64_t>(my_batches.size()), todo_samples, ctx.cfg.run.progress_seconds);
  loop.run(
      my_batches.size(), [&](size_t i) { return run_batch(ctx, my_batches[i]); },
      [&](size_t i) {
        if (ctx.root) progress.step(static_cast<int64_t>(i) + 1);
      });
}

}  // namespace headprune::run
