#include "headprune/demo/trainer.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/images.hpp"
#include "headprune/data/python_random.hpp"
#include "headprune/data/tokenizer.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/weights.hpp"

namespace headprune::demo {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Examples as model inputs: either packed once into padded tensors of the whole set (small
// datasets: a batch is then a few index_select calls) or built from the store per batch.
class ExampleSource {
 public:
  ExampleSource(const run::BatchBuilder& builder, const std::vector<data::Sample>& samples, int64_t answers,
                bool cache)
      : builder_(builder), samples_(samples), answers_(answers), cache_(cache) {
    if (!cache_) return;
    constexpr size_t kChunk = 256;
    std::vector<models::Batch> chunks;
    std::vector<at::Tensor> labels;
    for (size_t begin = 0; begin < samples.size(); begin += kChunk) {
      std::vector<const data::Sample*> ptrs;
      for (size_t i = begin; i < std::min(samples.size(), begin + kChunk); ++i) ptrs.push_back(&samples[i]);
      run::BuiltBatch built = builder.build(ptrs, answers);
      if (!built.batch.region_mask.defined())
        built.batch.region_mask = at::ones({built.batch.size(), built.batch.visual_feats.size(1)}, at::kLong);
      chunks.push_back(std::move(built.batch));
      labels.push_back(std::move(built.labels));
    }
    all_ = models::collate(chunks);
    labels_ = at::cat(labels, 0);
    at::Tensor tlen = all_.text_mask.sum(1).contiguous(), rlen = all_.region_mask.sum(1).contiguous();
    text_len_.assign(tlen.data_ptr<int64_t>(), tlen.data_ptr<int64_t>() + tlen.numel());
    regions_.assign(rlen.data_ptr<int64_t>(), rlen.data_ptr<int64_t>() + rlen.numel());
  }

  /// The examples `indices` as one padded batch and their soft labels [B, answers].
  std::pair<models::Batch, at::Tensor> get(const std::vector<int64_t>& indices) const {
    if (cache_) {
      int64_t T = 1, R = 1;
      for (int64_t i : indices) {
        T = std::max(T, text_len_[static_cast<size_t>(i)]);
        R = std::max(R, regions_[static_cast<size_t>(i)]);
      }
      const at::Tensor idx = at::tensor(indices, at::kLong);
      auto take = [&](const at::Tensor& t, int64_t len) {
        return t.defined() ? t.index_select(0, idx).narrow(1, 0, len) : t;
      };
      models::Batch b{take(all_.input_ids, T),    take(all_.token_type_ids, T), take(all_.text_mask, T),
                      take(all_.visual_feats, R), take(all_.visual_pos, R),     take(all_.region_mask, R)};
      return {b, labels_.index_select(0, idx)};
    }
    std::vector<const data::Sample*> ptrs;
    for (int64_t i : indices) ptrs.push_back(&samples_[static_cast<size_t>(i)]);
    run::BuiltBatch built = builder_.build(ptrs, answers_);
    return {std::move(built.batch), std::move(built.labels)};
  }

 private:
  const run::BatchBuilder& builder_;
  const std::vector<data::Sample>& samples_;
  int64_t answers_;
  bool cache_;
  models::Batch all_;
  at::Tensor labels_;
  std::vector<int64_t> text_len_, regions_;
};

double evaluate(const models::VqaModel& model, const ExampleSource& source, int64_t n, int64_t batch_size) {
  at::NoGradGuard no_grad;
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < std::min(n, begin + batch_size); ++i) idx.push_back(i);
    auto [batch, labels] = source.get(idx);
    at::Tensor pred = model.forward(batch, {}).logits.argmax(1);
    total += labels.gather(1, pred.unsqueeze(1)).sum().item<double>();
  }
  return 100.0 * total / static_cast<double>(n);
}

