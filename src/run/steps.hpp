// The steps of `headprune run` (run/job.hpp), private to src/run/. run_job (job.cpp) wires them
// in this order; each lives in the file its name says:
//
//   step_config.cpp   1. rank 0 reads and resolves the config, every rank types the same text
//   step_output.cpp   2. claim the output: lock, refuse to overwrite, check the partial folder
//   step_inputs.cpp   3. inputs on every rank (run/inputs.hpp), the sample selection, the identity
//   step_plan.cpp     4. rank 0 finds what is left to do (resume) and balances it over the ranks
//   phase_scoring.cpp 5. score every batch and run the per-sample protocol on it
//   reduce.cpp        6. exact reductions over the ranks: each unit's mean and std of scores
//   phase_global.cpp  7. the global protocol: every rank ranks the units from those, then (ratio,
//                        batch) cells
//   reduce.cpp        8. exact reductions: each curve's accuracy (int64 tenths)
//   results.cpp       9. the results file: rank 0 writes it, the per-sample rows stream in from
//                        every rank a few units at a time (no rank holds them all)
//
// Errors: a step that only rank 0 performs reports through agree_on_error (every rank stops with
// rank 0's message); a step every rank performs through on_every_rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "headprune/config/config.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "headprune/dist/communicator.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/io/output_path.hpp"
#include "headprune/io/tensor_bundle.hpp"
#include "headprune/prune/global.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/run/checkpoint.hpp"
#include "headprune/run/inputs.hpp"
#include "headprune/run/job.hpp"
#include "headprune/run/plan.hpp"

namespace headprune::run {

/// Thrown after the checkpoint that a signal asked for.
struct Preempted {};
/// Thrown on ranks > 0 for an error rank 0 reports (only rank 0 prints it).
struct QuietExit {
  int code;
};

/// Broadcasts rank 0's error (or "") and throws it everywhere; rank 0 rethrows the original.
void agree_on_error(dist::Communicator& comm, const std::string& error);

/// Every rank ran `fn`; if any failed, every rank stops (rank 0 prints its own error or a summary).
void on_every_rank(dist::Communicator& comm, const std::function<void()>& fn);

/// One (method, granularity, sign, module kind, draw) combination; the combos of a run in a fixed
/// order.
struct Combo {
  std::string method;  ///< a name of explain/methods.hpp's table
  prune::Granularity granularity;
  prune::Sign sign;
  prune::ModuleKind kind = prune::ModuleKind::all;  ///< prune.modalities: the modules it may prune
  int64_t repeat = 0;  ///< draw of a repeated method (scoring.random_repeats), 0 otherwise
  /// "ours/head/positive", "ours/head.cross/positive" (pruning cross attention only): the
  /// combo's group under curves/<protocol>/, shared by the draws of a repeated method.
  std::string path() const;
  /// path(), with "#<repeat>" after it for draws r > 0: the combo's own name in units of work,
  /// accuracies and masks (the results file stacks the draws: Destination::repeat).
  std::string key() const;
  /// "ours/head": the ranking its masks come from (explain::repeat_key for draws).
  std::string ranking() const;
};

/// What the steps share. Filled step by step; every rank holds the same except where marked.
struct Context {
  dist::Communicator* comm = nullptr;
  dist::MpiSession* session = nullptr;
  bool root = false;  ///< rank 0
  std::string start_time;

  // 1. config
  config::Config cfg;
  std::string yaml;  ///< the resolved config every rank typed (stored in /meta)
  int threads = 1;   ///< LibTorch threads of this rank
  std::vector<Combo> combos;  ///< scoring.methods x prune.granularities x prune.signs
  int64_t ratios_per_forward = 1;  ///< ratios sharing a masked forward (prune::ratios_per_forward)

  // 2. output
  std::string partial;   ///< <output>.partial
  std::string defining;  ///< result_defining_yaml(cfg)
  std::string run_id;    ///< names this run's checkpoint files (rank 0's, broadcast)
  bool make_partial = false;              ///< rank 0: the partial folder is (re)made in step 3
  std::string created_partial;            ///< rank 0: made by this run (removed on an input error)
  std::unique_ptr<io::OutputLock> lock;   ///< rank 0: held for the whole run

  // 3. inputs
  Inputs in;
  data::SampleList list;  ///< the run's samples, selection order
  /// prune.global_fit: half: uint8 [N], 1 = the sample is in the half the global ranking is
  /// fitted on (the curves' accuracies count the other half); undefined with global_fit: all.
  at::Tensor global_fit;
  /// Rank 0: SHA-256 of the weights, the question file and the feature store's image ids (/meta).
  std::string weights_sha256, questions_sha256, features_sha256;
  std::string identity;                          ///< run identity (checkpoint.hpp), broadcast

