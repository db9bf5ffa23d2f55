#include "headprune/explain/scores.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "headprune/common/error.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/models/batch.hpp"

namespace headprune::explain {
namespace {

at::Tensor random_scores(uint64_t seed, const std::vector<int64_t>& samples, int64_t modules, int64_t heads) {
  at::Tensor out = at::empty({static_cast<int64_t>(samples.size()), modules, heads}, at::kDouble);
  auto acc = out.accessor<double, 3>();
  for (size_t b = 0; b < samples.size(); ++b)
    for (int64_t m = 0; m < modules; ++m)
      for (int64_t h = 0; h < heads; ++h) {
        uint64_t x = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(samples[b]) * 0x100000001B3ull +
                                                  static_cast<uint64_t>(m * heads + h)));
        acc[static_cast<int64_t>(b)][m][h] = static_cast<double>(x >> 11) * 0x1.0p-53;
      }
  return out;
}

// Real positions (1) of a segment of the input: tokens, regions, or the joint sequence.
at::Tensor segment_mask(const models::Batch& batch, models::Segment segment) {
  const at::Tensor regions = batch.region_mask.defined()
                                 ? batch.region_mask.to(batch.text_mask.scalar_type())
                                 : at::ones({batch.size(), batch.visual_feats.size(1)}, batch.text_mask.options());
  switch (segment) {
    case models::Segment::text: return batch.text_mask;
    case models::Segment::image: return regions;
    case models::Segment::joint: return at::cat({batch.text_mask, regions}, 1);
  }
  return {};
}

// Scores and relevance accumulate in at least float32 (bf16 models), and leave as CPU float64.
at::Tensor acc(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat); }
at::Tensor out64(const at::Tensor& t) { return t.to(at::kDouble).cpu(); }

// Head and layer means of x [B,H,Q,K] over the valid pairs [B,1,Q,K].
UnitScores reduce_mean(const std::vector<at::Tensor>& per_module, const std::vector<at::Tensor>& valid) {
  std::vector<at::Tensor> head, layer;
  for (size_t m = 0; m < per_module.size(); ++m) {
    at::Tensor v = valid[m].to(per_module[m].scalar_type());
    at::Tensor x = per_module[m] * v;
    at::Tensor count = v.sum({1, 2, 3});  // [B]
    head.push_back(out64(x.sum({2, 3}) / count.unsqueeze(1)));
    layer.push_back(out64(x.sum({1, 2, 3}) / (count * x.size(1))));
  }
  return {at::stack(head, 1), at::stack(layer, 1)};
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::ours: return "ours";
    case Method::lrp: return "lrp";
    case Method::michel: return "michel";
    case Method::confidence: return "confidence";
    case Method::random: return "random";
  }
  return "?";
}

Method parse_method(const std::string& name, const std::string& where) {
  for (Method m : {Method::ours, Method::lrp, Method::michel, Method::confidence, Method::random})
    if (name == method_name(m)) return m;
  throw UserError(where + ": unknown scoring method '" + name + "' (expected ours, lrp, michel, confidence or random)");
}

at::Tensor valid_pairs(const models::VqaModel& model, const models::Batch& batch, int64_t module) {
  const auto& info = model.attention_modules()[static_cast<size_t>(module)];
  const at::Tensor q = segment_mask(batch, info.queries), k = segment_mask(batch, info.keys);
  return (q.unsqueeze(2) * k.unsqueeze(1)).unsqueeze(1);
}

