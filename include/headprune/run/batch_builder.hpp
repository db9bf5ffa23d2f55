// From dataset samples to a model batch: tokenize the questions, read each image's regions from
// its source (a feature store's boxes, at most the model's region count; or an image folder's
// patches: data/image_source.hpp), unpadded, then pad once across the batch
// (models::collate). The one place where the data stage meets the model stage, which is why it
// lives here and not in data/ (data/ knows no model and no LibTorch).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "headprune/data/image_source.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/models/model.hpp"

namespace headprune::run {

struct BatchBuilderOptions {
  int64_t max_text_tokens = 20;  ///< incl. [CLS] and [SEP] (LXMERT's VQA uses 20)
  int64_t max_regions = 36;      ///< LXMERT 36, VisualBERT up to 100; ViLT: its largest patch grid
};

struct BuiltBatch {
  models::Batch batch;
  at::Tensor labels;                      ///< [B, answers] float32 soft scores (LXMERT's target)
  std::vector<std::vector<std::string>> tokens;  ///< per sample, incl. [CLS]/[SEP]
  std::vector<data::ImageRegions> images;        ///< per sample (pixel boxes for visualisations)
};

class BatchBuilder {
 public:
  /// Checks the source's feature size and the tokenizer's vocabulary size against the model
  /// (UserError naming both).
  BatchBuilder(const models::VqaModel& model, const data::WordPieceTokenizer& tokenizer,
               const data::ImageSource& images, const BatchBuilderOptions& options);

  /// One padded batch of `samples` (each example keeps its own length; regions beyond an image's
  /// boxes are masked). `answers` is the size of the label vectors.
  BuiltBatch build(const std::vector<const data::Sample*>& samples, int64_t answers) const;

  /// tokens x regions of one sample: the cost the planner balances.
  int64_t cost(const data::Sample& sample) const;

 private:
  const models::VqaModel& model_;
  const data::WordPieceTokenizer& tokenizer_;
  const data::ImageSource& images_;
  BatchBuilderOptions options_;
  data::VisualSpec spec_;
};

}  // namespace headprune::run
