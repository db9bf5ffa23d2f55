// `headprune bench`: figures for the scoring pass and the per-sample protocol on full-size
// random-weight models (LXMERT: hidden 768, 12 heads, 9/5/5 layers, 2048-d features, 36 regions;
// VisualBERT: 12 layers, 100 regions; 20 tokens), or on the demo's small models (--size small).
// Prints seconds per sample, the ratio of the batched protocol to the seed's one-forward-at-a-time
// loop measured in the same run (the median of --repeats alternating runs of each; the 'ours'
// protocol, and the 'lrp' protocol when --lrp), the
// matrix-product FLOPs each measurement actually ran (counted by models/matmul_counter.hpp during
// the timed run itself: backward included, skipped parts excluded) with the share of its time
// spent inside those products and their rate there - a fraction of the measurement's own time,
// so it cannot exceed 100 % -, the OpenBLAS kernel, peak memory, and each scoring method's cost
// per sample in plain forwards (measured, and as its registry row states it). Not a test: it
// asserts nothing, it measures.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/cmd_bench_latency.hpp"
#include "app/commands.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/explain/scores.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/families.hpp"
#include "headprune/models/matmul_counter.hpp"
#include "headprune/models/model.hpp"
#include "headprune/prune/per_sample.hpp"
#include "headprune/prune/protocol.hpp"

namespace headprune::app {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

std::string openblas_kernel() {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!fn) return "not OpenBLAS (openblas_get_corename not found: reference BLAS?)";
  auto cfg = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  return std::string(fn()) + (cfg ? std::string(" (") + cfg() + ")" : "");
}

// One benchmark model: a family's full-size configuration (models/families.hpp) and the input size.
struct Shape {
  std::string family;
  int64_t tokens = 20;
  bool small = false;  ///< the demo's small model instead of the published size
};

// Where and in what precision the bench runs.
struct Target {
  std::string device = "cpu";
  at::ScalarType dtype = at::kFloat;
  int batch = 8;
  bool costs = true;  // each scoring method's cost per sample
  int ig_steps = 2;   // attattr's steps in that measurement (its cost is linear in them)
  int repeats = 3;    // timed runs of each protocol line, alternating (the median is printed)
};

// Device work is asynchronous: reading one value back waits for everything queued before it.
void sync(const at::Tensor& t) {
  if (t.is_cuda()) t.sum().item<double>();
}

const models::ExampleSizes& sizes(const Shape& s) {
  const models::FamilyInfo& family = models::find_family(s.family, "--models");
  return s.small ? family.small : family.base;
}

std::unique_ptr<models::VqaModel> make_model(const Shape& s, const std::string& dir, const Target& target) {
  std::filesystem::create_directories(dir);
  const models::FamilyInfo& family = models::find_family(s.family, "--models");
  std::ofstream(dir + "/config.json") << family.example_config(sizes(s));
  models::LoadOptions lo{target.dtype, true, ""};
  lo.device = target.device;
  lo.init_from_scratch = true;
  lo.init_seed = 1;
  return models::load_model(dir, lo);
}

models::Batch random_sample(const models::VqaModel& model, int64_t tokens, int64_t regions, at::Generator& gen) {
  models::Batch b;
  b.input_ids = at::randint(5, std::min<int64_t>(30000, model.vocab_size()), {1, tokens}, gen, at::kLong);
  b.input_ids[0][0] = 101;
  b.input_ids[0][tokens - 1] = 102;
  b.token_type_ids = at::zeros({1, tokens}, at::kLong);
  b.text_mask = at::ones({1, tokens}, at::kLong);
  b.visual_feats = at::relu(at::normal(0, 1, {1, regions, model.visual_feat_dim()}, gen)).to(at::kFloat);
  b.visual_pos = models::synthetic_visual_pos(model, 1, regions, gen);
  return b;
}


