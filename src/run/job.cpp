#include "headprune/run/job.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sched.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "headprune/common/build_info.hpp"
#include "headprune/common/error.hpp"
#include "headprune/common/log.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/common/stop_signal.hpp"
#include "headprune/config/config.hpp"
#include "headprune/data/batch_builder.hpp"
#include "headprune/dist/communicator.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/io/output_path.hpp"
#include "headprune/io/results_file.hpp"
#include "headprune/io/tensor_bundle.hpp"
#include "headprune/models/model.hpp"
#include "headprune/models/weights.hpp"
#include "headprune/prune/global_ranking.hpp"
#include "headprune/prune/per_sample.hpp"
#include "headprune/prune/protocol.hpp"
#include "headprune/run/checkpoint.hpp"
#include "headprune/run/inputs.hpp"
#include "headprune/run/plan.hpp"
#include "headprune/visualize/visualize.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
using io::TensorBundle;

// ---- signals --------------------------------------------------------------------------------
// SIGTERM/SIGUSR1/first SIGINT set the flag of common/stop_signal.hpp; the job polls it after
// every batch or cell, checkpoints and exits 3 (a second Ctrl-C ends the process at once).
namespace {
/// Thrown after the checkpoint that a signal asked for.
struct Preempted {};
/// Thrown on ranks > 0 for an error rank 0 reports (only rank 0 prints it).
struct QuietExit {
  int code;
};
}  // namespace

void install_preemption_handlers() { install_stop_handlers(); }
bool preemption_requested() { return stop_requested(); }

namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// LibTorch threads per rank: the config, else the cores the launcher bound this rank to, shared
// with the other ranks of the node when the rank is not bound at all (never oversubscribe).
int threads_for_rank(int64_t configured, int local_size) {
  if (configured > 0) return static_cast<int>(configured);
  cpu_set_t set;
  CPU_ZERO(&set);
  int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (allowed >= hw) allowed = std::max(1, hw / std::max(1, local_size));  // unbound: share the node
  return std::max(1, allowed);
}

// The combos of one protocol, in a fixed order: (method, granularity, sign).
struct Combo {
  std::string method;  // a name of explain/methods.hpp's table
  prune::Granularity granularity;
  prune::Sign sign;
  std::string path() const {
    return method + "/" + prune::granularity_name(granularity) + "/" +
           prune::sign_name(sign);
  }
};

// Everything a rank needs to compute one batch or cell.
struct Context {
  config::Config cfg;
  dist::Communicator* comm = nullptr;
  std::unique_ptr<models::VqaModel> model;
  std::unique_ptr<data::WordPieceTokenizer> tokenizer;
  std::unique_ptr<data::AnswerVocab> vocab;
  std::string answers_source, answers_sha256;  // where the answer list came from, its SHA-256
  int64_t text_tokens = 0;                     // question length (model.max_text_tokens resolved)
  std::unique_ptr<data::FeatureStore> store;
  std::unique_ptr<data::BatchBuilder> builder;
  std::vector<data::Sample> samples;  // the run's samples, selection order
  Plan plan;
  std::vector<Combo> combos;
};

std::vector<const data::Sample*> samples_of_batch(const Context& ctx, int64_t b) {
  std::vector<const data::Sample*> out;
  for (int64_t s = ctx.plan.batch_begin[static_cast<size_t>(b)]; s < ctx.plan.batch_begin[static_cast<size_t>(b) + 1]; ++s)
    out.push_back(&ctx.samples[static_cast<size_t>(s)]);
  return out;
}

// Soft scores of predicted answer indices [B, k] for the batch's samples.
at::Tensor label_scores(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& pred) {
  at::Tensor out = at::zeros(pred.sizes(), at::kDouble);
  at::Tensor p = pred.reshape({pred.size(0), -1}).cpu().to(at::kLong).contiguous();
  auto pa = p.accessor<int64_t, 2>();
  at::Tensor o = out.view({pred.size(0), -1});
  auto oa = o.accessor<double, 2>();
  for (int64_t b = 0; b < p.size(0); ++b)
    for (int64_t k = 0; k < p.size(1); ++k) oa[b][k] = samples[static_cast<size_t>(b)]->score(ctx.vocab->answer(pa[b][k]));
  return out;
}

// A NaN or infinite logit or score would flatten every curve without a word: an error naming
// the first sample that has one. (Weights and features are checked finite when they load, so
// this is the model overflowing on that input.) `t` is [B, ...], on any device.
void refuse_nonfinite(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& t,
                      const std::string& what) {
  at::Tensor bad = at::isfinite(t).logical_not().reshape({t.size(0), -1}).any(1).cpu();
  if (!bad.any().item<bool>()) return;
  const data::Sample& s = *samples[static_cast<size_t>(bad.nonzero()[0][0].item<int64_t>())];
  throw UserError(ctx.cfg.model.path + ": question_id " + s.question_id + " (image " + s.img_id + "): " + what +
                  " not finite (NaN or Inf): the model overflows on this input (precision " +
                  config::to_string(ctx.cfg.precision) + ")");
}

