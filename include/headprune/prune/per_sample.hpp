// The per-sample protocol: every sample is pruned by its own ranking of units. For one batch it
// gives the keep masks of each (method, granularity, sign) combo at every ratio and measures them
// with batched masked forwards: one group of B x combos rows per ratio. The job (run/phase_scoring.cpp), the conformance replay
// (verify/conformance.cpp), the visualisations and the bench all run this one object, so
// conformance checks what production runs.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"

namespace headprune::prune {

class PerSampleProtocol {
 public:
  /// `max_rows`: masked forward rows per chunk (memory bound of the batched evaluation).
  PerSampleProtocol(std::vector<double> ratios, CountRule rule, int64_t max_rows = 256)
      : ratios_(std::move(ratios)), rule_(rule), max_rows_(max_rows) {}

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
  /// scoring pass already ran the unpruned model); without, every ratio runs one.
  Evaluation evaluate(const models::VqaModel& model, const models::Batch& batch, const std::vector<ComboMasks>& combos,
                      const at::Tensor& unpruned_logits = {}) const;

 private:
  std::vector<double> ratios_;
  CountRule rule_;
  int64_t max_rows_;
};

}  // namespace headprune::prune
