#include "headprune/run/batch_builder.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"
#include "headprune/models/batch.hpp"

namespace headprune::run {

BatchBuilder::BatchBuilder(const models::VqaModel& model, const data::WordPieceTokenizer& tokenizer,
                           const data::ImageSource& images, const BatchBuilderOptions& options)
    : model_(model), tokenizer_(tokenizer), images_(images), options_(options) {
  spec_.model = model.name();
  spec_.max_boxes = options.max_regions;
  spec_.feature_dim = model.visual_feat_dim();
  images_.check(spec_);
  // A token id beyond the word-embedding table would fail deep inside the first forward (or
  // read another row on a GPU): a vocabulary longer than the table belongs to another model.
  if (tokenizer.vocab_size() > model.vocab_size())
    throw UserError(tokenizer.origin() + ": " + std::to_string(tokenizer.vocab_size()) +
                    " tokens, but the model's word-embedding table has " + std::to_string(model.vocab_size()) +
                    " rows (vocab_size in its config.json): the vocabulary of another model?");
  if (options_.max_text_tokens > model.max_text_tokens())
    throw UserError("model.max_text_tokens = " + std::to_string(options_.max_text_tokens) + " exceeds the model's " +
                    std::to_string(model.max_text_tokens()) + " position embeddings");
}

int64_t BatchBuilder::cost(const data::Sample& sample) const {
  const int64_t tokens = static_cast<int64_t>(tokenizer_.encode(sample.question, options_.max_text_tokens).ids.size());
  return tokens * options_.max_regions;
}

BuiltBatch BatchBuilder::build(const std::vector<const data::Sample*>& samples, int64_t answers) const {
  BuiltBatch out;
  std::vector<models::Batch> singles;
  std::vector<at::Tensor> labels;
  const bool boxes = model_.input_spec().needs_boxes;
  for (const data::Sample* s : samples) {
    data::Encoding enc = tokenizer_.encode(s->question, options_.max_text_tokens);
    const int64_t T = static_cast<int64_t>(enc.ids.size());
    data::ImageRegions img = images_.read_regions(s->img_id, spec_);
    models::Batch one;
    one.input_ids = at::tensor(enc.ids, at::kLong).view({1, T});
    one.token_type_ids = at::zeros({1, T}, at::kLong);
    one.text_mask = at::ones({1, T}, at::kLong);
    // Only the real boxes: collate() pads across the batch and sets the region mask.
    const int64_t R = img.num_boxes, D = img.feature_dim;
    one.visual_feats = at::from_blob(img.features.data(), {1, R, D}, at::kFloat).clone();
    if (boxes) one.visual_pos = at::from_blob(img.boxes.data(), {1, R, 4}, at::kFloat).clone();
    singles.push_back(one);
    at::Tensor label = at::zeros({answers}, at::kFloat);
    for (const auto& [index, score] : s->label_ids)
      if (index < answers) label[index] = score;
    labels.push_back(label);
    out.tokens.push_back(enc.tokens);
    out.images.push_back(std::move(img));
  }
  out.batch = models::to_device(models::collate(singles), model_.device());
  out.batch.visual_feats = out.batch.visual_feats.to(model_.dtype());
  if (out.batch.visual_pos.defined()) out.batch.visual_pos = out.batch.visual_pos.to(model_.dtype());
  out.labels = at::stack(labels).to(model_.device());
  return out;
}

}  // namespace headprune::run
