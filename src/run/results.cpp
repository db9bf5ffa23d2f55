// Step 9 of `headprune run`: rank 0 assembles the per-sample arrays in sample order, adds the
// rankings and curves with their reduced accuracies (reduce.cpp) and the provenance, writes the results file (io/results_file.hpp:
// complete or absent) and removes the partial results. Layout: docs/results-format.md.
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "headprune/common/build_info.hpp"
#include "headprune/io/results_file.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
namespace {

// One curve group: the ratios, each sample's label score and answer at every ratio, and the
// accuracy from the exact sum of tenths: tenths / 10 / N * 100, rounded once.
void add_curve(io::Experiment& exp, const std::string& base, const at::Tensor& ratios, const at::Tensor& label,
               const at::Tensor& pred, const at::Tensor& tenths, int64_t samples) {
  exp.datasets[base + "/ratios"] = ratios;
  exp.datasets[base + "/label_score"] = label;
  exp.datasets[base + "/pred_index"] = pred;
  exp.datasets[base + "/accuracy_x100"] = tenths.to(at::kDouble) * 10.0 / static_cast<double>(samples);
}

// The global protocol's [N, ratios] array of one combo from its (ratio, batch) cells.
at::Tensor assemble_cells(const Context& ctx, const std::string& combo, const std::string& name) {
  const int64_t S = static_cast<int64_t>(ctx.cfg.prune.ratios.size()), nb = ctx.plan.num_batches();
  std::vector<at::Tensor> columns;
  for (int64_t k = 0; k < S; ++k) {
    std::vector<at::Tensor> rows;
    for (int64_t b = 0; b < nb; ++b)
      rows.push_back(ctx.done.at("c" + std::to_string(k) + "_" + std::to_string(b) + "/" + combo + "/" + name));
    columns.push_back(at::cat(rows));
  }
  return at::stack(columns, 1);
}

}  // namespace

void write_results(Context& ctx, const Rankings& rankings, const Accuracies& accuracies,
                   const io::TensorBundle& global_masks) {
  const int64_t N = static_cast<int64_t>(ctx.samples().size());
  io::Experiment exp;
  exp.name = ctx.cfg.name;
  for (const auto& [mg, ranking] : rankings) {
    exp.datasets["scores/" + mg] = assemble(ctx, "scores/" + mg);
    exp.datasets["ranking/" + mg + "/mean"] = ranking.mean;
    exp.datasets["ranking/" + mg + "/std"] = ranking.std;
    exp.datasets["ranking/" + mg + "/order"] = ranking.order;
  }
  const at::Tensor ratios = at::tensor(ctx.cfg.prune.ratios, at::kDouble);
  exp.datasets["meta/ratios"] = ratios;
  exp.datasets["samples/target"] = assemble(ctx, "target");
  exp.datasets["samples/unpruned_pred"] = assemble(ctx, "unpruned_pred");
  exp.datasets["samples/unpruned_score"] = assemble(ctx, "unpruned_score");
  std::vector<std::string> qid, img, answer_type;
  for (const auto& s : ctx.samples()) {
    qid.push_back(s.question_id);
    img.push_back(s.img_id);
    answer_type.push_back(s.answer_type);
  }
  exp.strings["samples/question_id"] = qid;
  exp.strings["samples/img_id"] = img;
  // The VQA answer type, where the question file carries it: the report breaks accuracy down by it.
  if (std::any_of(answer_type.begin(), answer_type.end(), [](const std::string& t) { return !t.empty(); }))
    exp.strings["samples/answer_type"] = answer_type;
  exp.datasets["samples/selection_index"] =
      at::tensor(std::vector<int64_t>(ctx.list.file_index.begin(), ctx.list.file_index.end()), at::kLong);
  std::vector<std::string> names, modality;
  for (const auto& m : ctx.in.model->attention_modules()) {
    names.push_back(m.name);
    modality.push_back(m.modality == models::Modality::text ? "text" : "image");
  }
  exp.strings["meta/module_names"] = names;
  exp.strings["meta/module_modality"] = modality;
  exp.strings["meta/answers"] = ctx.in.vocab->answers();
  const std::string zero =
      zero_accuracy_warning(N, exp.datasets["samples/unpruned_score"].sum().item<double>(), ctx.in.answers_source);
  if (!zero.empty()) spdlog::warn("{}", zero);

  for (const auto& c : ctx.combos) {
    if (ctx.runs(config::Protocol::per_sample)) {
      const std::string base = "curves/per_sample/" + c.path();
      add_curve(exp, base, ratios, assemble(ctx, base + "/label_score"), assemble(ctx, base + "/pred_index"),
                accuracies.at(base), N);
    }
    if (ctx.runs(config::Protocol::global)) {
      const std::string base = "curves/global/" + c.path();
      add_curve(exp, base, ratios, assemble_cells(ctx, c.path(), "label_score"), assemble_cells(ctx, c.path(), "pred_index"),
                accuracies.at(base), N);
      exp.datasets[base + "/keep_mask"] = global_masks.at(c.path());
    }
  }

  const BuildInfo& bi = build_info();
  exp.meta_text = {{"config_yaml", ctx.yaml},
                   {"tool_version", bi.version},
                   {"git_commit", bi.git_commit},
                   {"library_versions", library_versions()},
                   {"model_family", ctx.in.model->name()},
                   {"weights_sha256", ctx.weights_sha256},
                   {"answers_source", ctx.in.answers_source},
                   {"answers_sha256", ctx.in.answers_sha256},
                   {"questions_sha256", ctx.questions_sha256},
                   {"features_sha256", ctx.features_sha256},
                   {"hosts", join(ctx.session->host_names(), "\n")},
                   {"device", config::to_string(ctx.cfg.device)},
                   {"reductions", "exact: accuracies as int64 tenths, rankings as int64 fixed point (" +
                                      ctx.comm->backend() + ")"},
                   {"start_time", ctx.start_time},
                   {"end_time", utc_now()}};
  exp.meta_int = {{"ranks", ctx.comm->size()},
                  {"threads_per_rank", ctx.threads},
                  {"max_text_tokens", ctx.in.text_tokens},
                  {"questions_available", ctx.list.available},
                  {"excluded_images", ctx.list.excluded},
                  {"selected", ctx.list.selected},
                  {"skipped_missing", ctx.list.skipped_missing},
                  {"samples", N}};
  io::write_results_file(ctx.cfg.output.path, {exp}, ctx.cfg.output.overwrite);
  fs::remove_all(ctx.partial);
  ctx.created_partial.clear();
  spdlog::info("wrote {} ({} samples, {} rank(s))", ctx.cfg.output.path, N, ctx.comm->size());
}

}  // namespace headprune::run
