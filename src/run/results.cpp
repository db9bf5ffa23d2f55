// Step 9 of `headprune run`: the results file (layout: docs/results-format.md), written by rank 0
// through io::ResultsWriter (complete or absent): first the rankings, the curves' reduced
// accuracies (reduce.cpp), the samples and the provenance; then the per-sample arrays, streamed in
// rounds: in each round every rank sends rank 0 one finished unit, which rank 0 writes at its
// rows (and columns) and drops. Rank 0 so never holds more than one unit per rank of them, in
// place of every row of the run. Then the partial results are removed.
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "headprune/common/build_info.hpp"
#include "headprune/common/error.hpp"
#include "headprune/io/results_file.hpp"
#include "steps.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
namespace {

// The shape of a per-sample dataset in the file: N rows, the ratios as columns for a curve, else
// the unit's array's trailing dimensions.
std::vector<int64_t> full_shape(const Context& ctx, const std::string& dataset, const at::Tensor& part) {
  std::vector<int64_t> shape{static_cast<int64_t>(ctx.samples().size())};
  if (dataset.compare(0, 7, "curves/") == 0) shape.push_back(static_cast<int64_t>(ctx.cfg.prune.ratios.size()));
  else for (int64_t d = 1; d < part.dim(); ++d) shape.push_back(part.size(d));
  return shape;
}

// Writes every array of one finished unit at its place (steps.hpp: destination). A repeated
// method's curves stack their draws: [draws, N, ratios], the unit's rows at [draw, rows, columns].
// Its scores are written for draw 0 only (a draw r's scores follow from scoring.random_seed and r).
void write_unit(const Context& ctx, io::ResultsWriter& writer, const io::TensorBundle& unit) {
  for (const auto& [key, value] : unit) {
    const Destination d = destination(ctx, key);
    if (d.repeat > 0 && d.dataset.compare(0, 7, "scores/") == 0) continue;
    std::vector<int64_t> shape = full_shape(ctx, d.dataset, value);
    at::Tensor block = shape.size() == 2 && value.dim() == 1 ? value.unsqueeze(1) : value;  // a global cell's column
    std::vector<int64_t> offset(shape.size(), 0);
    offset[0] = ctx.plan.batch_begin[static_cast<size_t>(d.batch)];
    if (d.dataset.compare(0, 7, "curves/") == 0) offset[1] = d.column;
    if (d.repeats > 1) {
      shape.insert(shape.begin(), d.repeats);
      offset.insert(offset.begin(), d.repeat);
      block = block.unsqueeze(0);
    }
    writer.write_block(ctx.cfg.name, d.dataset, shape, block, offset);
  }
}

// The run's small datasets and provenance (everything but the per-sample arrays).
io::Experiment summary(const Context& ctx, const Rankings& rankings, const Accuracies& accuracies,
                       const io::TensorBundle& global_masks) {
  const int64_t N = static_cast<int64_t>(ctx.samples().size());
  io::Experiment exp;
  exp.name = ctx.cfg.name;
  for (const auto& [mg, ranking] : rankings) {
    if (mg.find('#') != std::string::npos) continue;  // a draw r > 0: its masks are the curves' keep_mask
    exp.datasets["ranking/" + mg + "/mean"] = ranking.mean;
    exp.datasets["ranking/" + mg + "/std"] = ranking.std;
    exp.datasets["ranking/" + mg + "/order"] = ranking.order;
  }
  const at::Tensor ratios = at::tensor(ctx.cfg.prune.ratios, at::kDouble);
  exp.datasets["meta/ratios"] = ratios;
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
  if (ctx.global_fit.defined()) exp.datasets["samples/global_fit"] = ctx.global_fit;
  std::vector<std::string> names, modality, kind;
  for (const auto& m : ctx.in.model->attention_modules()) {
    names.push_back(m.name);
    modality.push_back(m.modality == models::Modality::text ? "text" : "image");
    kind.push_back(prune::module_kind_name(prune::module_kind(m)));
  }
  exp.strings["meta/module_names"] = names;
  exp.strings["meta/module_modality"] = modality;
  exp.strings["meta/module_kind"] = kind;
  exp.strings["meta/answers"] = ctx.in.vocab->answers();
  // Each curve's ratios and accuracy from the exact sum of tenths: tenths / 10 / n * 100, rounded
  // once; n = N x the method's draws (their mean), and only the held-out half of a global curve
  // with prune.global_fit: half. A global curve's keep_mask stacks its draws too.
  const int64_t held_out = ctx.global_fit.defined() ? N - ctx.global_fit.sum().item<int64_t>() : N;
  for (const auto& c : ctx.combos) {
    if (c.repeat > 0) continue;  // draw 0 writes the curve of every draw
    const int64_t draws = ctx.repeats_of(c.method);
    for (auto p : ctx.cfg.prune.protocols) {
      const bool global = p == config::Protocol::global;
      const std::string base = "curves/" + config::to_string(p) + "/" + c.path();
      exp.datasets[base + "/ratios"] = ratios;
      exp.datasets[base + "/accuracy_x100"] =
          accuracies.at(base).to(at::kDouble) * 10.0 / static_cast<double>((global ? held_out : N) * draws);
      if (!global) continue;
      std::vector<at::Tensor> masks;
      for (int64_t r = 0; r < draws; ++r) {
        Combo draw = c;
        draw.repeat = r;
        masks.push_back(global_masks.at(draw.key()));
      }
      exp.datasets[base + "/keep_mask"] = draws == 1 ? masks[0] : at::stack(masks);
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
  return exp;
}

}  // namespace

void write_results(Context& ctx, const UnitLoop& loop, const Rankings& rankings, const Accuracies& accuracies,
                   const io::TensorBundle& global_masks) {
  dist::Communicator& comm = *ctx.comm;
  const int64_t N = static_cast<int64_t>(ctx.samples().size());
  std::unique_ptr<io::ResultsWriter> writer;
  std::string error;
  if (ctx.root) {
    const std::string zero = zero_accuracy_warning(
        N, accuracies.at("samples/unpruned_score").item<int64_t>() / 10.0, ctx.in.answers_source);
    if (!zero.empty()) spdlog::warn("{}", zero);
    try {
      writer = std::make_unique<io::ResultsWriter>(ctx.cfg.output.path, ctx.cfg.output.overwrite);
      writer->add(summary(ctx, rankings, accuracies, global_masks));
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  agree_on_error(comm, error);

  // The units of this rank, grouped by unit name ("b3", "c2_5"), sent one per round.
  std::map<std::string, io::TensorBundle> units;
  for (auto& [key, value] : held_units(ctx, loop)) units[key.substr(0, key.find('/'))].emplace(key, value);
  at::Tensor rounds = at::tensor({static_cast<int64_t>(units.size())}, at::kLong);
  comm.allreduce_max(rounds);
  auto next = units.begin();
  for (int64_t r = 0; r < rounds.item<int64_t>(); ++r) {
    std::string bytes;
    if (next != units.end()) bytes = io::pack_bundle((next++)->second);
    const std::vector<std::string> parts = comm.gather_bytes(bytes, 0);
    if (!ctx.root || !error.empty()) continue;
    try {  // rank 0 keeps taking part in the rounds after an error, so that nobody waits for it
      for (size_t from = 0; from < parts.size(); ++from)
        if (!parts[from].empty()) write_unit(ctx, *writer, io::unpack_bundle(parts[from], "rank " + std::to_string(from)));
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  if (ctx.root && error.empty()) {
    try {
      writer->commit();
    } catch (const UserError& e) {
      error = e.what();
    }
  }
  agree_on_error(comm, error);
  if (!ctx.root) return;
  fs::remove_all(ctx.partial);
  ctx.created_partial.clear();
  spdlog::info("wrote {} ({} samples, {} rank(s))", ctx.cfg.output.path, N, comm.size());
}

}  // namespace headprune::run
