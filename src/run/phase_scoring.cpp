// Phase 5 of `headprune run`: every rank scores the batches of its units (explain/scores.hpp)
// and runs the per-sample protocol on each at the ratios of the unit's block (prune/per_sample.hpp;
// run/plan.hpp: run.shard). The finished units stay on their rank until the reductions
// (reduce.cpp) and the results file (results.cpp).
//
// A finished unit of batch b and ratio block j is a bundle of tensors under "<unit>/" (steps.hpp:
// "b<b>" for j = 0, else "p<j>_<b>"): curves/per_sample/<combo>/{pred_index, label_score}
// ([B, ratios of the block]) and, for j = 0, samples/{target, unpruned_pred, unpruned_score} and
// scores/<method>/<granularity>: each array under the path of its results-file dataset (draws
// r > 0 of 'random' as <combo>#<r> and random#<r>: steps.hpp, destination).
#include <ATen/ATen.h>

#include "headprune/explain/scores.hpp"
#include "headprune/prune/per_sample.hpp"
#include "progress.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

io::TensorBundle run_unit(const Context& ctx, int64_t unit) {
  const int64_t b = unit % ctx.plan.num_batches(), j = unit / ctx.plan.num_batches();
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
  so.random_repeats = ctx.cfg.scoring.random_repeats;
  explain::ScoringResult scored = explain::score_batch(model, built.batch, so, built.labels, index);
  refuse_nonfinite(ctx, samples, scored.logits, "logits");
  for (const auto& [method, us] : scored.scores)
    refuse_nonfinite(ctx, samples, us.head, method + " scores");

  io::TensorBundle out;
  const std::string key = batch_unit(b, j) + "/";
  if (j == 0) {
    at::Tensor pred0 = scored.logits.argmax(1).cpu();
    out[key + "samples/target"] = scored.target.cpu();
    out[key + "samples/unpruned_pred"] = pred0;
    out[key + "samples/unpruned_score"] = label_scores(ctx, samples, pred0.unsqueeze(1)).view({-1});
    for (const auto& [method, us] : scored.scores) {
      for (auto g : ctx.cfg.prune.granularities)
        out[key + "scores/" + method + "/" + prune::granularity_name(g)] =
            g == prune::Granularity::head ? us.head : us.layer;
    }
  }
  if (!ctx.runs(config::Protocol::per_sample)) return out;

  // All combos x ratios of the block in one batched masked evaluation (a forward per group of
  // ratios); ratio 0 reuses the scoring pass's unpruned logits.
  const RatioBlock block = ctx.blocks[static_cast<size_t>(j)];
  const std::vector<double> ratios(ctx.cfg.prune.ratios.begin() + block.begin, ctx.cfg.prune.ratios.begin() + block.end);
  const int64_t B = built.batch.size(), S = static_cast<int64_t>(ratios.size());
  const prune::PerSampleProtocol protocol(ratios, ctx.cfg.prune.count_rule, ctx.ratios_per_forward);
  std::vector<prune::PerSampleProtocol::ComboMasks> masks;
  for (const auto& c : ctx.combos) {
    const auto& us = scored.scores.at(explain::repeat_key(c.method, c.repeat));
    masks.push_back({protocol.masks(c.granularity == prune::Granularity::head ? us.head : us.layer, c.granularity, c.sign,
                                    prune::eligible_units(model, c.kind, c.granularity)),
                     c.granularity});
  }
  const at::Tensor pred = protocol.evaluate(model, built.batch, masks, scored.logits).pred;  // [B,C,S]
  at::Tensor scores = label_scores(ctx, samples, pred.view({B, -1})).view({B, -1, S});
  for (size_t c = 0; c < ctx.combos.size(); ++c) {
    const std::string p = key + "curves/per_sample/" + ctx.combos[c].key();
    out[p + "/pred_index"] = pred.select(1, static_cast<int64_t>(c)).contiguous();
    out[p + "/label_score"] = scores.select(1, static_cast<int64_t>(c)).contiguous();
  }
  return out;
}

}  // namespace

void scoring_phase(Context& ctx, UnitLoop& loop) {
  const auto my_units = ctx.plan.units_of(ctx.comm->rank(), ctx.todo);
  int64_t todo_samples = 0;
  for (int64_t u : ctx.todo) {
    const auto b = static_cast<size_t>(u % ctx.plan.num_batches());
    todo_samples += ctx.plan.batch_begin[b + 1] - ctx.plan.batch_begin[b];
  }
  Progress progress("scoring", static_cast<int64_t>(my_units.size()), todo_samples, ctx.cfg.run.progress_seconds);
  loop.run(
      my_units.size(), [&](size_t i) { return run_unit(ctx, my_units[i]); },
      [&](size_t i) {
        if (ctx.root) progress.step(static_cast<int64_t>(i) + 1);
      });
}

}  // namespace headprune::run