double matmul_gflops(int64_t m, int64_t k, int64_t n, const Target& target) {
  auto opts = at::TensorOptions().dtype(target.dtype).device(at::Device(target.device));
  at::Tensor a = at::randn({m, k}, opts), b = at::randn({k, n}, opts);
  sync(at::mm(a, b));  // warm up
  int reps = 0;
  auto t = Clock::now();
  at::Tensor c;
  while (seconds_since(t) < 1.0 || reps < 3) {
    c = at::mm(a, b);
    if (c.is_cuda()) for (int i = 0; i < 9; ++i, ++reps) c = at::mm(a, b);
    sync(c);
    ++reps;
  }
  return 2.0 * m * k * n * reps / seconds_since(t) / 1e9;
}

// One timed measurement: wall seconds per sample, and the matrix products that ran in it
// (counted during the timed run itself; the observer costs a few microseconds per operator).
struct Measured {
  double seconds = 0;          ///< per sample
  double flops = 0;            ///< matrix-product FLOPs per sample
  double product_seconds = 0;  ///< per sample, inside those products
};

template <class Fn>
Measured measure(int samples, Fn fn) {
  models::MatmulCounter counter;
  auto t = Clock::now();
  fn();
  Measured m;
  m.seconds = seconds_since(t) / samples;
  m.flops = counter.flops() / samples;
  m.product_seconds = counter.seconds() / samples;
  return m;
}

// The run of median time (the upper middle one of an even count).
Measured median_run(std::vector<Measured> runs) {
  std::sort(runs.begin(), runs.end(), [](const Measured& a, const Measured& b) { return a.seconds < b.seconds; });
  return runs[runs.size() / 2];
}

