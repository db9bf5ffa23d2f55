// The per-sample protocol: every sample is pruned by its own ranking of units. For one batch it
// gives the keep masks of each (method, granularity, sign) combo at every ratio and measures them
// with batched masked forwards: B x combos rows per ratio, the rows of a few consecutive ratios in
// one forward where they fill no more than kForwardRows (ratios_per_forward). The job (run/phase_scoring.cpp), the conformance replay
// (verify/conformance.cpp), the visualisations and the bench all run this one object, so
// conformance checks what production runs.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"

namespace headprune::prune {

/// Rows (examples x combos) that consecutive ratios fill one masked forward with. A forward of
/// one batch of 8 at one ratio multiplies too few rows for the BLAS to run at its rate (each
/// product repacks its weight); several ratios' rows in one forward amortise that.
constexpr int64_t kForwardRows = 64;

/// How many consecutive ratios share a masked forward when each brings `rows_per_ratio` rows
/// (run.batch_size x combos): as many as fit in kForwardRows, at least one. A row's logits can
/// depend in the last bits on the rows multiplied beside it, so the grouping is a function of the
/// config alone: every rank count and both shard modes (run/plan.hpp) group the same ratios.
int64_t ratios_per_forward(int64_t rows_per_ratio);

/// `n` ratios cut into runs [begin, end) of at most `per_forward` consecutive ones, as even as
/// possible (sizes differ by at most one, the larger first): 9 by 8 gives 5 + 4.
std::vector<std::pair<int64_t, int64_t>> forward_groups(int64_t n, int64_t per_forward);

/// The grid `ratios` as index ranges [begin, end), one per masked forward that evaluate() runs
/// for it with the unpruned logits given: forward_groups of the ratios above a leading 0, the 0
/// (answered by the unpruned forward) joined to the first range. Cover the grid once, in order.
std::vector<std::pair<int64_t, int64_t>> forward_blocks(const std::vector<double>& ratios, int64_t per_forward);

class PerSampleProtocol {
 public:
  /// `per_forward`: ratios whose rows share one masked forward (ratios_per_forward);
  /// `max_rows`: masked forward rows per chunk (memory bound of the batched evaluation).
  PerSampleProtocol(std::vector<double> ratios, CountRule rule, int64_t per_forward = 1, int64_t max_rows = 256)
      : ratios_(std::move(ratios)), rule_(rule), max_rows_(max_rows), per_forward_(per_forward) {}

  const std::vector<double>& ratios() const { return ratios_; }

  /// Keep masks of one combo: scores [B,M,H] (head) or [B,M] (layer) -> uint8 [B, ratios, M(,H)].
  /// `eligible` [M(,H)]: only those units are pruned (protocol.hpp: keep_mask).
  at::Tensor masks(const at::Tensor& scores, Granularity g, Sign sign, const at::Tensor& eligible = {}) const;

  /// One combo's masks as evaluate() takes them.
  struct ComboMasks {
    at::Tensor masks;  ///< uint8 [B, ratios, M(,H)]
    Granularity granularity;
  };
  struct Evaluation {
    at::Tensor logits;  ///< [B, combos, evaluated ratios, answers] (CPU)
    at::Tensor pred;    ///< [B, combos, ratios] int64 answer indices (CPU)
  };
  /// Answers of the batch under each combo's masks at every ratio. With `unpruned_logits` [B,
  /// answers], ratio 0 takes their answer and only the ratios above 0 run masked forwards (the
  /// scoring pass already ran the unpruned model); without, every ratio runs one. The ratios that
  /// run forwards are grouped by forward_groups(their number, per_forward).
  Evaluation evaluate(const models::VqaModel& model, const models::Batch& batch, const std::vector<ComboMasks>& combos,
                      const at::Tensor& unpruned_logits = {}) const;

 private:
  std::vector<double> ratios_;
  CountRule rule_;
  int64_t max_rows_;
  int64_t per_forward_;
};

}  // namespace headprune::prune