int64_t estimate_bytes(const std::vector<data::Sample>& samples, const models::VqaModel& model,
                       const TrainOptions& o, int64_t regions) {
  const int64_t per = regions * (model.visual_feat_dim() + 4) * 4 + o.max_text_tokens * 8 * 3 + model.num_answers() * 4 +
                      1024;  // tensor headers
  return per * static_cast<int64_t>(samples.size());
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": file not found");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": malformed JSON (" + std::string(e.what()) + ")");
  }
}

void copy_file(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to) && fs::equivalent(from, to, ec)) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw RuntimeFailure("cannot copy " + from + " to " + to + " (" + ec.message() + ")");
}

}  // namespace

void TrainOptions::check() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw UserError("training: " + what);
  };
  need(epochs >= 1, "--epochs must be at least 1");
  need(batch_size >= 1, "--batch-size must be at least 1");
  need(std::isfinite(lr) && lr > 0, "--lr must be a positive number");
  need(weight_decay >= 0, "weight decay must be >= 0");
  need(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "Adam betas must be in [0, 1)");
  need(adam_eps > 0, "Adam epsilon must be positive");
  need(warmup_fraction >= 0 && warmup_fraction < 1, "warm-up fraction must be in [0, 1)");
  need(clip_norm >= 0, "gradient clipping norm must be >= 0");
  need(threads >= 0, "--threads must be >= 0");
  need(max_text_tokens >= 3, "--max-text-tokens must be at least 3");
  need(max_regions >= 0, "--max-regions must be >= 0");
  need(eval_batch_size >= 1, "evaluation batch size must be at least 1");
}

double evaluate_accuracy(const models::VqaModel& model, const run::BatchBuilder& builder,
                         const std::vector<data::Sample>& samples, int64_t answers, int64_t batch_size) {
  if (samples.empty()) throw UserError("evaluation: no samples");
  ExampleSource source(builder, samples, answers, false);
  return evaluate(model, source, static_cast<int64_t>(samples.size()), batch_size);
}

MajorityBaseline majority_baseline(const std::vector<data::Sample>& train, const std::vector<data::Sample>& valid,
                                   const data::AnswerVocab& vocab) {
  std::vector<double> mass(static_cast<size_t>(vocab.size()), 0.0);
  for (const auto& s : train)
    for (const auto& [index, score] : s.label_ids) mass[static_cast<size_t>(index)] += score;
  MajorityBaseline b;
  b.index = std::max_element(mass.begin(), mass.end()) - mass.begin();  // first of equals: deterministic
  b.answer = vocab.answer(b.index);
  double total = 0;
  for (const auto& s : valid) total += s.score(b.answer);
  b.valid_accuracy = valid.empty() ? 0.0 : 100.0 * total / static_cast<double>(valid.size());
  return b;
}