// "9.86 GFLOP/sample; matrix products 71.3 % of the time, at 106.2 GFLOP/s": the share of the
// measurement's own time spent inside its products cannot exceed 100 %. On a GPU the products run
// asynchronously: only the FLOPs and the overall rate are meaningful.
std::string products(const Measured& m, const Target& target) {
  char buf[200];
  if (target.device == "cpu")
    std::snprintf(buf, sizeof buf, "%6.2f GFLOP/sample; matrix products %5.1f%% of the time, at %6.1f GFLOP/s",
                  m.flops / 1e9, 100 * m.product_seconds / m.seconds, m.flops / m.product_seconds / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%6.2f GFLOP/sample, %6.1f GFLOP/s overall", m.flops / 1e9, m.flops / m.seconds / 1e9);
  return buf;
}

void bench_model(const Shape& s, int samples, bool with_lrp, const std::vector<double>& ratios, const Target& target) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  auto model = make_model(s, (std::filesystem::temp_directory_path() / ("headprune-bench-" + s.family)).string(), target);
  const models::ExampleSizes& size = sizes(s);
  const int64_t regions = model->input_spec().default_regions;  // LXMERT 36, VisualBERT 100
  std::vector<models::Batch> singles;
  for (int i = 0; i < samples; ++i) {
    models::Batch b = models::to_device(random_sample(*model, s.tokens, regions, gen), model->device());
    b.visual_feats = b.visual_feats.to(target.dtype);
    if (b.visual_pos.defined()) b.visual_pos = b.visual_pos.to(target.dtype);
    singles.push_back(b);
  }
  const double flops = model->forward_flops(s.tokens, regions);
  std::printf("\n%s%s: hidden %lld, %lld heads, %lld attention modules scored, %lld tokens, %lld regions, %d samples\n",
              s.family.c_str(), s.small ? " (small)" : "", (long long)size.hidden, (long long)size.heads,
              (long long)model->num_modules(), (long long)s.tokens, (long long)regions, samples);
  std::printf("  forward FLOPs (matrix products) per sample: %.2f GFLOP\n", flops / 1e9);
  // For reference: the matrix-product rate at the model's FFN shape, for the rows of one sample
  // (what one-at-a-time forwards multiply) and of one batched masked forward (one ratio's rows).
  const int batch = std::min(samples, target.batch);
  const int64_t rows1 = s.tokens + regions, rowsB = rows1 * batch;
  const double rate = matmul_gflops(rows1, size.hidden, size.intermediate, target);
  const double rate_batched = matmul_gflops(rowsB, size.hidden, size.intermediate, target);
  std::printf("  matrix-product rate measured now (%s on %s): [%lld x %lld] x [%lld x %lld] %.1f GFLOP/s, "
              "[%lld x %lld] x [%lld x %lld] %.1f GFLOP/s\n", c10::toString(target.dtype), target.device.c_str(),
              (long long)rows1, (long long)size.hidden, (long long)size.hidden, (long long)size.intermediate, rate,
              (long long)rowsB, (long long)size.hidden, (long long)size.hidden, (long long)size.intermediate, rate_batched);

  // Warm-up.
  {
    at::NoGradGuard ng;
    sync(model->forward(singles[0], {}).logits);
  }
  auto each_sample = [&](int n, auto fn) {
    return measure(n, [&] {
      for (int i = 0; i < n; ++i) fn(i);
    });
  };
  const Measured fwd = each_sample(samples, [&](int i) {
    at::NoGradGuard ng;
    sync(model->forward(singles[static_cast<size_t>(i)], {}).logits);
  });
  explain::ScoringOptions ours;
  const Measured score = each_sample(samples, [&](int i) {
    sync(explain::score_batch(*model, singles[static_cast<size_t>(i)], ours, {}, {i}).logits);
  });
  std::printf("  plain forward              %8.3f s/sample  (%s)\n", fwd.seconds, products(fwd, target).c_str());
  // The backward needs input gradients only (weights never require grad): about one more forward.
  std::printf("  scoring 'ours' (fwd + bwd) %8.3f s/sample  = %.2f x a plain forward  (%s)\n", score.seconds,
              score.seconds / fwd.seconds, products(score, target).c_str());
  if (with_lrp) {
    explain::ScoringOptions both;
    both.methods = {"ours", "lrp"};
    const int n = std::max(1, samples / 4);
    const Measured m = each_sample(n, [&](int i) {
      sync(explain::score_batch(*model, singles[static_cast<size_t>(i)], both, {}, {i}).logits);
    });
    std::printf("  scoring 'ours' + 'lrp'     %8.3f s/sample  (%d samples; %s)\n", m.seconds, n, products(m, target).c_str());
  }
  std::printf("  peak memory so far: %.0f MB\n", peak_rss_mb());

  // The per-sample protocol of a scoring method: score + one masked forward per pruned ratio,
  // (a) the seed's loop: one sample, one forward at a time; (b) batched: the batch is scored at
  // once and its masked forwards run as the job's per-sample protocol does (prune/per_sample.hpp:
  // one batched forward per group of ratios), ratio 0 from the scoring forward.
  const auto rule = prune::seed_count_rule(*model);
  std::vector<double> pruned(ratios.begin() + 1, ratios.end());
  const prune::PerSampleProtocol seed_loop(pruned, rule);  // its masks; its forwards run one at a time below
  // The job's protocol for a run of batch_size `batch` and one combo (run/phase_scoring.cpp).
  const int64_t per_forward = prune::ratios_per_forward(batch);
  const prune::PerSampleProtocol protocol(ratios, rule, per_forward);
  const int64_t M = model->num_modules(), H = model->heads();
  auto run_protocol = [&](const std::string& method, int n) {
    explain::ScoringOptions opts;
    opts.methods = {method};
    auto one_at_a_time = [&] {
      return each_sample(n, [&](int i) {
        const auto& b = singles[static_cast<size_t>(i)];
        auto scored = explain::score_batch(*model, b, opts, {}, {i});
        at::Tensor masks = seed_loop.masks(scored.scores[method].head, prune::Granularity::head, prune::Sign::positive);
        at::NoGradGuard ng;
        for (size_t k = 0; k < pruned.size(); ++k) {
          models::ForwardOptions fo;
          fo.keep = masks[0][static_cast<int64_t>(k)].unsqueeze(0).to(model->device(), target.dtype);
          sync(model->forward(b, fo).logits);
        }
      });
    };
    const int nb = std::min(n, batch);
    auto batched_protocol = [&] {
      return measure(n, [&] {
        for (int begin = 0; begin < n; begin += nb) {
          std::vector<models::Batch> part(singles.begin() + begin, singles.begin() + std::min(n, begin + nb));
          models::Batch b = models::collate(part);
          std::vector<int64_t> idx(part.size());
          auto scored = explain::score_batch(*model, b, opts, {}, idx);
          at::Tensor masks = protocol.masks(scored.scores[method].head, prune::Granularity::head, prune::Sign::positive);
          protocol.evaluate(*model, b, {{masks, prune::Granularity::head}}, scored.logits);
        }
      });
    };
    // The two lines alternate, `repeats` runs each, after one run of the batched protocol that is
    // not timed (its first forwards at the batch's shapes fault in fresh memory; the one-at-a-time
    // loop's shapes are warm from the lines above); each line prints its median run. One run of
    // each read 3.03x to 3.56x on the same quiet machine, so a single pair says little.
    batched_protocol();
    std::vector<Measured> ones, batcheds;
    for (int r = 0; r < target.repeats; ++r) {
      ones.push_back(one_at_a_time());
      batcheds.push_back(batched_protocol());
    }
    const Measured one = median_run(ones), batched = median_run(batcheds);
    std::printf("  protocol (score + %zu masked forwards; ratio 0 reuses the scoring forward), '%s', head, %d samples, median of %d runs:\n",
                pruned.size(), method.c_str(), n, target.repeats);
    std::printf("    one forward at a time (the seed's loop) %8.3f s/sample  (%s)\n", one.seconds, products(one, target).c_str());
    std::printf("    batched (batch %d, %zu ratios a forward)  %8.3f s/sample  (%s)  speed-up %.2fx\n", nb,
                static_cast<size_t>(prune::forward_groups(static_cast<int64_t>(pruned.size()), per_forward)[0].second),
                batched.seconds, products(batched, target).c_str(), one.seconds / batched.seconds);
    return std::make_pair(one, batched);
  };
  const auto [seed_ours, batched_ours] = run_protocol("ours", samples);
  std::printf("    %lld x %lld units; samples/s: batched %.2f, one forward at a time %.2f\n", (long long)M,
              (long long)H, 1 / batched_ours.seconds, 1 / seed_ours.seconds);
  // The LRP protocol: scores from the seed's relevance propagation (one relprop per sample).
  if (with_lrp) run_protocol("lrp", samples);
  std::printf("  peak memory (host RSS): %.0f MB\n", peak_rss_mb());

  // Each scoring method alone (the shared pass with only its needs), per sample, against plain
  // forwards of the same samples timed just before it (a shared machine's load drifts); the
  // per-sample passes (lrp, attattr) on one sample.
  if (!target.costs) return;
  std::printf("  cost per sample of each scoring method alone, in plain forwards (measured; stated):\n");
  for (const auto& method : explain::methods()) {
    if (method.name == "lrp" && !with_lrp) continue;
    explain::ScoringOptions one;
    one.methods = {method.name};
    one.ig_steps = target.ig_steps;
    const bool heavy = method.needs == explain::Needs::lrp_per_sample || method.needs == explain::Needs::integrated_gradients;
    const int n = heavy ? 1 : std::min(samples, 4);
    // michel's loss needs soft labels: answer 0 fully right.
    at::Tensor labels = at::zeros({1, model->num_answers()}, at::TensorOptions().dtype(target.dtype).device(model->device()));
    labels[0][0] = 1;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      at::NoGradGuard ng;
      sync(model->forward(singles[static_cast<size_t>(i)], {}).logits);
    }
    const double t_ref = seconds_since(t0) / n;
    t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto scored = explain::score_batch(*model, singles[static_cast<size_t>(i)], one, labels, {i});
      sync(scored.logits);
    }
    const double t_method = seconds_since(t0) / n;
    std::printf("    %-10s %9.3f s/sample = %8.1f forwards  (stated: %s; M = %lld, S = %lld)\n", method.name.c_str(),
                t_method, t_method / t_ref, method.cost.c_str(), (long long)M, (long long)one.ig_steps);
  }
}

