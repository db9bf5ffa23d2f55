#include "headprune/io/results_file.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <functional>

#include "headprune/common/error.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/io/output_path.hpp"
#include "headprune/io/h5_tensor.hpp"

namespace headprune::io {
namespace fs = std::filesystem;

namespace {
// `how`: what the user passes to replace it (the run and merge commands differ).
void refuse_existing(const std::string& path, bool overwrite, const char* how) {
  if (fs::exists(path) && !fs::is_directory(path) && !overwrite)
    throw UserError(path + ": results file exists (pass " + how + " to replace it)");
  check_output_file(path, overwrite, how);  // a folder, a missing or read-only folder
}

// The layout of docs/results-format.md; a file of another version is never mixed into this one's.
constexpr int64_t kFormatVersion = 1;

void mark_format(h5::File& f) {
  f.write_attr("/", "format", std::string("headprune-results"));
  f.write_attr("/", "format_version", kFormatVersion);
}

// Every dataset path below `group`, recursively.
void list_datasets(const h5::File& f, const std::string& group, std::vector<std::string>& out) {
  for (const auto& name : f.list(group)) {
    std::string p = group + "/" + name;
    if (f.is_group(p)) list_datasets(f, p, out);
    else out.push_back(p);
  }
}

bool same_datasets(const h5::File& a, const h5::File& b, const std::string& group) {
  std::vector<std::string> da, db;
  list_datasets(a, group, da);
  list_datasets(b, group, db);
  if (da != db) return false;
  for (const auto& p : da) {
    h5::Info ia = a.info(p), ib = b.info(p);
    if (ia.kind != ib.kind || ia.shape != ib.shape) return false;
    if (ia.kind == h5::Kind::string) {
      if (a.read_strings(p) != b.read_strings(p)) return false;
    } else if (!at::equal(h5::read_tensor(a, p), h5::read_tensor(b, p))) {
      return false;
    }
  }
  return true;
}
}  // namespace

namespace {
// The temporary name of `path`, once `path` may be written (a companion is never removed before).
std::string temporary_for(const std::string& path, bool overwrite) {
  refuse_existing(path, overwrite, "--overwrite or output.overwrite=true");
  return path + ".tmp";
}
}  // namespace

ResultsWriter::ResultsWriter(const std::string& path, bool overwrite)
    : path_(path), remove_tmp_(temporary_for(path, overwrite)) {
  file_ = std::make_unique<h5::File>(path + ".tmp", h5::File::Mode::create_truncate);
  mark_format(*file_);
}

ResultsWriter::~ResultsWriter() = default;

void ResultsWriter::add(const Experiment& e) {
  HP_ASSERT(file_, "results file committed already");
  const std::string g = "/experiments/" + e.name;
  file_->create_group(g + "/meta");
  for (const auto& [k, v] : e.meta_text) file_->write_attr(g + "/meta", k, v);
  for (const auto& [k, v] : e.meta_int) file_->write_attr(g + "/meta", k, v);
  for (const auto& [k, v] : e.strings) file_->write_strings(g + "/" + k, v);
  for (const auto& [k, v] : e.datasets) h5::write_tensor(*file_, g + "/" + k, v);
}

void ResultsWriter::write_block(const std::string& experiment, const std::string& name,
                                const std::vector<int64_t>& shape, const at::Tensor& block,
                                const std::vector<int64_t>& offset) {
  HP_ASSERT(file_, "results file committed already");
  const std::string path = "/experiments/" + experiment + "/" + name;
  auto it = filled_.find(path);
  if (it == filled_.end()) {
    file_->create_dataset(path, h5::stored_kind(block.scalar_type()), shape);
    it = filled_.emplace(path, std::make_pair(int64_t{0}, h5::numel(shape))).first;
  }
  h5::write_tensor_block(*file_, path, block, offset);
  it->second.first += block.numel();
}

void ResultsWriter::commit() {
  HP_ASSERT(file_, "results file committed already");
  // Blocks never overlap (each unit of work owns its rows and columns), so a count equal to the
  // dataset's size means every element was written once; anything else is a bug, not a file.
  for (const auto& [path, n] : filled_)
    HP_ASSERT(n.first == n.second, path + ": " + std::to_string(n.first) + " of " + std::to_string(n.second) +
                                       " elements written");
  file_.reset();  // closed before the rename
  fs::rename(path_ + ".tmp", path_);
  remove_tmp_.keep();
}

void write_results_file(const std::string& path, const std::vector<Experiment>& experiments, bool overwrite) {
  ResultsWriter w(path, overwrite);
  for (const auto& e : experiments) w.add(e);
  w.commit();
}

void merge_results_files(const std::string& out, const std::vector<std::string>& inputs, bool overwrite) {
  if (inputs.empty()) throw UserError("merge: no input files");
  refuse_existing(out, overwrite, "--overwrite");
  for (const auto& in : inputs)
    if (fs::exists(out) && fs::equivalent(in, out)) throw UserError(out + ": is also an input");
  // Validate first: every input a results file, duplicates identical.
  std::map<std::string, std::string> owner;  // experiment -> first input holding it
  std::vector<std::pair<std::string, std::string>> to_copy;
  for (const auto& in : inputs) {
    h5::File f(in, h5::File::Mode::read);
    if (!f.has_attr("/", "format"))
      throw UserError(in + ": not a headprune results file (no root attribute 'format')");
    if (const std::string format = f.attr_string("/", "format"); format != "headprune-results")
      throw UserError(in + ": not a headprune results file (root attribute format = '" + format +
                      "', expected 'headprune-results')");
    if (!f.has_attr("/", "format_version"))
      throw UserError(in + ": no root attribute 'format_version' (expected " + std::to_string(kFormatVersion) + ")");
    if (const int64_t version = f.attr_i64("/", "format_version"); version != kFormatVersion)
      throw UserError(in + ": results format_version " + std::to_string(version) + ", this build merges version " +
                      std::to_string(kFormatVersion) + " (merge files written by one headprune version)");
    for (const auto& name : f.list("/experiments")) {
      auto it = owner.find(name);
      if (it == owner.end()) {
        owner[name] = in;
        to_copy.emplace_back(in, name);
        continue;
      }
      h5::File first(it->second, h5::File::Mode::read);
      if (!same_datasets(first, f, "/experiments/" + name))
        throw UserError("merge: experiment '" + name + "' is in both " + it->second + " and " + in +
                        " with different results (rename one, or drop one input)");
      spdlog::info("merge: experiment '{}' of {} is identical to {}'s; kept once", name, in, it->second);
    }
  }
  const std::string tmp = out + ".tmp";
  RemoveOnExit remove_tmp(tmp);
  {
    h5::File o(tmp, h5::File::Mode::create_truncate);
    mark_format(o);
    o.create_group("/experiments");
    for (const auto& [in, name] : to_copy) {
      h5::File f(in, h5::File::Mode::read);
      const std::string p = "/experiments/" + name;
      if (H5Ocopy(f.id(), p.c_str(), o.id(), p.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
        throw RuntimeFailure(in + ": cannot copy experiment " + name);
    }
  }
  fs::rename(tmp, out);
  remove_tmp.keep();
}

}  // namespace headprune::io