// Phase 1: score a batch and run the per-sample protocol on it.
TensorBundle run_batch(const Context& ctx, int64_t b) {
  auto samples = samples_of_batch(ctx, b);
  data::BuiltBatch built = ctx.builder->build(samples, ctx.model->num_answers());
  std::vector<int64_t> index;
  for (int64_t s = ctx.plan.batch_begin[static_cast<size_t>(b)]; s < ctx.plan.batch_begin[static_cast<size_t>(b) + 1]; ++s)
    index.push_back(s);
  explain::ScoringOptions so;
  so.methods = ctx.cfg.scoring.methods;
  so.target = ctx.cfg.scoring.explain;
  so.michel_normalize = ctx.cfg.scoring.michel_normalize;
  so.random_seed = static_cast<uint64_t>(ctx.cfg.scoring.random_seed);
  explain::ScoringResult scored = explain::score_batch(*ctx.model, built.batch, so, built.labels, index);
  refuse_nonfinite(ctx, samples, scored.logits, "logits");
  for (const auto& [method, us] : scored.scores) refuse_nonfinite(ctx, samples, us.head, method + " scores");

  TensorBundle out;
  const std::string key = "b" + std::to_string(b) + "/";
  at::Tensor pred0 = scored.logits.argmax(1).cpu();
  out[key + "target"] = scored.target.cpu();
  out[key + "unpruned_pred"] = pred0;
  out[key + "unpruned_score"] = label_scores(ctx, samples, pred0.unsqueeze(1)).view({-1});
  for (const auto& [method, us] : scored.scores) {
    for (auto g : ctx.cfg.prune.granularities)
      out[key + "scores/" + method + "/" + prune::granularity_name(g)] =
          g == prune::Granularity::head ? us.head : us.layer;
  }
  const bool per_sample = std::find(ctx.cfg.prune.protocols.begin(), ctx.cfg.prune.protocols.end(),
                                    config::Protocol::per_sample) != ctx.cfg.prune.protocols.end();
  if (!per_sample) return out;

  // All combos x ratios of the batch in one batched masked evaluation (prune/per_sample.hpp);
  // ratio 0 reuses the scoring pass's unpruned logits.
  const int64_t B = built.batch.size(), S = static_cast<int64_t>(ctx.cfg.prune.ratios.size());
  const prune::PerSampleProtocol protocol(ctx.cfg.prune.ratios, ctx.cfg.prune.count_rule);
  std::vector<prune::PerSampleProtocol::ComboMasks> masks;
  for (const auto& c : ctx.combos) {
    const auto& us = scored.scores.at(c.method);
    masks.push_back({protocol.masks(c.granularity == prune::Granularity::head ? us.head : us.layer, c.granularity, c.sign),
                     c.granularity});
  }
  const at::Tensor pred = protocol.evaluate(*ctx.model, built.batch, masks, scored.logits).pred;  // [B,C,S]
  at::Tensor scores = label_scores(ctx, samples, pred.view({B, -1})).view({B, -1, S});
  for (size_t c = 0; c < ctx.combos.size(); ++c) {
    const std::string p = key + "curves/per_sample/" + ctx.combos[c].path();
    out[p + "/pred_index"] = pred.select(1, static_cast<int64_t>(c)).contiguous();
    out[p + "/label_score"] = scores.select(1, static_cast<int64_t>(c)).contiguous();
  }
  return out;
}

// Phase 2 (global protocol): one ratio of one batch, every combo, masks from the global ranking.
TensorBundle run_cell(const Context& ctx, const Cell& cell, const TensorBundle& global_masks) {
  auto samples = samples_of_batch(ctx, cell.batch);
  data::BuiltBatch built = ctx.builder->build(samples, ctx.model->num_answers());
  const int64_t B = built.batch.size(), H = ctx.model->heads();
  std::vector<at::Tensor> keeps;
  for (const auto& c : ctx.combos) {
    at::Tensor m = global_masks.at(c.path())[cell.ratio];  // [M(,H)]
    at::Tensor k = prune::to_head_keep(m.unsqueeze(0).unsqueeze(0), c.granularity, H, ctx.model->dtype())[0][0];
    keeps.push_back(k);
  }
  at::Tensor keep = at::stack(keeps).unsqueeze(0).expand({B, -1, -1, -1}).contiguous();  // [B,C,M,H]
  at::Tensor pred = prune::masked_logits(*ctx.model, built.batch, keep).argmax(2);      // [B,C]
  at::Tensor scores = label_scores(ctx, samples, pred);
  TensorBundle out;
  const std::string key = "c" + std::to_string(cell.ratio) + "_" + std::to_string(cell.batch) + "/";
  for (size_t c = 0; c < ctx.combos.size(); ++c) {
    out[key + ctx.combos[c].path() + "/pred_index"] = pred.select(1, static_cast<int64_t>(c)).contiguous();
    out[key + ctx.combos[c].path() + "/label_score"] = scores.select(1, static_cast<int64_t>(c)).contiguous();
  }
  return out;
}