std::vector<std::string> family_names_list() {
  std::vector<std::string> out;
  for (const auto& f : models::families()) out.push_back(f.name);
  return out;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandTable& table) {
  struct Opts {
    std::vector<std::string> models = family_names_list();
    int samples = 8;
    int threads = 2;
    bool lrp = true;
    std::string device = "cpu";
    std::string dtype = "float32";
    int batch = 8;
    bool latency = false;  // the pruned-model latency mode (app/cmd_bench_latency.hpp)
    LatencyOptions latency_opts;
    bool costs = true;
    int ig_steps = 2;
    std::string size = "base";
    int repeats = 3;
  };
  auto opts = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("bench", "Measure the scoring pass and the pruning protocol on full-size random models");
  sub->add_option("--models", opts->models, "model families (" + models::family_names() + "; default all)")
      ->check(CLI::IsMember(family_names_list()));
  sub->add_option("--samples", opts->samples, "samples per measurement")->check(CLI::Range(1, 1000));
  sub->add_option("--threads", opts->threads, "LibTorch threads")->check(CLI::Range(1, 256));
  sub->add_option("--lrp", opts->lrp, "also time the LRP pass (true/false)");
  sub->add_option("--device", opts->device, "cpu, cuda or cuda:N");
  sub->add_option("--dtype", opts->dtype, "float32, bfloat16 or tf32 (float32 with TF32 matrix products)")
      ->check(CLI::IsMember({"float32", "bfloat16", "tf32"}));
  sub->add_option("--batch", opts->batch, "samples per batch in the batched protocol")->check(CLI::Range(1, 4096));
  sub->add_flag("--latency", opts->latency, "time dense vs physically pruned forwards instead (docs/export.md)");
  sub->add_option("--pruned", opts->latency_opts.pruned, "latency of this exported folder against its source model");
  sub->add_option("--batch-sizes", opts->latency_opts.batch_sizes, "latency: batch sizes (default 1 8 32 64)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--ratios", opts->latency_opts.ratios, "latency: shares of heads removed (default 0 0.1 .. 0.9)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--reps", opts->latency_opts.reps, "latency: timed forwards per cell (median)")->check(CLI::Range(1, 1000));
  sub->add_option("--csv", opts->latency_opts.csv, "latency: also write the table as CSV (analysis/plot_latency.py)");
  sub->add_option("--costs", opts->costs, "also time each scoring method alone (true/false)");
  sub->add_option("--size", opts->size, "base (the published size, default) or small (the demo's model: a quick check)")
      ->check(CLI::IsMember({"base", "small"}));
  sub->add_option("--repeats", opts->repeats, "timed runs of each protocol line, alternating; the median is printed")
      ->check(CLI::Range(1, 100));
  sub->add_option("--ig-steps", opts->ig_steps, "attattr's steps in that timing (cost is linear in them)")
      ->check(CLI::Range(1, 1000));
  table.entries.emplace_back(sub, [opts] {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured, also into a file
    at::set_num_threads(opts->threads);
    std::printf("headprune bench: %d thread(s); BLAS: %s\n", at::get_num_threads(), openblas_kernel().c_str());
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    std::printf("OPENBLAS_CORETYPE=%s\n", core ? core : "(unset)");
    const std::vector<double> ratios{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    Target target{opts->device, opts->dtype == "bfloat16" ? at::kBFloat16 : at::kFloat, opts->batch, opts->costs,
                  opts->ig_steps, opts->repeats};
    at::globalContext().setAllowTF32CuBLAS(opts->dtype == "tf32");
    std::printf("device %s, %s\n", opts->device.c_str(), opts->dtype.c_str());
    if (opts->latency || !opts->latency_opts.pruned.empty()) {
      LatencyOptions lo = opts->latency_opts;
      lo.families = opts->models;
      lo.device = target.device;
      lo.dtype = target.dtype;
      run_latency_bench(lo);
      return 0;
    }
    for (const auto& m : opts->models) {
      Shape s;
      s.family = m;
      s.small = opts->size == "small";
      bench_model(s, opts->samples, opts->lrp, ratios, target);
    }
    return 0;
  });
}

}  // namespace headprune::app
