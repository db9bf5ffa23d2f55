// Latency of physically pruned models (issue 20): one forward (no scoring, no masks) of a dense
// model and of the same model with a share of its heads removed (models/export.hpp), per batch
// size, after one warm-up forward, as the median of `reps` timed forwards (dense and pruned alternate). Ratio r removes the
// round(r x heads) lowest-ranked heads of one fixed random ranking (seed 11) of all scored heads,
// the global protocol's way; modules that lose every head are removed. Not a test: it measures.
#include "app/cmd_bench_latency.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "headprune/common/error.hpp"
#include "headprune/models/batch.hpp"
#include "headprune/models/export.hpp"
#include "headprune/models/families.hpp"
#include "headprune/models/model.hpp"

namespace headprune::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void sync(const at::Tensor& t) {
  if (t.is_cuda()) t.sum().item<double>();
}

// A batch of `b` random questions of `tokens` tokens and images of the model's default region count.
models::Batch random_batch(const models::VqaModel& model, int64_t b, int64_t tokens, const LatencyOptions& o) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const int64_t regions = model.input_spec().default_regions;
  models::Batch batch;
  batch.input_ids = at::randint(5, std::min<int64_t>(model.vocab_size(), 30000), {b, tokens}, gen, at::kLong);
  batch.input_ids.select(1, 0).fill_(101);
  batch.input_ids.select(1, tokens - 1).fill_(102);
  batch.token_type_ids = at::zeros({b, tokens}, at::kLong);
  batch.text_mask = at::ones({b, tokens}, at::kLong);
  batch.visual_feats = at::relu(at::normal(0, 1, {b, regions, model.visual_feat_dim()}, gen)).to(o.dtype);
  batch.visual_pos = models::synthetic_visual_pos(model, b, regions, gen);
  if (batch.visual_pos.defined()) batch.visual_pos = batch.visual_pos.to(o.dtype);
  return models::to_device(batch, model.device());
}

double median(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return t.size() % 2 ? t[t.size() / 2] : (t[t.size() / 2 - 1] + t[t.size() / 2]) / 2;
}

