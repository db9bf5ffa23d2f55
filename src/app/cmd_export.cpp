// `headprune export`: a physically pruned model folder from one global-protocol keep mask of a
// results file (docs/export.md): config.json with the heads kept per attention module,
// model.safetensors without the removed heads' weights, the tokenizer's vocab.txt, and
// headprune_export.json (where the mask came from). Written to a temporary sibling folder and
// renamed when complete: nothing half-written is ever left under the output name.
#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "headprune/common/build_info.hpp"
#include "headprune/common/error.hpp"
#include "headprune/common/sha256.hpp"
#include "headprune/config/config.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/models/export.hpp"
#include "headprune/models/weights.hpp"

namespace headprune::app {
namespace {

namespace fs = std::filesystem;

struct ExportOptions {
  std::string results, experiment, method, granularity, sign = "negative", model, out;
  double ratio = -1;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The member `name` of `group`, or UserError "<file>: <group>: no <what> '<name>' (expected one of ...)".
void require_member(const h5::File& f, const std::string& group, const std::string& name, const std::string& what) {
  if (f.exists(group + "/" + name)) return;
  const std::vector<std::string> have = f.exists(group) ? f.list(group) : std::vector<std::string>{};
  throw UserError(f.path() + ": " + group + ": no " + what + " '" + name + "' (expected one of: " +
                  (have.empty() ? std::string("none") : join(have)) + ")");
}

// The stored dtype of a checkpoint's floating tensors (the export keeps it).
at::ScalarType stored_dtype(const std::string& weights_path) {
  for (const auto& [name, t] : models::read_weights(weights_path))
    if (at::isFloatingType(t.scalar_type())) return t.scalar_type();
  return at::kFloat;
}

int run_export(const ExportOptions& o) {
  if (fs::exists(o.out)) throw UserError(o.out + ": exists already (choose a new output folder)");
  // The keep mask: curves/global/<method>/<granularity>/<sign>/keep_mask at the asked ratio.
  const h5::File f(o.results, h5::File::Mode::read);
  require_member(f, "experiments", o.experiment, "experiment");
  const std::string exp = "experiments/" + o.experiment;
  require_member(f, exp + "/curves", "global", "protocol (export reads the global protocol's one mask per ratio)");
  require_member(f, exp + "/curves/global", o.method, "method");
  require_member(f, exp + "/curves/global/" + o.method, o.granularity, "granularity");
  const std::string curve = exp + "/curves/global/" + o.method + "/" + o.granularity;
  require_member(f, curve, o.sign, "sign");
  const std::string mask_path = curve + "/" + o.sign + "/keep_mask";
  std::vector<int64_t> shape;
  std::vector<uint8_t> masks = f.read_u8(mask_path, &shape);
  // A repeated method (random with scoring.random_repeats > 1) stacks its draws' masks
  // [draws, ratios, M(, H)]: export draw 0, the draw a single-draw run makes.
  const size_t unit_dims = o.granularity.rfind("head", 0) == 0 ? 2 : 1;
  if (shape.size() == unit_dims + 2) {
    masks.resize(static_cast<size_t>(h5::numel(std::vector<int64_t>(shape.begin() + 1, shape.end()))));
    shape.erase(shape.begin());
  }
  const std::vector<double> ratios = f.read_f64(curve + "/" + o.sign + "/ratios");
  int64_t index = -1;
  std::string grid;
  for (size_t i = 0; i < ratios.size(); ++i) {
    if (std::abs(ratios[i] - o.ratio) < 1e-9) index = static_cast<int64_t>(i);
    grid += (i ? ", " : "") + nlohmann::json(ratios[i]).dump();
  }
  if (index < 0)
    throw UserError(o.results + ": " + curve + "/" + o.sign + "/ratios: no ratio " + nlohmann::json(o.ratio).dump() +
                    " (expected one of: " + grid + ")");
  if (shape.empty() || shape[0] != static_cast<int64_t>(ratios.size()))
    throw UserError(o.results + ": " + mask_path + ": shape does not match the ratios");
  std::vector<int64_t> one(shape.begin() + 1, shape.end());
  const int64_t per = h5::numel(one);
  at::Tensor keep = at::tensor(std::vector<int64_t>(masks.begin() + index * per, masks.begin() + (index + 1) * per),
                               at::kLong).view(one);

  // The model the results were computed with: the run's model.path unless --model names it, and
  // the very weights the results file hashed.
  const std::string yaml = f.attr_string(exp + "/meta", "config_yaml");
  const config::Config c = config::load_config_text(yaml, o.results + ": " + exp + "/meta/config_yaml");
  const std::string folder = o.model.empty() ? c.model.path : o.model;
  const std::string weights_path = models::find_weights_file(folder, "");
  const std::string weights_sha = sha256_file(weights_path);
  const std::string run_sha = f.attr_string(exp + "/meta", "weights_sha256");
  if (weights_sha != run_sha)
    throw UserError(weights_path + ": SHA-256 " + weights_sha + " differs from the run's weights_sha256 " + run_sha +
                    " (pass --model with the folder the results were computed with)");
  const std::string vocab = c.model.vocab ? *c.model.vocab : (fs::path(folder) / "vocab.txt").string();
  if (!fs::is_regular_file(vocab)) throw UserError(vocab + ": not found (the tokenizer's vocabulary; set model.vocab)");
  models::LoadOptions lo{stored_dtype(weights_path), c.model.strict_load, ""};
  auto model = models::load_model(folder, lo);
  const std::vector<std::string> names = f.read_strings(exp + "/meta/module_names");
  for (int64_t m = 0; m < model->num_modules(); ++m)
    if (m >= static_cast<int64_t>(names.size()) || names[static_cast<size_t>(m)] != model->attention_modules()[m].name)
      throw UserError(o.results + ": " + exp + "/meta/module_names: do not match the attention modules of " + folder);
  const models::PrunedModel pruned = models::prune_model(*model, keep);

  nlohmann::json provenance = {
      {"format", "headprune-export"},
      {"format_version", 1},
      {"results_file", fs::absolute(o.results).string()},
      {"results_sha256", sha256_file(o.results)},
      {"experiment", o.experiment},
      {"protocol", "global"},
      {"method", o.method},
      {"granularity", o.granularity},
      {"sign", o.sign},
      {"ratio", ratios[static_cast<size_t>(index)]},
      {"source_model", fs::absolute(folder).string()},
      {"source_weights_sha256", weights_sha},
      {"heads_total", pruned.heads_total},
      {"heads_kept", pruned.heads_kept},
      {"removed_modules", pruned.removed_modules},
      {"split_modules", pruned.split_modules},
      {"tool_version", build_info().version},
      {"git_commit", build_info().git_commit}};

  // Everything goes to a temporary sibling folder, renamed when complete.
  const fs::path out = fs::absolute(o.out);
  const fs::path tmp = out.string() + ".tmp-export";
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    models::write_pruned_model(pruned, tmp.string());
    fs::copy_file(vocab, tmp / "vocab.txt");
    // A pixel model's image processor travels with it (ViLT: the pixels it was trained on).
    if (fs::is_regular_file(fs::path(folder) / "preprocessor_config.json"))
      fs::copy_file(fs::path(folder) / "preprocessor_config.json", tmp / "preprocessor_config.json");
    std::ofstream(tmp / "headprune_export.json") << provenance.dump(2) << "\n";
    if (fs::exists(out)) throw UserError(o.out + ": exists already (choose a new output folder)");
    fs::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  std::printf("%s: %lld of %lld heads kept (%zu modules removed, %zu split), from %s %s/%s/%s ratio %g\n",
              o.out.c_str(), (long long)pruned.heads_kept, (long long)pruned.heads_total, pruned.removed_modules.size(),
              pruned.split_modules.size(), o.experiment.c_str(), o.method.c_str(), o.granularity.c_str(), o.sign.c_str(),
              ratios[static_cast<size_t>(index)]);
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, CommandTable& table) {
  auto o = std::make_shared<ExportOptions>();
  auto* sub = app.add_subcommand("export", "Write a physically pruned model folder from a global-protocol keep mask");
  sub->add_option("--results", o->results, "results file (headprune run)")->required();
  sub->add_option("--experiment", o->experiment, "experiment name in the results file")->required();
  sub->add_option("--method", o->method, "scoring method whose ranking pruned")->required();
  sub->add_option("--granularity", o->granularity, "head or layer")->required()->check(CLI::IsMember({"head", "layer"}));
  sub->add_option("--ratio", o->ratio, "prune ratio, one of the run's ratios")->required();
  sub->add_option("--sign", o->sign, "negative (lowest-scored units removed first; default) or positive")
      ->check(CLI::IsMember({"negative", "positive"}));
  sub->add_option("--model", o->model, "the unpruned model folder (default: the run's model.path)");
  sub->add_option("--out", o->out, "output folder (must not exist)")->required();
  table.entries.emplace_back(sub, [o] { return run_export(*o); });
}

}  // namespace headprune::app
