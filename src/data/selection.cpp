#include "headprune/data/selection.hpp"

#include <filesystem>
#include <fstream>
#include <numeric>
#include <unordered_map>

#include "headprune/common/error.hpp"
#include "headprune/data/python_random.hpp"
#include "json_file.hpp"

namespace headprune::data {

Selection selection_from_string(const std::string& name, const std::string& where) {
  if (name == "all") return Selection::all;
  if (name == "first_n") return Selection::first_n;
  if (name == "seed_shuffle") return Selection::seed_shuffle;
  if (name == "list") return Selection::list;
  throw UserError(where + ": unknown selection '" + name + "' (expected seed_shuffle, first_n, all or list)");
}

const char* selection_name(Selection selection) {
  switch (selection) {
    case Selection::all: return "all";
    case Selection::first_n: return "first_n";
    case Selection::seed_shuffle: return "seed_shuffle";
    case Selection::list: return "list";
  }
  return "?";
}

std::vector<int64_t> seed_shuffle(int64_t n, int64_t num_samples, int64_t seed) {
  HP_ASSERT(n >= 0 && num_samples <= n, "seed_shuffle: num_samples out of range");
  std::vector<int64_t> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), int64_t{0});
  PythonRandom rng(seed);
  rng.shuffle(r);
  if (num_samples >= 0) r.resize(static_cast<size_t>(num_samples));
  return r;
}

std::vector<ListedId> read_selection_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError(path + ": file not found (data.selection_file: question ids, one a line)");
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot open for reading");
  std::vector<ListedId> ids;
  std::unordered_map<std::string, int64_t> first_line;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    size_t e = line.find_last_not_of(" \t\r");
    std::string id = line.substr(b, e - b + 1);
    auto [it, inserted] = first_line.emplace(id, line_no);
    if (!inserted)
      throw UserError(path + ":" + std::to_string(line_no) + ": question id " + id + " is listed a second time (first on line " +
                      std::to_string(it->second) + ")");
    ids.push_back({std::move(id), line_no});
  }
  if (in.bad()) throw UserError(path + ": read error");
  if (ids.empty()) throw UserError(path + ": empty selection: the file lists no question id");
  return ids;
}

std::vector<int64_t> select_indices(const SelectionSpec& spec, int64_t available, const std::string& where) {
  HP_ASSERT(available >= 0, "negative count");
  HP_ASSERT(spec.mode != Selection::list, "Selection::list is resolved by make_sample_list");
  if (available == 0)
    throw UserError(where + ": empty selection: no questions are available (empty file, or all were excluded)");
  int64_t n = spec.mode == Selection::all || spec.num_samples < 0 ? available : spec.num_samples;
  if (n == 0) throw UserError(where + ": empty selection: num_samples is 0 (expected at least 1, or -1 for all)");
  if (n > available)
    throw UserError(where + ": num_samples = " + std::to_string(n) + " but only " + std::to_string(available) +
                    " questions are available (lower num_samples, or use selection: all)");
  switch (spec.mode) {
    case Selection::seed_shuffle: return seed_shuffle(available, n, spec.seed);
    case Selection::list:
    case Selection::first_n:
    case Selection::all: {
      std::vector<int64_t> r(static_cast<size_t>(n));
      std::iota(r.begin(), r.end(), int64_t{0});
      return r;
    }
  }
  return {};
}

std::string ImageExclusion::image_key(const std::string& img_id) {
  // "COCO_<split>_<digits>" or "<digits>": the number without leading zeros.
  size_t start = 0;
  if (img_id.rfind("COCO_", 0) == 0) {
    auto us = img_id.rfind('_');
    if (us == std::string::npos || us < 5) return img_id;
    start = us + 1;
  }
  if (start >= img_id.size()) return img_id;
  for (size_t i = start; i < img_id.size(); ++i)
    if (img_id[i] < '0' || img_id[i] > '9') return img_id;
  size_t nz = img_id.find_first_not_of('0', start);
  return nz == std::string::npos ? std::string("0") : img_id.substr(nz);
}

ImageExclusion ImageExclusion::from_ids(const std::vector<std::string>& ids, const std::string& source) {
  ImageExclusion ex;
  ex.source_ = source;
  for (const auto& id : ids) ex.keys_.insert(image_key(id));
  return ex;
}

ImageExclusion ImageExclusion::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError(path + ": file not found (expected a list of image ids to exclude)");
  // JSON when the first non-blank character opens a list or an object.
  char first = 0;
  {
    std::ifstream in(path);
    while (in.get(first) && (first == ' ' || first == '\n' || first == '\r' || first == '\t')) {
    }
  }
  std::vector<std::string> ids;
  if (first == '[' || first == '{') {
    auto j = detail::read_json_file(path, "a list of image ids, or a list of records with \"img_id\"");
    if (!j.is_array()) throw UserError(path + ": expected a JSON list of image ids (or of records with \"img_id\")");
    ids.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      const auto& v = j[i];
      if (v.is_string() || v.is_number_integer()) {
        ids.push_back(detail::json_scalar_text(v));
      } else if (v.is_object() && v.contains("img_id") && (v["img_id"].is_string() || v["img_id"].is_number_integer())) {
        ids.push_back(detail::json_scalar_text(v["img_id"]));
      } else {
        throw UserError(path + ": entry " + std::to_string(i) + " is neither an image id nor a record with \"img_id\"");
      }
    }
  } else {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      size_t e = line.find_last_not_of(" \t\r");
      ids.push_back(line.substr(b, e - b + 1));
    }
  }
  return from_ids(ids, path);
}

}  // namespace headprune::data