TrainReport train_model(models::VqaModel& model, const run::BatchBuilder& builder,
                        const std::vector<data::Sample>& train, const std::vector<data::Sample>& valid,
                        const TrainOptions& o, const EpochCallback& on_epoch) {
  o.check();
  if (train.empty()) throw UserError("training: no training questions");
  if (valid.empty()) throw UserError("training: no validation questions");
  if (o.threads > 0) at::set_num_threads(o.threads);
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t answers = model.num_answers();
  const int64_t N = static_cast<int64_t>(train.size()), V = static_cast<int64_t>(valid.size());
  const int64_t regions = o.max_regions > 0 ? o.max_regions : model.input_spec().default_regions;
  const bool cache = o.cache_limit_bytes > 0 && estimate_bytes(train, model, o, regions) +
                                                        estimate_bytes(valid, model, o, regions) <=
                                                    o.cache_limit_bytes;
  ExampleSource train_src(builder, train, answers, cache);
  ExampleSource valid_src(builder, valid, answers, cache);
  spdlog::info("training {} on {} questions, validating on {} ({} answers; examples {})",
               model.name(), N, V, answers, cache ? "cached in memory" : "read per batch");

  // Parameters and AdamW state, in the map's (name) order.
  struct Param {
    at::Tensor p, m, v;
    bool decay;
  };
  std::vector<Param> params;
  for (const auto& [name, t] : model.parameters()) {
    at::Tensor p = t;
    p.requires_grad_(true);
    params.push_back({p, at::zeros_like(p), at::zeros_like(p), p.dim() >= 2});
  }
  struct ResetGrad {  // parameters lose requires_grad however training ends
    std::vector<Param>& params;
    ~ResetGrad() {
      for (auto& q : params) {
        q.p.mutable_grad() = at::Tensor();
        q.p.requires_grad_(false);
      }
    }
  } reset{params};

  TrainReport report;
  report.train_samples = N;
  report.valid_samples = V;
  report.initial_valid_accuracy = evaluate(model, valid_src, V, o.eval_batch_size);
  const int64_t steps_per_epoch = (N + o.batch_size - 1) / o.batch_size;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  const int64_t warmup = static_cast<int64_t>(std::floor(o.warmup_fraction * static_cast<double>(total_steps)));
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    std::vector<int64_t> order(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) order[static_cast<size_t>(i)] = i;
    data::PythonRandom(static_cast<int64_t>((o.seed % 1000000007ULL) * 1000 + static_cast<uint64_t>(epoch)))
        .shuffle(order);
    double loss_sum = 0;
    for (int64_t begin = 0; begin < N; begin += o.batch_size) {
      std::vector<int64_t> idx(order.begin() + begin, order.begin() + std::min(N, begin + o.batch_size));
      auto [batch, labels] = train_src.get(idx);
      at::Tensor logits = model.forward(batch, {}).logits;
      at::Tensor loss = at::binary_cross_entropy_with_logits(logits, labels.to(logits.scalar_type()), {}, {},
                                                             at::Reduction::Mean) *
                        static_cast<double>(answers);
      for (auto& q : params) q.p.mutable_grad() = at::Tensor();
      loss.backward();
      loss_sum += loss.item<double>();
      ++step;

      at::NoGradGuard no_grad;
      double scale = 1.0;
      if (o.clip_norm > 0) {
        at::Tensor sq = at::zeros({}, params.front().p.options().requires_grad(false));
        for (auto& q : params)
          if (q.p.grad().defined()) sq += q.p.grad().pow(2).sum();
        const double norm = std::sqrt(sq.item<double>());
        if (std::isfinite(norm) && norm > o.clip_norm) scale = o.clip_norm / (norm + 1e-6);
      }
      const double lr = step <= warmup ? o.lr * static_cast<double>(step) / static_cast<double>(warmup)
                                       : o.lr * static_cast<double>(total_steps - step) /
                                             static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
      const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
      const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
      for (auto& q : params) {
        if (!q.p.grad().defined()) continue;  // unused in the forward (e.g. VisualBERT's pooler)
        at::Tensor g = scale == 1.0 ? q.p.grad() : q.p.grad() * scale;
        q.m.mul_(o.beta1).add_(g, 1.0 - o.beta1);
        q.v.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
        if (q.decay && o.weight_decay > 0) q.p.mul_(1.0 - lr * o.weight_decay);
        q.p.addcdiv_(q.m, (q.v / bc2).sqrt_().add_(o.adam_eps), -lr / bc1);
      }
    }
    EpochReport e;
    e.epoch = epoch;
    e.train_loss = loss_sum / static_cast<double>(steps_per_epoch);
    if (!std::isfinite(e.train_loss))
      throw RuntimeFailure("training diverged in epoch " + std::to_string(epoch) +
                           " (loss is not finite): lower --lr or raise the warm-up");
    e.valid_accuracy = evaluate(model, valid_src, V, o.eval_batch_size);
    e.seconds = seconds_since(t_epoch);
    spdlog::info("{} epoch {}/{}: train loss {:.4f}, valid accuracy {:.2f} ({:.1f} s)", model.name(),
                 epoch, o.epochs, e.train_loss, e.valid_accuracy, e.seconds);
    report.epochs.push_back(e);
    if (on_epoch) on_epoch(e);
  }
  report.steps = step;
  report.final_valid_accuracy = report.epochs.back().valid_accuracy;
  report.seconds = seconds_since(t_start);
  return report;
}

