// `headprune import-features`: LXMERT obj36 TSV (data/tsv_import.hpp) or MMF LMDB
// (data/lmdb_import.hpp) -> HDF5 feature store.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "app/commands.hpp"
#include "headprune/common/error.hpp"
#include "headprune/common/stop_signal.hpp"
#include "headprune/data/lmdb_import.hpp"
#include "headprune/data/tsv_import.hpp"

namespace headprune::app {

namespace {
struct ImportFeaturesOptions {
  std::string tsv;
  std::string mmf_lmdb;
  std::string out;
  data::TsvImportOptions import;
};
}  // namespace

void add_import_features_command(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<ImportFeaturesOptions>();
  auto* sub = app.add_subcommand("import-features",
                                 "Import region features (LXMERT obj36 TSV or MMF LMDB) into an HDF5 feature store");
  auto* tsv = sub->add_option("--tsv", opts->tsv, "input TSV: img_id, img_h, img_w, objects_id, objects_conf, attrs_id, "
                                                  "attrs_conf, num_boxes, boxes, features (base64 arrays)");
  auto* lmdb = sub->add_option("--mmf-lmdb", opts->mmf_lmdb,
                               "input MMF LMDB (e.g. trainval2014.lmdb: a folder, or its data file): pickled dicts "
                               "with features, bbox, image_width, image_height");
  tsv->excludes(lmdb);
  lmdb->excludes(tsv);
  sub->add_option("--out", opts->out, "output feature store (.h5), written as OUT.partial and renamed at the end")
      ->required();
  sub->add_option("--compress", opts->import.compression, "gzip level 0 (none, default) .. 9")
      ->check(CLI::Range(0, 9));
  sub->add_flag("--overwrite", opts->import.overwrite, "replace an existing --out file");
  sub->add_flag("--skip-nonfinite", opts->import.skip_nonfinite,
                "skip and count images with NaN/Inf features or boxes instead of stopping");
  sub->add_option("--progress-every", opts->import.progress_interval_s,
                  "seconds between progress lines (default 10; 0 = none)")
      ->check(AtLeast(0, /*integer=*/false));
  table.entries.emplace_back(sub, [opts] {
    if (opts->tsv.empty() == opts->mmf_lmdb.empty())
      throw UserError("import-features: give the input as --tsv FILE (LXMERT obj36) or --mmf-lmdb DIR (MMF)");
    install_stop_handlers();  // a signal removes the half-written store and exits 3, one line
    // Test hook: slows every image down so that tests can signal an import mid-way.
    if (const char* ms = std::getenv("HEADPRUNE_TEST_IMPORT_DELAY_MS"); ms && std::atoi(ms) > 0) {
      const int delay = std::atoi(ms);
      opts->import.on_image = [delay](int64_t, int64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(delay)); };
    }
    if (!opts->mmf_lmdb.empty())
      data::import_mmf_lmdb(opts->mmf_lmdb, opts->out, opts->import);
    else
      data::import_obj_tsv(opts->tsv, opts->out, opts->import);
    return static_cast<int>(ExitCode::ok);
  });
}

}  // namespace headprune::app
