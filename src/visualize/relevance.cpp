// Relevance of pruned models for one question (visualize/relevance.hpp).
#include "headprune/visualize/relevance.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "headprune/common/error.hpp"
#include "headprune/prune/per_sample.hpp"

namespace headprune::visualize {

namespace {

std::vector<double> to_vector(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kDouble).cpu().contiguous().reshape({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

SampleVisualization compute_relevance(const models::VqaModel& model, const run::BuiltBatch& built,
                                      const data::Sample& sample, const data::AnswerVocab& vocab,
                                      const RelevanceOptions& options) {
  HP_ASSERT(built.batch.size() == 1 && built.images.size() == 1 && built.tokens.size() == 1,
            "compute_relevance: a batch of one");
  if (model.num_answers() != vocab.size())
    throw UserError("the answer vocabulary has " + std::to_string(vocab.size()) + " answers but the model has " +
                    std::to_string(model.num_answers()) + " outputs");
  const models::Batch& batch = built.batch;
  const data::ImageRegions& img = built.images[0];
  const int64_t M = model.num_modules(), H = model.heads();
  const int64_t T = batch.input_ids.size(1);
  const int64_t R = img.num_boxes;

  SampleVisualization out;
  out.question_id = sample.question_id;
  out.question = sample.question;
  out.img_id = sample.img_id;
  out.model = model.name();
  out.method = options.method;
  out.tokens = built.tokens[0];
  HP_ASSERT(static_cast<int64_t>(out.tokens.size()) == T, "compute_relevance: one token per input id");
  out.image_w = static_cast<int>(img.image_w);
  out.image_h = static_cast<int>(img.image_h);
  for (int64_t b = 0; b < R; ++b) {
    const float* p = img.pixel_boxes.data() + b * 4;
    out.boxes.push_back({p[0], p[1], p[2], p[3]});
  }

  // Unpruned forward + backward: scores, attention maps and their gradients.
  explain::ScoringOptions so;
  so.methods = {options.method};
  so.target = options.target;
  so.michel_normalize = options.michel_normalize;
  so.random_seed = options.random_seed;
  so.ig_steps = options.ig_steps;
  so.keep_maps = true;
  explain::ScoringResult sr = explain::score_batch(model, batch, so, built.labels, {options.sample_index});
  const at::Tensor scores = sr.scores.at(options.method).head[0];  // [M,H]

  // Keep masks of every ratio, then all pruned forwards as one batch.
  // The per-sample protocol of the job, least important heads first, every ratio evaluated.
  const prune::PerSampleProtocol protocol(options.ratios, options.rule, prune::ratios_per_forward(1));
  const at::Tensor masks = protocol.masks(scores.unsqueeze(0), prune::Granularity::head, prune::Sign::negative);
  const at::Tensor keep_f = masks[0].to(model.device(), model.dtype());  // [S,M,H]
  const int64_t S = static_cast<int64_t>(options.ratios.size());
  const at::Tensor logits = protocol.evaluate(model, batch, {{masks, prune::Granularity::head}}).logits[0][0];  // [S, answers]

  int64_t non_finite = 0;
  auto clean = [&](std::vector<double> v) {
    for (double& x : v)
      if (!std::isfinite(x)) {
        x = 0;
        ++non_finite;
      }
    return v;
  };
  for (int64_t k = 0; k < S; ++k) {
    RelevanceStep st;
    st.ratio = options.ratios[static_cast<size_t>(k)];
    st.total_heads = M * H;
    st.pruned_heads = st.total_heads - masks[0][k].sum().item<int64_t>();
    st.answer_index = logits[k].argmax().item<int64_t>();
    st.answer = vocab.answer(st.answer_index);
    st.answer_score = sample.score(st.answer);
    models::RelevanceMaps rm = model.relevance_maps(sr.attention, sr.gradients, keep_f[k], T);
    st.token_relevance = clean(to_vector(rm.text));
    st.region_relevance = clean(to_vector(rm.image));
    HP_ASSERT(static_cast<int64_t>(st.token_relevance.size()) == T, "compute_relevance: token relevance size");
    HP_ASSERT(static_cast<int64_t>(st.region_relevance.size()) == R, "compute_relevance: region relevance size");
    out.steps.push_back(std::move(st));
  }
  if (non_finite)
    spdlog::warn("question {}: {} non-finite relevance value(s) drawn as 0", sample.question_id, non_finite);
  return out;
}

}  // namespace headprune::visualize