void save_checkpoint(const models::VqaModel& model, const std::string& config_path, const std::string& vocab_path,
                     const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw RuntimeFailure(out_dir + ": cannot create the folder (" + ec.message() + ")");
  copy_file(config_path, (fs::path(out_dir) / "config.json").string());
  copy_file(vocab_path, (fs::path(out_dir) / "vocab.txt").string());
  models::TensorMap params;
  for (const auto& [name, t] : model.parameters()) params.emplace(name, t.detach());
  models::write_safetensors((fs::path(out_dir) / "model.safetensors").string(), params, {{"format", "pt"}});
}

TrainReport run_training(const TrainJob& job, const EpochCallback& on_epoch) {
  job.options.check();
  if (job.out_dir.empty()) throw UserError("train: --out is required");
  const fs::path out(job.out_dir);
  if (fs::exists(out) && !job.overwrite)
    throw UserError(job.out_dir + ": already exists (pass --overwrite to replace it, or choose another --out)");
  for (const auto& [what, path] : std::vector<std::pair<std::string, std::string>>{
           {"--model-config", job.model_config}, {"--questions", job.questions}, {"--valid", job.valid},
           {job.images.empty() ? "--features" : "--image-processor", job.images.empty() ? job.features : job.image_processor},
           {"--vocab", job.vocab}})
    if (!fs::is_regular_file(path)) throw UserError(path + ": file not found (" + what + ")");
  if (!job.images.empty() && !fs::is_directory(job.images)) throw UserError(job.images + ": folder not found (--images)");

  // Inputs.
  const data::AnswerVocab vocab = data::AnswerVocab::load_dir(job.answers_dir);
  const data::WordPieceTokenizer tokenizer = data::WordPieceTokenizer::from_vocab_file(job.vocab);
  const nlohmann::json config = read_json(job.model_config);
  if (config.contains("vocab_size") && config["vocab_size"].is_number_integer() &&
      tokenizer.vocab_size() > config["vocab_size"].get<int64_t>())
    throw UserError(job.vocab + ": " + std::to_string(tokenizer.vocab_size()) + " tokens, but " + job.model_config +
                    " has vocab_size " + std::to_string(config["vocab_size"].get<int64_t>()) +
                    " (raise vocab_size to at least the vocabulary's size)");

  // The model, initialised from scratch in the staging folder.
  const std::string staging = job.out_dir + ".partial";
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) throw RuntimeFailure(staging + ": cannot create the folder (" + ec.message() + ")");
  struct RemoveStaging {  // a failed run leaves no half-written folder behind
    const std::string& dir;
    bool keep = false;
    ~RemoveStaging() {
      std::error_code ignored;
      if (!keep) fs::remove_all(dir, ignored);
    }
  } cleanup{staging};
  copy_file(job.model_config, (fs::path(staging) / "config.json").string());
  models::LoadOptions load;
  load.dtype = at::kFloat;
  load.init_from_scratch = true;
  load.init_seed = job.options.seed;
  std::unique_ptr<models::VqaModel> model = models::load_model(staging, load);
  // The images' source the model reads: region features, or pixels cut into patches.
  const int64_t patch = model->input_spec().patch_size;
  if ((patch > 0) != !job.images.empty())
    throw UserError(job.model_config + ": a " + model->name() + " model reads " +
                    (patch > 0 ? "image pixels: give --images and --image-processor" : "region features: give --features"));
  std::unique_ptr<data::ImageSource> store;
  int64_t max_regions = job.options.max_regions > 0 ? job.options.max_regions : model->input_spec().default_regions;
  if (patch > 0) {
    const data::ImageProcessorSettings settings = data::read_image_processor_config(job.image_processor);
    store = std::make_unique<data::ImageFolder>(job.images, settings, patch);
    max_regions = data::max_patches(settings, patch);  // every patch is kept
    copy_file(job.image_processor, (fs::path(staging) / "preprocessor_config.json").string());
  } else {
    store = std::make_unique<data::FeatureStore>(job.features);
  }
  if (model->num_answers() != vocab.size())
    throw UserError(job.model_config + ": the model has " + std::to_string(model->num_answers()) + " answers but " +
                    job.answers_dir + " lists " + std::to_string(vocab.size()) +
                    " (set num_qa_labels / num_labels to the answer vocabulary's size)");

  data::SampleOptions all;
  all.selection.mode = data::Selection::all;
  const data::SampleList train = data::make_sample_list(data::load_lxmert_questions(job.questions, vocab), all, store.get());
  const data::SampleList valid = data::make_sample_list(data::load_lxmert_questions(job.valid, vocab), all, store.get());
  run::BatchBuilderOptions bo;
  bo.max_text_tokens = job.options.max_text_tokens;
  bo.max_regions = max_regions;
  const run::BatchBuilder builder(*model, tokenizer, *store, bo);

  TrainReport report = train_model(*model, builder, train.samples, valid.samples, job.options, on_epoch);
  report.majority = majority_baseline(train.samples, valid.samples, vocab);
  spdlog::info("{}: valid accuracy {:.2f} vs majority answer '{}' {:.2f} ({:.1f} s)", model->name(),
               report.final_valid_accuracy, report.majority.answer, report.majority.valid_accuracy, report.seconds);

  save_checkpoint(*model, (fs::path(staging) / "config.json").string(), job.vocab, staging);
  const TrainOptions& o = job.options;
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : report.epochs)
    epochs.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"valid_accuracy", e.valid_accuracy},
                      {"seconds", e.seconds}});
  nlohmann::json info = {
      {"format", "headprune-training"},
      {"inputs",
       {{"model_config", job.model_config}, {"questions", job.questions}, {"valid", job.valid},
        {"features", job.features}, {"images", job.images}, {"image_processor", job.image_processor},
        {"vocab", job.vocab}, {"answers_dir", job.answers_dir}}},
      {"options",
       {{"epochs", o.epochs}, {"batch_size", o.batch_size}, {"lr", o.lr}, {"weight_decay", o.weight_decay},
        {"beta1", o.beta1}, {"beta2", o.beta2}, {"adam_eps", o.adam_eps}, {"warmup_fraction", o.warmup_fraction},
        {"clip_norm", o.clip_norm}, {"seed", o.seed}, {"threads", at::get_num_threads()},
        {"max_text_tokens", o.max_text_tokens}, {"max_regions", bo.max_regions}}},
      {"train_questions", report.train_samples},
      {"valid_questions", report.valid_samples},
      {"steps", report.steps},
      {"epochs", epochs},
      {"initial_valid_accuracy", report.initial_valid_accuracy},
      {"final_valid_accuracy", report.final_valid_accuracy},
      {"majority_answer", report.majority.answer},
      {"majority_valid_accuracy", report.majority.valid_accuracy},
      {"seconds", report.seconds},
      {"metadata", job.metadata}};
  {
    const std::string path = (fs::path(staging) / "training.json").string();
    std::ofstream f(path, std::ios::trunc);
    f << info.dump(1) << "\n";
    if (!f.flush()) throw RuntimeFailure(path + ": write failed (disk full?)");
  }
  if (fs::exists(out)) {
    fs::remove_all(out, ec);
    if (ec) throw RuntimeFailure(job.out_dir + ": cannot replace it (" + ec.message() + ")");
  }
  fs::rename(staging, out, ec);
  if (ec) throw RuntimeFailure("cannot rename " + staging + " to " + job.out_dir + " (" + ec.message() + ")");
  cleanup.keep = true;
  return report;
}

}  // namespace headprune::demo
