// The relevance of the pruned models for one question: the seed's visualisation mode
// (lxmert generate_visualization.py, MMF mmf_exp) through the model interface.
//
// One unpruned forward + backward gives the head scores of `method` and every module's
// attention map and gradient (explain::score_batch with keep_maps). For each ratio r:
//   keep   = prune::keep_mask(scores, r, Sign::negative, rule): the least important heads go;
//   maps   = model.relevance_maps(attention, gradients, keep, T): the mask multiplies the attention
//            maps only, the gradients are those of the unpruned forward (as the seed);
//   answer = argmax of a separate pruned forward (prune::masked_logits), all ratios in one batch.
// The relevance drawn is the answer's row of the maps:
//   LXMERT      tokens: R_t_t[0] ([CLS] row, entry 0 zeroed by the rules); regions: R_t_i[0]
//   VisualBERT  r = maps["relevance"]: the classifier token T-2's row with r[T-2] = 0;
//               tokens: r[0 .. T-1], regions: r[T .. T+R-1]
// which is what src/verify/conformance.cpp checks against the seed's numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headprune/data/answer_vocab.hpp"
#include "headprune/run/batch_builder.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/visualize/render.hpp"

namespace headprune::visualize {

struct RelevanceOptions {
  std::string method = "ours";  ///< a scoring method's name; ranks the heads (least important pruned first)
  explain::Target target = explain::Target::predicted;  ///< the answer whose gradients are used
  prune::CountRule rule = prune::CountRule::keep_floor;
  std::vector<double> ratios{0.0, 0.4, 0.6, 0.9};
  bool michel_normalize = false;
  uint64_t random_seed = 0;
  int64_t ig_steps = 20;     ///< scoring.ig_steps (attattr)
  int64_t sample_index = 0;  ///< seeds the `random` method (the question's index in its file)
};

/// The visualisation of `sample`, built as a batch of one (`built`: BatchBuilder::build({&sample})).
/// Image size and boxes come from built.images[0]; the answers from `vocab`. HP_ASSERTs a batch
/// of one; UserError when the model's answers do not match the vocabulary.
SampleVisualization compute_relevance(const models::VqaModel& model, const run::BuiltBatch& built,
                                      const data::Sample& sample, const data::AnswerVocab& vocab,
                                      const RelevanceOptions& options);

}  // namespace headprune::visualize