// ---- progress -------------------------------------------------------------------------------
class Progress {
 public:
  /// `total` units on rank 0, `samples_total` in the whole job (ranks get equal shares of the cost).
  Progress(const std::string& phase, int64_t total, int64_t samples_total, int64_t seconds, const char* unit = "samples")
      : phase_(phase), unit_(unit), total_(total), samples_total_(samples_total), seconds_(seconds),
        tty_(isatty(STDERR_FILENO)) {}
  void step(int64_t done) {
    auto now = std::chrono::steady_clock::now();
    const bool last = done == total_;
    if (seconds_ <= 0 || (!last && now - last_ < std::chrono::seconds(tty_ ? 1 : seconds_))) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double fraction = total_ ? static_cast<double>(done) / total_ : 1.0;
    const double samples = fraction * samples_total_;
    const double eta = done ? elapsed * (total_ - done) / done : 0;
    if (tty_) {  // a progress bar on a terminal, a log line otherwise
      const int width = 30, filled = static_cast<int>(fraction * width);
      std::fprintf(stderr, "\r%s [%s%s] ~%.0f/%lld %s, %.1f/s, ETA %.0f s%s", phase_.c_str(),
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(width - filled), ' ').c_str(), samples,
                   static_cast<long long>(samples_total_), unit_, samples / std::max(elapsed, 1e-9), eta,
                   last ? "\n" : "");
      std::fflush(stderr);
    } else {
      spdlog::info("{}: ~{:.0f}/{} {} ({}/{} units on rank 0), {:.1f}/s, ETA {:.0f} s", phase_, samples, samples_total_,
                   unit_, done, total_, samples / std::max(elapsed, 1e-9), eta);
    }
  }

 private:
  std::string phase_;
  const char* unit_;
  int64_t total_, samples_total_, seconds_;
  bool tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

// Broadcasts rank 0's error (or "") and throws it everywhere; rank 0 rethrows the original.
void agree_on_error(dist::Communicator& comm, const std::string& error) {
  std::string e = error;
  comm.broadcast_bytes(e, 0);
  if (e.empty()) return;
  if (comm.rank() == 0) throw UserError(e);
  throw QuietExit{static_cast<int>(ExitCode::usage)};
}

// Every rank ran `fn`; if any failed, every rank stops (rank 0 prints its own error or a summary).
template <typename Fn>
void on_every_rank(dist::Communicator& comm, Fn fn) {
  std::string error;
  try {
    fn();
  } catch (const UserError& e) {
    error = e.what();
  }
  if (comm.all_true(error.empty())) return;
  if (!error.empty() && comm.rank() == 0) throw UserError(error);
  if (!error.empty()) spdlog::error("{}", error);
  if (comm.rank() == 0) throw UserError("another rank failed (see its error above)");
  throw QuietExit{static_cast<int>(ExitCode::usage)};
}

// True when `dir` holds nothing but its config.yaml (a run before its first checkpoint).
bool holds_only_its_config(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != "config.yaml") return false;
  return true;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

// The identity of a run's results: the result-defining config and what the inputs hold. Checkpoints
// carry it, and a resume reads only its own (see run/checkpoint.hpp). The weights, questions and
// tokenizer vocabulary are hashed whole, the answer list by its file's SHA-256 (as in /meta); the
// feature store (often tens of GB) by its image ids, size and modification time.
std::string run_identity(const std::string& defining_yaml, const std::string& weights_sha256,
                         const std::string& questions_sha256, const std::string& annotations_path,
                         const std::string& tokenizer_vocab, const std::string& answers_sha256,
                         const std::string& features_path, const data::FeatureStore& store) {
  std::string text = defining_yaml + "\nweights " + weights_sha256 + "\nquestions " + questions_sha256 +
                     "\ntokenizer " + sha256_file(tokenizer_vocab) + "\nanswers " + answers_sha256;
  if (!annotations_path.empty()) text += "\nannotations " + sha256_file(annotations_path);
  std::error_code ec;
  const auto size = fs::file_size(features_path, ec);
  const auto mtime = fs::last_write_time(features_path, ec).time_since_epoch().count();
  text += "\nfeatures " + sha256_hex(join(store.image_ids(), "\n")) + " " + std::to_string(size) + " " +
          std::to_string(mtime);
  return sha256_hex(text);
}

