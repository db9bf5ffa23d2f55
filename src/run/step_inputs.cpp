// Step 3 of `headprune run`: the inputs on every rank (run/inputs.hpp, the loader `visualize`
// shares), the sample selection, and on rank 0 the run identity and the partial folder.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/common/sha256.hpp"
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
  std::string text = defining_yaml + "\nweights " + weights_sha256 + "\nquestions " + questions_sha256 +
                     "\ntokenizer " + sha256_file(tokenizer_vocab) + "\nanswers " + answers_sha256;
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
    ctx.list = data::make_sample_list(ctx.in.questions, sample_options(ctx.cfg), ctx.in.store.get());
    if (ctx.root) {
      ctx.weights_sha256 = sha256_file(ctx.in.model->source().weights_path);
      ctx.questions_sha256 = sha256_file(ctx.cfg.data.questions);
      ctx.features_sha256 = sha256_hex(join(ctx.in.store->image_ids(), "\n"));
      ctx.identity = run_identity(ctx.defining, ctx.weights_sha256, ctx.questions_sha256,
                                  ctx.cfg.data.annotations.value_or(""), ctx.in.tokenizer_vocab, ctx.in.answers_sha256,
                                  ctx.cfg.data.features, ctx.features_sha256);
    }
  });
  comm.broadcast_bytes(ctx.identity, 0);
  const std::string error = ctx.root && ctx.make_partial ? make_partial_folder(ctx) : "";
  agree_on_error(comm, error);
  // Logged once the inputs have loaded, so that an input error is the last thing on screen.
  if (ctx.root) spdlog::info("resolved config ({} rank(s)):\n{}", comm.size(), ctx.yaml);
}

}  // namespace headprune::run
