// The job's reductions: what every rank computed (its batches and cells, and on rank 0 the units
// resumed from checkpoints) combined by exact collective sums, so that 1, 2, 3 or 4 ranks give the
// same bits, through the communicator (MPI, or NCCL with device: cuda).
//
//   rankings    each unit's mean and standard deviation of scores over all samples: fixed-point
//               int64 sums (dist/exact_sum.hpp; error bound there); the std in two passes (the
//               mean first, then the squared deviations), so no cancellation.
//   accuracies  every VQA soft score is a multiple of 1/10 (checked when the samples load,
//               step_inputs.cpp), so a curve's accuracy is an int64 count of tenths: exact.
#include <ATen/ATen.h>

#include "headprune/common/error.hpp"
#include "headprune/dist/exact_sum.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace {

// The rows "b<b>/<suffix>" of every held batch, concatenated on `device` (any order: the sums
// below do not depend on it); an empty [0, ...] tensor of `empty_shape` when none is held. With
// prune.global_fit: half, only the rows of the samples the ranking is fitted on.
at::Tensor batch_rows(const Context& ctx, const io::TensorBundle& units, const std::string& suffix,
                      at::IntArrayRef empty_shape, at::Device device) {
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < ctx.plan.num_batches(); ++b) {
    auto it = units.find(batch_unit(b, 0) + "/" + suffix);
    if (it == units.end()) continue;
    at::Tensor rows = it->second;
    if (ctx.global_fit.defined())
      rows = rows.index(
          {ctx.global_fit.slice(0, ctx.plan.batch_begin[static_cast<size_t>(b)], ctx.plan.batch_begin[static_cast<size_t>(b) + 1])
               .to(at::kBool)});
    parts.push_back(rows);
  }
  return (parts.empty() ? at::zeros(empty_shape, at::kDouble) : at::cat(parts)).to(device);
}

// VQA soft scores [rows, ...] as int64 tenths.
at::Tensor tenths(const at::Tensor& score) {
  const at::Tensor t = at::round(score.to(at::kDouble) * 10.0);
  HP_ASSERT(score.numel() == 0 || (score.to(at::kDouble) * 10.0 - t).abs().max().item<double>() < 1e-6,
            "a soft score that is not a multiple of 0.1 (checked when the samples load)");
  return t.to(at::kLong);
}

}  // namespace

std::map<std::string, prune::GlobalProtocol::Ranking> reduce_rankings(Context& ctx, const UnitLoop& loop) {
  const io::TensorBundle units = held_units(ctx, loop);
  const prune::GlobalProtocol protocol(ctx.cfg.prune.ratios, ctx.cfg.prune.count_rule, ctx.cfg.prune.global_normalize);
  const int64_t M = ctx.in.model->num_modules(), H = ctx.in.model->heads();
  std::map<std::string, prune::GlobalProtocol::Ranking> out;
  for (const auto& method : ctx.cfg.scoring.methods)
    for (int64_t r = 0; r < ctx.repeats_of(method); ++r)
      for (auto g : ctx.cfg.prune.granularities) {
        const std::string mg = explain::repeat_key(method, r) + "/" + prune::granularity_name(g);
        std::vector<int64_t> empty{0, M};
        if (g == prune::Granularity::head) empty.push_back(H);
        // On the model's device: with device: cuda the sums travel through NCCL.
        const at::Tensor rows = batch_rows(ctx, units, "scores/" + mg, empty, ctx.in.model->device());
        const dist::ExactSum sum = dist::exact_sum_rows(*ctx.comm, rows);
        const at::Tensor mean = sum.sum / static_cast<double>(sum.count);
        const dist::ExactSum squares = dist::exact_sum_rows(*ctx.comm, (rows - mean).pow(2));
        out.emplace(mg, protocol.rank(mean.cpu(), (squares.sum / static_cast<double>(sum.count)).sqrt().cpu()));
      }
  return out;
}

std::map<std::string, at::Tensor> reduce_accuracies(Context& ctx, const UnitLoop& loop) {
  const io::TensorBundle units = held_units(ctx, loop);
  const int64_t S = static_cast<int64_t>(ctx.cfg.prune.ratios.size());
  std::map<std::string, at::Tensor> out;  // by curve: int64 [S] tenths
  for (const auto& c : ctx.combos)  // the draws of a repeated method sum into one curve
    for (auto p : ctx.cfg.prune.protocols)
      out["curves/" + config::to_string(p) + "/" + c.path()] = at::zeros({S}, at::kLong);
  out["samples/unpruned_score"] = at::zeros({1}, at::kLong);
  // Each held unit's label scores [B] or [B, ratios of its block] add to their curve's columns;
  // with prune.global_fit: half, a global curve counts only the held-out half.
  const std::string label = "/label_score";
  for (const auto& [key, value] : units) {
    const Destination d = destination(ctx, key);
    if (d.dataset == "samples/unpruned_score") {
      out.at(d.dataset) += tenths(value).sum();
    } else if (d.dataset.size() > label.size() && d.dataset.compare(d.dataset.size() - label.size(), label.size(), label) == 0) {
      at::Tensor rows = tenths(value).view({value.size(0), -1});
      if (ctx.global_fit.defined() && d.dataset.compare(0, 14, "curves/global/") == 0) {
        const int64_t begin = ctx.plan.batch_begin[static_cast<size_t>(d.batch)];
        rows = rows * (1 - ctx.global_fit.slice(0, begin, begin + rows.size(0)).to(at::kLong)).unsqueeze(1);
      }
      const at::Tensor t = rows.sum(0);
      out.at(d.dataset.substr(0, d.dataset.size() - label.size())).slice(0, d.column, d.column + t.size(0)) += t;
    }
  }
  // One int64 all-reduce for every curve: exact, order-free.
  if (!out.empty()) {
    std::vector<at::Tensor> all;
    for (const auto& [k, v] : out) all.push_back(v);
    at::Tensor packed = at::cat(all).to(ctx.in.model->device());  // NCCL with device: cuda
    ctx.comm->allreduce_sum(packed);
    packed = packed.cpu();
    int64_t offset = 0;
    for (auto& [k, v] : out) {
      const int64_t n = v.size(0);
      v = packed.slice(0, offset, offset + n).clone();
      offset += n;
    }
  }
  return out;
}

}  // namespace headprune::run
