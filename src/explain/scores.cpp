#include "headprune/explain/scores.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "headprune/common/error.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/explain/scorer.hpp"
#include "headprune/models/batch.hpp"

namespace headprune::explain {
namespace {

// Real positions (1) of a segment of the input: tokens, regions, or the joint sequence.
at::Tensor segment_mask(const models::VqaModel& model, const models::Batch& batch, models::Segment segment) {
  const at::Tensor regions = batch.region_mask.defined()
                                 ? batch.region_mask.to(batch.text_mask.scalar_type())
                                 : at::ones({batch.size(), batch.visual_feats.size(1)}, batch.text_mask.options());
  switch (segment) {
    case models::Segment::text: return batch.text_mask;
    case models::Segment::image: return regions;
    case models::Segment::joint:
      return at::cat({batch.text_mask, at::ones({batch.size(), model.input_spec().image_tokens}, batch.text_mask.options()),
                      regions},
                     1);
  }
  return {};
}

}  // namespace

at::Tensor accumulate_type(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat); }
at::Tensor to_output(const at::Tensor& t) { return t.to(at::kDouble).cpu(); }

UnitScores mean_over_valid_pairs(const std::vector<at::Tensor>& per_module, const std::vector<at::Tensor>& valid) {
  std::vector<at::Tensor> head, layer;
  for (size_t m = 0; m < per_module.size(); ++m) {
    at::Tensor v = valid[m].to(per_module[m].scalar_type());
    at::Tensor x = per_module[m] * v;
    at::Tensor count = v.sum({1, 2, 3});  // [B]
    head.push_back(to_output(x.sum({2, 3}) / count.unsqueeze(1)));
    layer.push_back(to_output(x.sum({1, 2, 3}) / (count * x.size(1))));
  }
  return {at::stack(head, 1), at::stack(layer, 1)};
}

at::Tensor valid_pairs(const models::VqaModel& model, const models::Batch& batch, int64_t module) {
  const auto& info = model.attention_modules()[static_cast<size_t>(module)];
  const at::Tensor q = segment_mask(model, batch, info.queries), k = segment_mask(model, batch, info.keys);
  return (q.unsqueeze(2) * k.unsqueeze(1)).unsqueeze(1);
}

