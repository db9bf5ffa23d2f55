#include "headprune/run/checkpoint.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "headprune/common/error.hpp"
#include "headprune/io/h5.hpp"

namespace headprune::run {
namespace fs = std::filesystem;
using io::TensorBundle;

std::string partial_dir(const config::Config& cfg) { return cfg.output.path + ".partial"; }

std::string result_defining_yaml(config::Config cfg) {
  cfg.output.overwrite = false;
  cfg.log_level = "info";
  cfg.run.threads_per_rank = 0;
  cfg.run.checkpoint_every = 1;
  cfg.run.progress_seconds = 0;
  return config::to_yaml(cfg);
}

void Checkpointer::add(const TensorBundle& b) {
  for (const auto& [k, v] : b) pending_[k] = v;
}

void Checkpointer::flush() {
  if (pending_.empty()) return;
  const std::string path = dir_ + "/" + run_id_ + "-rank" + std::to_string(rank_) + "-" + std::to_string(seq_++) + ".h5";
  {
    h5::File f(path + ".tmp", h5::File::Mode::create_truncate);
    std::string bytes = io::pack_bundle(pending_);
    f.write_u8("/bundle", std::vector<uint8_t>(bytes.begin(), bytes.end()), {static_cast<int64_t>(bytes.size())});
    f.write_attr("/bundle", "identity", identity_);
  }
  fs::rename(path + ".tmp", path);  // a checkpoint is complete or absent
  pending_.clear();
}

Partials scan_partials(const std::string& dir, const std::string& identity) {
  Partials out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".h5") out.files.push_back(e.path().string());
  std::sort(out.files.begin(), out.files.end());
  for (const auto& f : out.files) {
    h5::File h(f, h5::File::Mode::read);
    const std::string theirs = h.has_attr("/bundle", "identity") ? h.attr_string("/bundle", "identity") : "";
    if (theirs != identity)
      throw UserError(f + ": checkpoint of a run with another config or other inputs (identity " +
                      (theirs.empty() ? std::string("missing") : theirs.substr(0, 12)) + ", this run " +
                      identity.substr(0, 12) + "); remove " + dir + " to start over, or rerun with the config and inputs that made it");
    auto bytes = h.read_u8("/bundle");
    for (const auto& name : io::bundle_names(std::string(bytes.begin(), bytes.end()), f))
      out.units.insert(name.substr(0, name.find('/')));
  }
  return out;
}

TensorBundle load_checkpoints(const std::vector<std::string>& files) {
  TensorBundle done;
  for (const auto& f : files) {
    h5::File h(f, h5::File::Mode::read);
    auto bytes = h.read_u8("/bundle");
    for (auto& [k, v] : io::unpack_bundle(std::string(bytes.begin(), bytes.end()), f)) done[k] = v;
  }
  return done;
}

}  // namespace headprune::run
