// `headprune conformance`: replay a reference fixture folder and check every quantity.
#include <cstdio>

#include "app/commands.hpp"
#include "headprune/common/error.hpp"
#include "headprune/verify/conformance.hpp"

namespace headprune::app {

void add_conformance_command(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<verify::ConformanceOptions>();
  auto* sub = app.add_subcommand("conformance", "Replay a reference fixture folder and compare every quantity");
  sub->add_option("--reference", opts->reference_dir, "fixture folder (reference.h5, config.json, weights, vocab.txt)")
      ->required();
  sub->add_option("--out", opts->out_path, "write every computed quantity here (same HDF5 paths as the fixture)");
  sub->add_flag("--overwrite", opts->overwrite, "replace an existing --out file");
  sub->add_option("--dtype", opts->dtype, "compute dtype: auto (the fixture's), float64 or float32")
      ->check(CLI::IsMember({"auto", "float64", "float32"}));
  sub->add_option("--weights", opts->weights,
                  "weights file: safetensors, bin, or a file name in the folder (default: safetensors if present)");
  sub->add_option("--device", opts->device, "cpu, cuda or cuda:N");
  sub->add_option("--precision", opts->reduced_precision, "reduced precision on a GPU: tf32 or bf16 (with --dtype float32)")
      ->check(CLI::IsMember({"tf32", "bf16"}));
  sub->add_option("--probes", opts->stability_probes,
                  "float32: float64 replays with perturbed weights that find ill-conditioned datasets (0 = off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  sub->add_option("--perturb", opts->perturb_relative_eps,
                  "sensitivity study: scale every weight of the replay by (1 + EPS U(-1,1))")
      ->check(CLI::Range(0.0, 1e-2));
  sub->add_option("--perturb-seed", opts->perturb_seed, "seed of --perturb")->capture_default_str();
  table.entries.emplace_back(sub, [opts] {
    verify::ConformanceReport report = verify::run_conformance(*opts);
    std::fputs(report.table().c_str(), stdout);
    return report.passed() ? static_cast<int>(ExitCode::ok) : static_cast<int>(ExitCode::conformance);
  });
}

}  // namespace headprune::app