ScoringResult score_batch(const models::VqaModel& model, const models::Batch& batch, const ScoringOptions& options,
                          const at::Tensor& labels, const std::vector<int64_t>& sample_index) {
  auto wants = [&](Method m) {
    return std::find(options.methods.begin(), options.methods.end(), m) != options.methods.end();
  };
  const int64_t B = batch.size(), M = model.num_modules(), H = model.heads();
  ScoringResult result;
  std::vector<at::Tensor> valid;
  for (int64_t m = 0; m < M; ++m) valid.push_back(valid_pairs(model, batch, m));

  const bool need_grad = wants(Method::ours) || wants(Method::michel) || options.keep_maps;
  models::ForwardOptions fo;
  fo.record_attention = need_grad || wants(Method::confidence);
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

  if (need_grad) {
    // d sum_b logit[b, target_b] / d attn: one backward for the whole batch (samples never mix).
    at::Tensor one_hot = at::zeros_like(fwd.logits).scatter_(1, result.target.view({B, 1}), 1.0);
    const bool michel = wants(Method::michel);
    fwd.logits.backward(one_hot, /*retain_graph=*/michel);
    std::vector<at::Tensor> grads, grad_x_attn;
    for (int64_t m = 0; m < M; ++m) {
      at::Tensor g = fwd.attention[static_cast<size_t>(m)].grad().detach().clone();
      grads.push_back(g);
      grad_x_attn.push_back(acc(g) * acc(fwd.attention[static_cast<size_t>(m)].detach()));
    }
    if (wants(Method::ours)) result.scores[Method::ours] = reduce_mean(grad_x_attn, valid);
    if (options.keep_maps) {
      result.gradients = grads;
      for (const auto& a : fwd.attention) result.attention.push_back(a.detach());
    }
    if (michel) {
      if (!labels.defined()) throw UserError("scoring method michel needs labels (the VQA soft scores)");
      for (auto& a : fwd.attention) a.mutable_grad() = at::Tensor();
      // The VQA loss as LXMERT and MMF train it: BCE with logits, summed over answers.
      at::Tensor loss = at::binary_cross_entropy_with_logits(fwd.logits, labels.to(fwd.logits.scalar_type()),
                                                             {}, {}, at::Reduction::Sum);
      loss.backward();
      std::vector<at::Tensor> head;
      for (int64_t m = 0; m < M; ++m) {
        at::Tensor a = fwd.attention[static_cast<size_t>(m)].detach();
        at::Tensor g = fwd.attention[static_cast<size_t>(m)].grad().detach();
        // d loss / d gate_h = sum over pairs of grad ⊙ attn (gate = 1 multiplies the probabilities).
        head.push_back(out64((acc(g) * acc(a) * valid[static_cast<size_t>(m)].to(acc(a).scalar_type())).sum({2, 3}).abs()));
      }
      at::Tensor h = at::stack(head, 1);  // [B,M,H]
      if (options.michel_normalize) h = h / h.norm(2, {2}, true).clamp_min(1e-20);
      result.scores[Method::michel] = {h, h.mean(2)};
    }
  }
  if (wants(Method::confidence)) {
    std::vector<at::Tensor> head;
    for (int64_t m = 0; m < M; ++m) {
      at::Tensor a = acc(fwd.attention[static_cast<size_t>(m)].detach());
      at::Tensor v = valid[static_cast<size_t>(m)].to(a.scalar_type());
      at::Tensor qmask = v.amax(3);                  // [B,1,Q] real queries
      at::Tensor top = (a * v).amax(3) * qmask;      // [B,H,Q]
      head.push_back(out64(top.sum(2) / qmask.sum(2)));
    }
    at::Tensor h = at::stack(head, 1);
    result.scores[Method::confidence] = {h, h.mean(2)};
  }
  if (wants(Method::random)) {
    HP_ASSERT(static_cast<int64_t>(sample_index.size()) == B, "sample_index must have one entry per example");
    at::Tensor h = random_scores(options.random_seed, sample_index, M, H);
    result.scores[Method::random] = {h, h.mean(2)};
  }
  if (wants(Method::lrp)) {
    // LRP per sample, unpadded: the seed's Add renormalisation sums over the whole tensor.
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> head, layer;
    for (int64_t b = 0; b < B; ++b) {
      models::Batch one = models::unpad(batch, b);
      models::ForwardOptions lo;
      lo.record_lrp = true;
      models::ForwardResult f1 = model.forward(one, lo);
      at::Tensor oh = at::zeros_like(f1.logits);
      oh[0][result.target[b].item<int64_t>()] = 1.0;
      models::LrpResult lrp = model.relprop(f1, oh);
      std::vector<at::Tensor> hs, ls;
      for (const auto& cam : lrp.attn_cam) {
        hs.push_back(out64(acc(cam[0]).mean({1, 2})));
        ls.push_back(out64(acc(cam[0]).mean()));
      }
      head.push_back(at::stack(hs));
      layer.push_back(at::stack(ls));
      if (options.keep_maps) {
        if (result.attn_cam.empty()) result.attn_cam.resize(static_cast<size_t>(M));
        for (int64_t m = 0; m < M; ++m) result.attn_cam[static_cast<size_t>(m)] = lrp.attn_cam[static_cast<size_t>(m)];
        result.lrp_outputs.push_back(lrp.outputs);
      }
    }
    result.scores[Method::lrp] = {at::stack(head), at::stack(layer)};
  }
  return result;
}

}  // namespace headprune::explain
