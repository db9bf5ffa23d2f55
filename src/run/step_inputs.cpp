// Step 3 of `headprune run`: the inputs on every rank (run/inputs.hpp, the loader `visualize`
// shares), the sample selection, and on rank 0 the run identity and the partial folder.
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/prune/per_sample.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
namespace {

data::SampleOptions sample_options(const config::Config& cfg) {
  data::SampleOptions so;
  so.selection.mode = cfg.data.selection;
  so.selection.num_samples =
      cfg.data.selection == data::Selection::all || cfg.data.selection == data::Selection::list ? -1
                                                                                                : cfg.data.num_samples;
  so.selection.list_file = cfg.data.selection_file.value_or("");
  so.selection.seed = cfg.data.selection_seed;
  so.exclude_images = cfg.data.exclude_images.value_or("");
  so.on_missing = cfg.data.on_missing;
  return so;
}

// prune.modalities may only name module kinds the model has (a curve pruning nothing is no curve).
void check_modalities(const config::Config& cfg, const models::VqaModel& model) {
  std::vector<std::string> has;
  for (const auto& m : model.attention_modules()) {
    const std::string k = prune::module_kind_name(prune::module_kind(m));
    if (std::find(has.begin(), has.end(), k) == has.end()) has.push_back(k);
  }
  for (auto kind : cfg.prune.modalities) {
    const std::string k = prune::module_kind_name(kind);
    if (kind != prune::ModuleKind::all && std::find(has.begin(), has.end(), k) == has.end())
      throw UserError("prune.modalities: '" + k + "': the " + model.name() + " model has no " + k +
                      " attention modules (it has: " + join(has, ", ") + ")");
  }
}

// prune.global_fit: half: the samples ordered by a hash of (seed, selection position), the first
// floor(N / 2) of that order fit the global ranking. Every rank computes the same split from the
// sample list alone (no communication), and it does not depend on the rank count.
at::Tensor global_fit_half(int64_t n, uint64_t seed) {
  std::vector<std::pair<uint64_t, int64_t>> order;
  for (int64_t i = 0; i < n; ++i) order.emplace_back(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(i))), i);
  std::sort(order.begin(), order.end());
  std::vector<uint8_t> fit(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n / 2; ++i) fit[static_cast<size_t>(order[static_cast<size_t>(i)].second)] = 1;
  return at::tensor(at::ArrayRef<uint8_t>(fit), at::kByte);
}

// Rank 0 makes (or remakes) the partial folder with its config.yaml.
std::string make_partial_folder(Context& ctx) {
  try {
    fs::create_directories(ctx.partial);
    ctx.created_partial = ctx.partial;
    std::ofstream out(ctx.partial + "/config.yaml");
    out << ctx.defining;
    out.close();
    if (!out) return ctx.partial + "/config.yaml: cannot write (disk full or no permission?)";
  } catch (const fs::filesystem_error& e) {
    return std::string(e.what());
  }
  return "";
}

}  // namespace

std::string run_identity(const std::string& defining_yaml, const std::string& weights_sha256,
                         const std::string& questions_sha256, const std::string& annotations_path,
                         const std::string& tokenizer_vocab, const std::string& answers_sha256,
                         const std::string& features_path, const std::string& features_sha256) {
  // How the per-sample protocol groups its masked forwards decides which rows share a product
  // (last bits) and what a samples_x_ratios unit holds: a checkpoint of another grouping is not ours.
  std::string text = defining_yaml + "\nmasked forward rows " + std::to_string(prune::kForwardRows) + "\nweights " +
                     weights_sha256 + "\nquestions " + questions_sha256 + "\ntokenizer " + sha256_file(tokenizer_vocab) +
                     "\nanswers " + answers_sha256;
  if (!annotations_path.empty()) text += "\nannotations " + sha256_file(annotations_path);
  std::error_code ec;
  const auto size = fs::file_size(features_path, ec);
  const auto mtime = fs::last_write_time(features_path, ec).time_since_epoch().count();
  text += "\nfeatures " + features_sha256 + " " + std::to_string(size) + " " +
          std::to_string(mtime);
  return sha256_hex(text);
}

void load_run_inputs(Context& ctx) {
  dist::Communicator& comm = *ctx.comm;
  on_every_rank(comm, [&] {
    ctx.in = load_inputs(ctx.cfg, ctx.session->local_rank(), "rank " + std::to_string(comm.rank()));
    ctx.list = data::make_sample_list(ctx.in.questions, sample_options(ctx.cfg), ctx.in.images.get());
    check_modalities(ctx.cfg, *ctx.in.model);
    if (ctx.cfg.prune.global_fit == config::GlobalFit::half && ctx.list.samples.size() < 2)
      throw UserError("prune.global_fit: half: needs at least 2 samples to fit on one half and measure on the other (" +
                      std::to_string(ctx.list.samples.size()) + " selected)");
    if (ctx.cfg.prune.global_fit == config::GlobalFit::half)
      ctx.global_fit = global_fit_half(static_cast<int64_t>(ctx.list.samples.size()), static_cast<uint64_t>(ctx.cfg.seed));
    if (ctx.root) {
      ctx.weights_sha256 = sha256_file(ctx.in.model->source().weights_path);
      ctx.questions_sha256 = sha256_file(ctx.cfg.data.questions);
      ctx.features_sha256 = sha256_hex(join(ctx.in.images->image_ids(), "\n") + ctx.in.images_settings);
      ctx.identity = run_identity(ctx.defining, ctx.weights_sha256, ctx.questions_sha256,
                                  ctx.cfg.data.annotations.value_or(""), ctx.in.tokenizer_vocab, ctx.in.answers_sha256,
                                  ctx.in.images->path(), ctx.features_sha256);
    }
  });
  comm.broadcast_bytes(ctx.identity, 0);
  const std::string error = ctx.root && ctx.make_partial ? make_partial_folder(ctx) : "";
  agree_on_error(comm, error);
  // Logged once the inputs have loaded, so that an input error is the last thing on screen.
  if (ctx.root) spdlog::info("resolved config ({} rank(s)):\n{}", comm.size(), ctx.yaml);
}

}  // namespace headprune::run