// Median seconds of one forward of `dense` and of `pruned` on `batch`, after one warm-up forward
// each. The two alternate (dense, pruned, dense, ...) so that a change of the machine's load
// during the measurement affects both alike.
std::pair<double, double> median_forwards(const models::VqaModel& dense, const models::VqaModel& pruned,
                                          const models::Batch& batch, int reps) {
  at::NoGradGuard ng;
  sync(dense.forward(batch, {}).logits);
  sync(pruned.forward(batch, {}).logits);
  std::vector<double> td, tp;
  for (int i = 0; i < reps; ++i)
    for (auto [model, times] : {std::pair{&dense, &td}, std::pair{&pruned, &tp}}) {
      auto start = Clock::now();
      sync(model->forward(batch, {}).logits);
      times->push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
  return {median(td), median(tp)};
}

struct Row {
  std::string model;
  double ratio;
  int64_t kept, total, removed_modules, batch;
  double dense_s, pruned_s;
};

void print_row(const Row& r, std::ofstream* csv) {
  std::printf("  %5.0f%%  %4lld/%-4lld %4lld  %5lld  %10.2f  %10.2f  %7.2fx\n", 100 * r.ratio, (long long)r.kept,
              (long long)r.total, (long long)r.removed_modules, (long long)r.batch, 1e3 * r.dense_s, 1e3 * r.pruned_s,
              r.dense_s / r.pruned_s);
  if (csv)
    *csv << r.model << "," << r.ratio << "," << r.kept << "," << r.total << "," << r.removed_modules << "," << r.batch
         << "," << 1e3 * r.dense_s << "," << 1e3 * r.pruned_s << "\n";
}

void print_header(const std::string& what) {
  std::printf("\n%s\n    ratio  heads kept  rm  batch   dense ms   pruned ms  speed-up\n", what.c_str());
}

// Keep mask [M, H] removing the round(ratio x M x H) lowest-ranked heads of `order` (ascending scores).
at::Tensor keep_mask(const at::Tensor& order, int64_t M, int64_t H, double ratio) {
  const int64_t n = static_cast<int64_t>(std::llround(ratio * static_cast<double>(M * H)));
  at::Tensor keep = at::ones({M * H}, at::kLong);
  if (n > 0) keep.index_fill_(0, order.slice(0, 0, n), 0);
  return keep.view({M, H});
}

void bench_family(const std::string& family_name, const LatencyOptions& o, std::ofstream* csv) {
  const models::FamilyInfo& family = models::find_family(family_name, "--models");
  const std::string dir = (fs::temp_directory_path() / ("headprune-latency-" + family_name)).string();
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << family.example_config(family.base);
  models::LoadOptions lo{o.dtype, true, ""};
  lo.device = o.device;
  lo.init_from_scratch = true;
  lo.init_seed = 1;
  auto dense = models::load_model(dir, lo);
  const int64_t M = dense->num_modules(), H = dense->heads();
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor order = at::argsort(at::rand({M * H}, gen));  // a fixed random ranking, lowest first
  print_header(family_name + " (full size, random weights), " + std::to_string(o.tokens) + " tokens, " +
               std::to_string(dense->input_spec().default_regions) + " regions, " + c10::toString(o.dtype) + " on " +
               o.device + "; median of " + std::to_string(o.reps) + " forwards after 1 warm-up");
  for (double ratio : o.ratios) {
    const models::PrunedModel pm = models::prune_model(*dense, keep_mask(order, M, H, ratio));
    auto pruned = models::load_pruned_model(*dense, pm, lo);
    for (int64_t b : o.batch_sizes) {
      const auto [td, tp] = median_forwards(*dense, *pruned, random_batch(*dense, b, o.tokens, o), o.reps);
      print_row({family_name, ratio, pm.heads_kept, pm.heads_total, static_cast<int64_t>(pm.removed_modules.size()), b,
                 td, tp},
                csv);
    }
  }
}

// An exported folder against the unpruned model its headprune_export.json names.
void bench_folder(const LatencyOptions& o, std::ofstream* csv) {
  const std::string prov_path = (fs::path(o.pruned) / "headprune_export.json").string();
  std::ifstream in(prov_path);
  if (!in) throw UserError(prov_path + ": not found (--pruned expects a folder written by headprune export)");
  const nlohmann::json prov = nlohmann::json::parse(in, nullptr, false);
  if (!prov.is_object() || !prov.contains("source_model") || !prov["source_model"].is_string())
    throw UserError(prov_path + ": source_model: expected the unpruned model's folder");
  models::LoadOptions lo{o.dtype, true, ""};
  lo.device = o.device;
  auto dense = models::load_model(prov["source_model"].get<std::string>(), lo);
  auto pruned = models::load_model(o.pruned, lo);
  int64_t kept = 0;
  for (const auto& m : pruned->attention_modules()) kept += m.heads;
  const int64_t total = dense->num_modules() * dense->heads();
  const int64_t removed = prov.contains("removed_modules") ? static_cast<int64_t>(prov["removed_modules"].size()) : 0;
  print_header(o.pruned + " against " + prov["source_model"].get<std::string>() + ", " + std::to_string(o.tokens) +
               " tokens; median of " + std::to_string(o.reps) + " forwards after 1 warm-up");
  for (int64_t b : o.batch_sizes) {
    const models::Batch batch = random_batch(*dense, b, o.tokens, o);
    const auto [td, tp] = median_forwards(*dense, *pruned, batch, o.reps);
    print_row({o.pruned, 1.0 - static_cast<double>(kept) / static_cast<double>(total), kept, total, removed, b, td, tp},
              csv);
  }
}

}  // namespace

void run_latency_bench(const LatencyOptions& o) {
  std::unique_ptr<std::ofstream> csv;
  if (!o.csv.empty()) {
    csv = std::make_unique<std::ofstream>(o.csv);
    if (!*csv) throw UserError(o.csv + ": cannot write");
    *csv << "model,ratio,heads_kept,heads_total,removed_modules,batch,dense_ms,pruned_ms\n";
  }
  if (!o.pruned.empty()) {
    bench_folder(o, csv.get());
    return;
  }
  for (const auto& f : o.families) bench_family(f, o, csv.get());
}

}  // namespace headprune::app