int run_job(const RunOptions& options, dist::MpiSession& session) {
  // Rank 0's partial folder, when this run made it: removed again if the run stops on an input
  // error (a corrected rerun must not find it), kept after a signal or a crash (to resume).
  std::string created_partial;
  try {
    install_preemption_handlers();
    log_init(session.rank(), session.size());
    const std::string start_time = utc_now();
    auto comm_owner = dist::make_mpi_communicator();  // bytes and flags only: see the determinism note
    dist::Communicator& comm = *comm_owner;
    const bool root = comm.rank() == 0;

    // 1. Config: rank 0 reads and resolves it, every rank types the same YAML text.
    Context ctx;
    ctx.comm = &comm;
    std::string yaml, error;
    if (root) {
      try {
        config::Config c = config::load_config(options.config_path, options.overrides);
        if (options.overwrite) c.output.overwrite = true;
        yaml = config::to_yaml(c);
      } catch (const UserError& e) {
        error = e.what();
      }
    }
    agree_on_error(comm, error);
    comm.broadcast_bytes(yaml, 0);
    ctx.cfg = config::load_config_text(yaml, options.config_path);
    log_set_config_level(ctx.cfg.log_level, "log_level");
    const int threads = threads_for_rank(ctx.cfg.run.threads_per_rank, session.local_size());
    at::set_num_threads(threads);
    spdlog::debug("{} LibTorch thread(s) on {}", threads, session.host_names()[static_cast<size_t>(comm.rank())]);

    for (const auto& m : ctx.cfg.scoring.methods)
      for (auto g : ctx.cfg.prune.granularities)
        for (auto s : ctx.cfg.prune.signs) ctx.combos.push_back({m, g, s});

    // 2. Output: never overwrite silently; partial results must belong to this config. The
    //    partial folder itself is made only once the inputs have loaded (step 3), so that a run
    //    stopped by a bad input leaves nothing that would block the corrected rerun.
    //    Rank 0 holds an exclusive lock on the output for the whole run: a second run on the same
    //    output stops here at once, naming the first (it could otherwise mix its checkpoints in).
    const std::string partial = partial_dir(ctx.cfg);
    const std::string defining = result_defining_yaml(ctx.cfg);
    std::string run_id = std::to_string(std::time(nullptr)) + "-" + io::host_and_pid();
    std::replace(run_id.begin(), run_id.end(), ':', '-');
    bool make_partial = false;
    std::unique_ptr<io::OutputLock> lock;
    error.clear();
    if (root) {
      try {
        io::check_output_file(ctx.cfg.output.path, ctx.cfg.output.overwrite, "--overwrite or output.overwrite=true");
        if (fs::exists(partial) && !fs::is_directory(partial))
          throw UserError(partial + ": is not a folder (expected the run's partial results; remove it)");
        lock = std::make_unique<io::OutputLock>(ctx.cfg.output.path);
        // Again under the lock: a run that held it until a moment ago may have just written the file.
        io::check_output_file(ctx.cfg.output.path, ctx.cfg.output.overwrite, "--overwrite or output.overwrite=true");
        if (!ctx.cfg.visualize.samples.empty())  // drawn at the end: refuse now, not after the run
          visualize::refuse_existing_drawings(visualize::visualize_out_dir(ctx.cfg, ""), ctx.cfg.output.overwrite);
        if (fs::exists(partial + "/config.yaml")) {
          std::ifstream in(partial + "/config.yaml");
          std::string old((std::istreambuf_iterator<char>(in)), {});
          if (old == defining) {
            spdlog::info("resuming from {}", partial);
          } else if (holds_only_its_config(partial)) {
            // A run of another config that stopped before its first checkpoint: nothing to lose,
            // and no run is still going on it (it would hold the lock we hold).
            spdlog::info("{}: replacing the empty partial folder of another config", partial);
            make_partial = true;
          } else {
            throw UserError(partial + ": partial results of a different config (remove the folder to start over, or "
                                      "rerun with the config that made them)");
          }
        } else {
          if (fs::exists(partial) && !fs::is_empty(partial))
            throw UserError(partial + ": holds files but no config.yaml (not the partial results of a run?); remove it");
          make_partial = true;
        }
      } catch (const UserError& e) {
        error = e.what();
      } catch (const fs::filesystem_error& e) {
        error = std::string(e.what());
      }
    }
    agree_on_error(comm, error);
    comm.broadcast_bytes(run_id, 0);

    // 3. Data, model and tokenizer on every rank; the sample selection on rank 0.
    data::SampleList list;
    std::string weights_sha256, questions_sha256, identity;
    on_every_rank(comm, [&] {
      models::LoadOptions lo{ctx.cfg.precision == config::Precision::fp64   ? at::kDouble
                             : ctx.cfg.precision == config::Precision::bf16 ? at::kBFloat16
                                                                            : at::kFloat,
                             ctx.cfg.model.strict_load, ""};
      // One GPU per rank, by node-local rank.
      // (Ranks beyond the node's GPU count share GPUs round-robin, e.g. tests on one GPU.)
      if (ctx.cfg.device == config::Device::cuda) {
        const int gpus = static_cast<int>(at::getNumGPUs());
        if (gpus == 0) throw UserError("device: cuda, but no GPU is visible to rank " + std::to_string(comm.rank()));
        lo.device = "cuda:" + std::to_string(session.local_rank() % gpus);
      }
      at::globalContext().setAllowTF32CuBLAS(ctx.cfg.precision == config::Precision::tf32);
      ctx.model = models::load_model(ctx.cfg.model.path, lo);
      if (ctx.cfg.model.family != ctx.model->name())
        throw UserError("model.family = " + ctx.cfg.model.family + " but " + ctx.cfg.model.path +
                        " holds a " + ctx.model->name() + " model");
      // The answer list, tokenizer vocabulary and question length default to the model's (run/inputs.hpp).
      Answers answers = load_answers(ctx.cfg, *ctx.model);
      ctx.vocab = std::make_unique<data::AnswerVocab>(std::move(answers.vocab));
      ctx.answers_source = answers.source;
      ctx.answers_sha256 = answers.sha256;
      const std::string tokenizer_vocab = tokenizer_vocab_path(ctx.cfg, *ctx.model);
      ctx.tokenizer = std::make_unique<data::WordPieceTokenizer>(data::WordPieceTokenizer::from_vocab_file(tokenizer_vocab));
      ctx.text_tokens = text_token_limit(ctx.cfg, *ctx.model);
      ctx.store = std::make_unique<data::FeatureStore>(ctx.cfg.data.features);
      ctx.builder = std::make_unique<data::BatchBuilder>(
          *ctx.model, *ctx.tokenizer, *ctx.store,
          data::BatchBuilderOptions{ctx.text_tokens, ctx.cfg.model.max_regions});
      data::VqaQuestions questions = data::load_questions(
          ctx.cfg.data.format,
          ctx.cfg.data.questions, ctx.cfg.data.annotations.value_or(""), *ctx.vocab);
      data::SampleOptions so;
      so.selection.mode = ctx.cfg.data.selection;
      so.selection.num_samples = ctx.cfg.data.selection == data::Selection::all ||
                                         ctx.cfg.data.selection == data::Selection::list
                                     ? -1
                                     : ctx.cfg.data.num_samples;
      so.selection.list_file = ctx.cfg.data.selection_file.value_or("");
      so.selection.seed = ctx.cfg.data.selection_seed;
      so.exclude_images = ctx.cfg.data.exclude_images.value_or("");
      so.on_missing = ctx.cfg.data.on_missing;
      list = data::make_sample_list(questions, so, ctx.store.get());
      ctx.samples = list.samples;
      if (root) {
        weights_sha256 = sha256_file(ctx.model->source().weights_path);
        questions_sha256 = sha256_file(ctx.cfg.data.questions);
        identity = run_identity(defining, weights_sha256, questions_sha256, ctx.cfg.data.annotations.value_or(""),
                                tokenizer_vocab, ctx.answers_sha256, ctx.cfg.data.features, *ctx.store);
      }
    });
    comm.broadcast_bytes(identity, 0);
    error.clear();
    if (root && make_partial) {
      try {
        fs::create_directories(partial);
        created_partial = partial;
        std::ofstream out(partial + "/config.yaml");
        out << defining;
        out.close();
        if (!out) error = partial + "/config.yaml: cannot write (disk full or no permission?)";
      } catch (const fs::filesystem_error& e) {
        error = std::string(e.what());
      }
    }
    agree_on_error(comm, error);
    // Logged once the inputs have loaded, so that an input error is the last thing on screen.
    if (root) spdlog::info("resolved config ({} rank(s)):\n{}", comm.size(), yaml);

    // 4. The plan: rank 0 finds what is left to do and balances it over the ranks.
    TensorBundle done;  // rank 0: finished batches and cells (resumed + this run's)
    std::string plan_bytes;
    std::vector<int64_t> todo;
    if (root) {
      try {
        done = load_partials(partial, identity);
      } catch (const UserError& e) {
        error = e.what();
      }
    }
    agree_on_error(comm, error);
    if (root) {
      std::vector<int64_t> cost;
      for (const auto& s : ctx.samples) cost.push_back(ctx.builder->cost(s));
      Plan full = make_plan(cost, ctx.cfg.run.batch_size, 1, {});
      for (int64_t b = 0; b < full.num_batches(); ++b)
        if (!has_prefix(done, "b" + std::to_string(b) + "/")) todo.push_back(b);
      ctx.plan = make_plan(cost, ctx.cfg.run.batch_size, comm.size(), todo);
      if (!done.empty())
        spdlog::info("resume: {} of {} batches already done", full.num_batches() - static_cast<int64_t>(todo.size()),
                     full.num_batches());
      plan_bytes = ctx.plan.serialize();
      std::string t(reinterpret_cast<const char*>(todo.data()), todo.size() * sizeof(int64_t));
      plan_bytes = std::to_string(plan_bytes.size()) + ":" + plan_bytes + t;
    }
    comm.broadcast_bytes(plan_bytes, 0);
    {
      size_t colon = plan_bytes.find(':');
      size_t n = std::stoull(plan_bytes.substr(0, colon));
      ctx.plan = Plan::deserialize(plan_bytes.substr(colon + 1, n));
      std::string t = plan_bytes.substr(colon + 1 + n);
      todo.assign(reinterpret_cast<const int64_t*>(t.data()), reinterpret_cast<const int64_t*>(t.data() + t.size()));
    }

    // 5. Phase 1: score and run the per-sample protocol, batch by batch.
    Checkpointer checkpoint(partial, run_id, identity, comm.rank());
    TensorBundle mine;
    const auto my_batches = ctx.plan.batches_of(comm.rank(), todo);
    int64_t todo_samples = 0;
    for (int64_t b : todo) todo_samples += ctx.plan.batch_begin[static_cast<size_t>(b) + 1] - ctx.plan.batch_begin[static_cast<size_t>(b)];
    Progress progress("scoring", static_cast<int64_t>(my_batches.size()), todo_samples, ctx.cfg.run.progress_seconds);
    int64_t since_checkpoint = 0;
    // Test hook: slows every batch down so that tests can interrupt a run mid-way.
    const char* delay_env = std::getenv("HEADPRUNE_TEST_BATCH_DELAY_MS");
    const int delay_ms = delay_env ? std::atoi(delay_env) : 0;
    auto after_unit = [&](const TensorBundle& out) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      checkpoint.add(out);
      for (const auto& [k, v] : out) mine[k] = v;
      if (++since_checkpoint >= ctx.cfg.run.checkpoint_every || preemption_requested()) {
        checkpoint.flush();
        since_checkpoint = 0;
      }
      if (preemption_requested()) throw Preempted{};
    };
    // An input error found while running (a NaN in the features, say) stops this rank's loop; the
    // ranks agree on it once all are out of their loops (a rank cannot stop the others mid-way).
    std::string unit_error;
    for (size_t i = 0; i < my_batches.size(); ++i) {
      try {
        after_unit(run_batch(ctx, my_batches[i]));
      } catch (const UserError& e) {
        unit_error = e.what();
        break;
      }
      if (root) progress.step(static_cast<int64_t>(i) + 1);
    }
    checkpoint.flush();
    agree_on_error(comm, unit_error);

    // Gather phase 1 to rank 0.
    auto gather_into_done = [&] {
      auto parts = comm.gather_bytes(io::pack_bundle(mine), 0);
      if (root)
        for (size_t r = 0; r < parts.size(); ++r)
          for (auto& [k, v] : io::unpack_bundle(parts[r], "rank " + std::to_string(r))) done[k] = v;
      mine.clear();
    };
    gather_into_done();

    // Assemble per-sample arrays on rank 0, in sample order.
    const int64_t N = static_cast<int64_t>(ctx.samples.size()), nb = ctx.plan.num_batches();
    auto assemble = [&](const std::string& suffix) {
      std::vector<at::Tensor> parts;
      for (int64_t b = 0; b < nb; ++b) parts.push_back(done.at("b" + std::to_string(b) + "/" + suffix));
      return at::cat(parts);
    };
    io::Experiment exp;
    exp.name = ctx.cfg.name;

    // 6. Global protocol: rank 0 ranks units over all samples (sample order), masks are
    //    broadcast, ranks evaluate (ratio x batch) cells.
    const bool global = std::find(ctx.cfg.prune.protocols.begin(), ctx.cfg.prune.protocols.end(),
                                  config::Protocol::global) != ctx.cfg.prune.protocols.end();
    TensorBundle global_masks;
    if (root) {
      for (const auto& m : ctx.cfg.scoring.methods)
        for (auto g : ctx.cfg.prune.granularities) {
          const std::string mg = m + "/" + prune::granularity_name(g);
          at::Tensor scores = assemble("scores/" + mg);
          prune::GlobalRanking ranking(scores.sizes().slice(1));
          ranking.add(scores);
          at::Tensor mean = ranking.mean(ctx.cfg.prune.global_normalize);
          exp.datasets["scores/" + mg] = scores;
          exp.datasets["ranking/" + mg + "/mean"] = mean;
          exp.datasets["ranking/" + mg + "/std"] = (scores - scores.mean(0)).pow(2).mean(0).sqrt();  // population std
          exp.datasets["ranking/" + mg + "/order"] = at::argsort(mean.reshape({-1}), /*stable=*/true, 0, /*descending=*/true);
          for (auto s : ctx.cfg.prune.signs)
            global_masks[mg + "/" + prune::sign_name(s)] =
                ranking.masks(s, ctx.cfg.prune.count_rule, ctx.cfg.prune.ratios,
                              ctx.cfg.prune.global_normalize);
        }
    }
    if (global) {
      std::string bytes = root ? io::pack_bundle(global_masks) : std::string();
      comm.broadcast_bytes(bytes, 0);
      global_masks = io::unpack_bundle(bytes, "global masks");
      const int64_t S = static_cast<int64_t>(ctx.cfg.prune.ratios.size());
      std::string todo_cells;
      if (root) {
        std::vector<int64_t> cells;  // flat k * nb + b of cells not done yet
        for (int64_t k = 0; k < S; ++k)
          for (int64_t b = 0; b < nb; ++b)
            if (!has_prefix(done, "c" + std::to_string(k) + "_" + std::to_string(b) + "/")) cells.push_back(k * nb + b);
        todo_cells.assign(reinterpret_cast<const char*>(cells.data()), cells.size() * sizeof(int64_t));
      }
      comm.broadcast_bytes(todo_cells, 0);
      const auto* flat = reinterpret_cast<const int64_t*>(todo_cells.data());
      const size_t n_cells = todo_cells.size() / sizeof(int64_t);
      const int64_t my_cells = (static_cast<int64_t>(n_cells) + comm.size() - 1 - comm.rank()) / comm.size();
      Progress p2("global protocol", my_cells, N * S, ctx.cfg.run.progress_seconds, "sample x ratio evaluations");
      for (size_t i = static_cast<size_t>(comm.rank()); i < n_cells; i += static_cast<size_t>(comm.size())) {
        Cell cell{flat[i] / nb, flat[i] % nb};
        try {
          after_unit(run_cell(ctx, cell, global_masks));
        } catch (const UserError& e) {
          unit_error = e.what();
          break;
        }
        if (root) p2.step(static_cast<int64_t>(i / static_cast<size_t>(comm.size())) + 1);
      }
      checkpoint.flush();
      agree_on_error(comm, unit_error);
      gather_into_done();
    }

    // 7. Rank 0 writes the results file and removes the partial results.
    if (root) {
      const int64_t S = static_cast<int64_t>(ctx.cfg.prune.ratios.size());
      at::Tensor ratios = at::tensor(ctx.cfg.prune.ratios, at::kDouble);
      exp.datasets["meta/ratios"] = ratios;
      exp.datasets["samples/target"] = assemble("target");
      exp.datasets["samples/unpruned_pred"] = assemble("unpruned_pred");
      exp.datasets["samples/unpruned_score"] = assemble("unpruned_score");
      std::vector<std::string> qid, img;
      std::vector<int64_t> sel(list.file_index.begin(), list.file_index.end());
      for (const auto& s : ctx.samples) {
        qid.push_back(s.question_id);
        img.push_back(s.img_id);
      }
      exp.strings["samples/question_id"] = qid;
      exp.strings["samples/img_id"] = img;
      // The VQA answer type, where the question file carries it: the report breaks accuracy down by it.
      std::vector<std::string> answer_type;
      for (const auto& s : ctx.samples) answer_type.push_back(s.answer_type);
      if (std::any_of(answer_type.begin(), answer_type.end(), [](const std::string& t) { return !t.empty(); }))
        exp.strings["samples/answer_type"] = answer_type;
      exp.datasets["samples/selection_index"] = at::tensor(sel, at::kLong);
      std::vector<std::string> names, modality;
      for (const auto& m : ctx.model->attention_modules()) {
        names.push_back(m.name);
        modality.push_back(m.modality == models::Modality::text ? "text" : "image");
      }
      exp.strings["meta/module_names"] = names;
      exp.strings["meta/module_modality"] = modality;
      exp.strings["meta/answers"] = ctx.vocab->answers();
      const at::Tensor unpruned = exp.datasets["samples/unpruned_score"];
      const std::string zero = zero_accuracy_warning(N, unpruned.sum().item<double>(), ctx.answers_source);
      if (!zero.empty()) spdlog::warn("{}", zero);
      auto curve = [&](const std::string& base, const at::Tensor& label, const at::Tensor& pred) {
        exp.datasets[base + "/ratios"] = ratios;
        exp.datasets[base + "/label_score"] = label;
        exp.datasets[base + "/pred_index"] = pred;
        exp.datasets[base + "/accuracy_x100"] = label.mean(0) * 100.0;
      };
      for (const auto& c : ctx.combos) {
        if (std::find(ctx.cfg.prune.protocols.begin(), ctx.cfg.prune.protocols.end(), config::Protocol::per_sample) !=
            ctx.cfg.prune.protocols.end())
          curve("curves/per_sample/" + c.path(), assemble("curves/per_sample/" + c.path() + "/label_score"),
                assemble("curves/per_sample/" + c.path() + "/pred_index"));
        if (global) {
          std::vector<at::Tensor> label_cols, pred_cols;
          for (int64_t k = 0; k < S; ++k) {
            std::vector<at::Tensor> lab, pr;
            for (int64_t b = 0; b < nb; ++b) {
              const std::string key = "c" + std::to_string(k) + "_" + std::to_string(b) + "/" + c.path();
              lab.push_back(done.at(key + "/label_score"));
              pr.push_back(done.at(key + "/pred_index"));
            }
            label_cols.push_back(at::cat(lab));
            pred_cols.push_back(at::cat(pr));
          }
          const std::string base = "curves/global/" + c.path();
          curve(base, at::stack(label_cols, 1), at::stack(pred_cols, 1));
          exp.datasets[base + "/keep_mask"] = global_masks.at(c.path());
        }
      }
      const BuildInfo& bi = build_info();
      exp.meta_text = {{"config_yaml", yaml},
                       {"tool_version", bi.version},
                       {"git_commit", bi.git_commit},
                       {"library_versions", library_versions()},
                       {"model_family", ctx.model->name()},
                       {"weights_sha256", weights_sha256},
                       {"answers_source", ctx.answers_source},
                       {"answers_sha256", ctx.answers_sha256},
                       {"questions_sha256", questions_sha256},
                       {"features_sha256", sha256_hex(join(ctx.store->image_ids(), "\n"))},
                       {"hosts", join(session.host_names(), "\n")},
                       {"device", config::to_string(ctx.cfg.device)},
                       {"start_time", start_time},
                       {"end_time", utc_now()}};
      exp.meta_int = {{"ranks", comm.size()},
                      {"threads_per_rank", threads},
                      {"max_text_tokens", ctx.text_tokens},
                      {"questions_available", list.available},
                      {"excluded_images", list.excluded},
                      {"selected", list.selected},
                      {"skipped_missing", list.skipped_missing},
                      {"samples", N}};
      io::write_results_file(ctx.cfg.output.path, {exp}, ctx.cfg.output.overwrite);
      fs::remove_all(partial);
      created_partial.clear();
      spdlog::info("wrote {} ({} samples, {} rank(s))", ctx.cfg.output.path, N, comm.size());
      if (!ctx.cfg.visualize.samples.empty()) {  // visualize.samples inside a run: drawn by rank 0
        ctx = Context{};                         // free the model first: visualize loads its own
        const config::Config vcfg = config::load_config_text(yaml, options.config_path);
        visualize::VisualizeOptions vo;
        vo.overwrite = vcfg.output.overwrite;  // checked at the start (step 2)
        auto report = visualize::visualize(vcfg, vo);
        spdlog::info("visualizations of {} sample(s): {}", report.samples.size(), report.index_html);
      }
    }
    comm.barrier();
    return static_cast<int>(ExitCode::ok);
  } catch (const Preempted&) {
    spdlog::warn("stopped by a signal after a checkpoint; rerun the same command to resume (exit code {})",
                 static_cast<int>(ExitCode::preempted));
    return static_cast<int>(ExitCode::preempted);
  } catch (const QuietExit& q) {
    return q.code;
  } catch (const UserError&) {
    if (!created_partial.empty()) {
      std::error_code ec;
      fs::remove_all(created_partial, ec);
    }
    throw;
  }
}

}  // namespace headprune::run