ScoringResult score_batch(const models::VqaModel& model, const models::Batch& batch, const ScoringOptions& options,
                          const at::Tensor& labels, const std::vector<int64_t>& sample_index) {
  // The union of the requested methods' needs (each name is checked against the registry here).
  std::vector<ScoreFn> scorers;
  auto needs = [&](Needs n) {
    return std::any_of(options.methods.begin(), options.methods.end(),
                       [&](const std::string& m) { return find_method(m, "scoring.methods").needs == n; });
  };
  for (const auto& m : options.methods) scorers.push_back(scorer_of(m));
  const bool loss_gradient = needs(Needs::loss_gradient);
  const bool need_grad = needs(Needs::logit_gradient) || loss_gradient || options.keep_maps;

  const int64_t B = batch.size(), M = model.num_modules();
  ScoringResult result;
  Pass pass{model, batch, options, labels, sample_index, {}, {}, {}, {}, {}, {}, {}, {}};
  for (int64_t m = 0; m < M; ++m) pass.valid.push_back(valid_pairs(model, batch, m));

  models::ForwardOptions fo;
  const bool integrated = needs(Needs::integrated_gradients);
  fo.record_attention = need_grad || integrated || needs(Needs::attention);
  models::ForwardResult fwd;
  {
    at::AutoGradMode grad_mode(need_grad);
    fwd = model.forward(batch, fo);
  }
  result.logits = fwd.logits.detach();  // on the model's device
  if (options.target == Target::ground_truth) {
    if (!labels.defined()) throw UserError("scoring.explain = ground_truth needs labels");
    result.target = labels.argmax(1);
  } else {
    result.target = result.logits.argmax(1);
  }
  pass.target = result.target;
  for (const auto& a : fwd.attention) pass.attention.push_back(a.detach());

  if (need_grad) {
    // d sum_b logit[b, target_b] / d attn: one backward for the whole batch (samples never mix).
    at::Tensor one_hot = at::zeros_like(fwd.logits).scatter_(1, result.target.view({B, 1}), 1.0);
    fwd.logits.backward(one_hot, /*retain_graph=*/loss_gradient);
    for (int64_t m = 0; m < M; ++m) pass.grads.push_back(fwd.attention[static_cast<size_t>(m)].grad().detach().clone());
    if (options.keep_maps) {
      result.gradients = pass.grads;
      result.attention = pass.attention;
    }
    if (loss_gradient) {
      if (!labels.defined()) throw UserError("scoring method michel needs labels (the VQA soft scores)");
      for (auto& a : fwd.attention) a.mutable_grad() = at::Tensor();
      // The VQA loss as LXMERT and MMF train it: BCE with logits, summed over answers.
      at::Tensor loss = at::binary_cross_entropy_with_logits(fwd.logits, labels.to(fwd.logits.scalar_type()),
                                                             {}, {}, at::Reduction::Sum);
      loss.backward();
      for (int64_t m = 0; m < M; ++m) pass.loss_grads.push_back(fwd.attention[static_cast<size_t>(m)].grad().detach());
    }
  }
  if (integrated) {
    // Each module's S scaled copies of as many samples as fit in max(batch, S) examples per forward.
    pass.ig_grads = integrated_attention_gradients(model, batch, result.target, options.ig_steps,
                                                   std::max<int64_t>(B, options.ig_steps));
  }
  if (needs(Needs::attnlrp_relevance)) pass.attnlrp_relevance = attnlrp_attention_relevance(model, batch, result.target);
  if (needs(Needs::lrp_per_sample)) {
    // LRP per sample, unpadded: the seed's Add renormalisation sums over the whole tensor.
    at::NoGradGuard no_grad;
    for (int64_t b = 0; b < B; ++b) {
      models::Batch one = models::unpad(batch, b);
      models::ForwardOptions lo;
      lo.record_lrp = true;
      models::ForwardResult f1 = model.forward(one, lo);
      at::Tensor oh = at::zeros_like(f1.logits);
      oh[0][result.target[b].item<int64_t>()] = 1.0;
      models::LrpResult lrp = model.relprop(f1, oh);
      pass.lrp_cams.push_back(lrp.attn_cam);
      if (options.keep_maps) {
        if (result.attn_cam.empty()) result.attn_cam.resize(static_cast<size_t>(M));
        for (int64_t m = 0; m < M; ++m) result.attn_cam[static_cast<size_t>(m)] = lrp.attn_cam[static_cast<size_t>(m)];
        result.lrp_outputs.push_back(lrp.outputs);
      }
    }
  }
  for (size_t i = 0; i < scorers.size(); ++i) result.scores[options.methods[i]] = scorers[i](pass);
  // Further draws of a random baseline (scoring.random_repeats), each from its own seed: draw 0
  // keeps scoring.random_seed itself, so one draw gives the scores a single draw always gave.
  for (size_t i = 0; i < scorers.size(); ++i) {
    if (!find_method(options.methods[i], "scoring.methods").drawn) continue;
    for (int64_t r = 1; r < options.random_repeats; ++r) {
      ScoringOptions draw = options;
      draw.random_seed = splitmix64(options.random_seed + static_cast<uint64_t>(r) * 0x9E3779B97F4A7C15ull);
      const Pass p{model, batch, draw, labels, sample_index, {}, {}, {}, {}, {}, {}, {}, {}};
      result.scores[repeat_key(options.methods[i], r)] = scorers[i](p);
    }
  }
  return result;
}

std::string repeat_key(const std::string& method, int64_t r) {
  return r == 0 ? method : method + "#" + std::to_string(r);
}

}  // namespace headprune::explain