  // 4. plan
  Plan plan;
  std::vector<RatioBlock> blocks;       ///< ratio blocks of the per-sample phase (run.shard)
  std::vector<int64_t> todo;            ///< per-sample units not done yet (unit id j * batches + b)
  std::set<std::string> done_units;     ///< rank 0: units finished by earlier runs of this identity
  io::TensorBundle resumed;             ///< this rank's share of those units, from their checkpoint files

  const std::vector<data::Sample>& samples() const { return list.samples; }
  bool runs(config::Protocol p) const;
  /// Draws of `method` in this run: scoring.random_repeats for a random baseline
  /// (explain/methods.hpp: MethodInfo::drawn), else 1.
  int64_t repeats_of(const std::string& method) const;
  /// The samples of batch b, in order.
  std::vector<const data::Sample*> samples_of_batch(int64_t b) const;
};

// Steps 1–4 (step_*.cpp).
void read_config(Context& ctx, const RunOptions& options);
void claim_output(Context& ctx);
void load_run_inputs(Context& ctx);
void plan_run(Context& ctx);

// Units of work: a key of a finished unit is "<unit>/<dataset>", the dataset of the results file
// its array belongs in ("b3/scores/ours/head"). The unit names:
//   b<b>      batch b: its scores, unpruned answers, and per-sample curves at the ratios of block 0
//   p<j>_<b>  (run.shard: samples_x_ratios) batch b's per-sample curves at the ratios of block j
//   c<k>_<b>  the global protocol at ratio k on batch b
std::string batch_unit(int64_t batch, int64_t block);
std::string cell_unit(int64_t ratio, int64_t batch);

/// Where a finished unit's array goes in the results file: rows of `batch`, columns from
/// `column` (curves; 0 otherwise).
struct Destination {
  std::string dataset;  ///< "scores/ours/head", "curves/global/ours/head/positive/label_score"
  int64_t batch = 0;
  int64_t column = 0;
  int64_t repeat = 0;   ///< the draw of a repeated method's array ("#<r>" in its key)
  int64_t repeats = 1;  ///< the method's draws: > 1 stacks its curves as [draws, N, ratios]
};
Destination destination(const Context& ctx, const std::string& key);

/// Runs this rank's units (batches or cells) one by one: checkpoints them every
/// run.checkpoint_every units and on a signal (then throws Preempted), keeps them for the gather.
class UnitLoop {
 public:
  explicit UnitLoop(Context& ctx);
  /// Runs `unit(i)` for i in [0, n) on this rank; an input error stops the loop, and the ranks
  /// agree on it once all are out of their loops (a rank cannot stop the others mid-way).
  /// `progress(i)` after each.
  void run(size_t n, const std::function<io::TensorBundle(size_t)>& unit, const std::function<void(size_t)>& progress);
  /// This rank's finished units.
  const io::TensorBundle& mine() const { return mine_; }

 private:
  Context& ctx_;
  Checkpointer checkpoint_;
  io::TensorBundle mine_;
  int64_t since_checkpoint_ = 0;
  int delay_ms_ = 0;
};

/// Rankings by "method/granularity"; every rank holds the same.
using Rankings = std::map<std::string, prune::GlobalProtocol::Ranking>;
/// Accuracies by curve ("curves/<protocol>/<combo>"): int64 [ratios] tenths summed over all
/// samples; and "samples/unpruned_score": int64 [1], the unpruned model's.
using Accuracies = std::map<std::string, at::Tensor>;

// Phases 5–8.
void scoring_phase(Context& ctx, UnitLoop& loop);
Rankings reduce_rankings(Context& ctx, const UnitLoop& loop);
/// With the global protocol: the masks of every combo from `rankings` (uint8 [ratios, M(,H)] by
/// Combo::key), and this rank's (ratio, batch) cells evaluated under them.
io::TensorBundle global_phase(Context& ctx, UnitLoop& loop, const Rankings& rankings);
Accuracies reduce_accuracies(Context& ctx, const UnitLoop& loop);

/// Every finished unit this rank holds: its own and its share of the resumed ones (disjoint: a
/// resumed unit is not run again).
io::TensorBundle held_units(const Context& ctx, const UnitLoop& loop);

// Step 9 (results.cpp): every rank (rank 0 writes).
void write_results(Context& ctx, const UnitLoop& loop, const Rankings& rankings, const Accuracies& accuracies,
                   const io::TensorBundle& global_masks);

/// Soft scores of predicted answer indices [B, k] for the batch's samples (float64 CPU).
at::Tensor label_scores(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& pred);

/// UserError naming the first sample of `samples` whose row of `t` [B, ...] holds a NaN or Inf.
void refuse_nonfinite(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& t,
                      const std::string& what);

std::string utc_now();
/// The strings of `v` with `sep` between them.
std::string join(const std::vector<std::string>& v, const char* sep);

}  // namespace headprune::run
