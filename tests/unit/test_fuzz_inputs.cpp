// ctest-labels: fixture
// Seeded fuzz test of the parsers of untrusted input: valid inputs are mutated (byte flips,
// truncation, inserted bytes, JSON values of the wrong type, huge and negative numbers) and
// parsed in-process. Every outcome must be success or a headprune::UserError: any other
// exception is counted as a failure (a crash ends the test binary, which fails the test). A
// parser that accepts an input must also leave what its readers rely on true (checked per
// parser below). Counts are printed per parser.
//
//   parsers        safetensors header + data (models::parse_safetensors), one obj36 TSV line
//                  (data::parse_obj_tsv_line), the feature store index
//                  (data::validate_feature_store_index, and whole HDF5 stores through
//                  data::FeatureStore), MMF's pickles and .npy files (data::parse_pickle,
//                  data::parse_npy)
//   iterations     HEADPRUNE_FUZZ_ITERATIONS (default 3000 per parser; the stores get a tenth)
//   seed           HEADPRUNE_FUZZ_SEED (default 17); a failure prints the seed and the iteration
//
// The stores are mutated in their index values, not their bytes: libhdf5 itself is not
// hardened against corrupt files, and its own parsing is not this project's to fix.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/pickle.hpp"
#include "headprune/data/tsv_import.hpp"
#include "headprune/io/h5.hpp"
#include "headprune/models/weights.hpp"
#include "testing.hpp"

using headprune::UserError;
namespace data = headprune::data;
namespace models = headprune::models;

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}
const int64_t kIterations = env_int("HEADPRUNE_FUZZ_ITERATIONS", 3000);
const uint64_t kSeed = static_cast<uint64_t>(env_int("HEADPRUNE_FUZZ_SEED", 17));

/// Outcomes of one parser.
struct Tally {
  std::string parser;
  int64_t ok = 0, user_errors = 0, failures = 0;
  std::vector<std::string> first_failures;  ///< "iteration i: what"

  /// Runs `parse` on input `i`: success, UserError, or a failure (any other exception, or a
  /// broken property that `parse` reports by returning a non-empty string).
  void attempt(int64_t i, const std::function<std::string()>& parse) {
    std::string broken;
    try {
      broken = parse();
    } catch (const UserError&) {
      ++user_errors;
      return;
    } catch (const std::exception& e) {
      broken = std::string("not a UserError: ") + e.what();
    } catch (...) {
      broken = "not a UserError: an unknown exception";
    }
    if (broken.empty()) {
      ++ok;
      return;
    }
    ++failures;
    if (first_failures.size() < 5) first_failures.push_back("iteration " + std::to_string(i) + ": " + broken.substr(0, 300));
  }

  void report() const {
    std::printf("fuzz %-22s seed %llu: %lld inputs: %lld accepted, %lld UserError, %lld failures\n", parser.c_str(),
                static_cast<unsigned long long>(kSeed), static_cast<long long>(ok + user_errors + failures),
                static_cast<long long>(ok), static_cast<long long>(user_errors), static_cast<long long>(failures));
    std::fflush(stdout);
    EXPECT_EQ(failures, 0) << parser << ": " << (first_failures.empty() ? "" : first_failures.front());
    for (const auto& f : first_failures) ADD_FAILURE() << parser << " " << f;
    // A fuzzer whose mutations never get past the parser, or never get refused, tests little.
    EXPECT_GT(user_errors, 0) << parser << ": no mutation was refused";
  }
};

// ---- generic byte mutations (shared by every parser; the pickle reader will use them too) ------

/// Numbers that break naive parsing: signs, zero, 32/64-bit edges, floats, overflow.
const std::vector<std::string> kHostileNumbers = {
    "0", "-1", "-9223372036854775808", "9223372036854775807", "18446744073709551615", "99999999999999999999999",
    "2147483648", "4294967296", "1e308", "1e400", "-0", "nan", "inf", "1.5", "", " ", "0x10", "+7", "00000000000000000007"};

std::string mutate_bytes(std::string s, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 5);
  auto pos = [&](size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng) : 0; };
  const int rounds = 1 + static_cast<int>(rng() % 3);
  for (int r = 0; r < rounds; ++r) {
    switch (kind(rng)) {
      case 0:  // flip bits of a few bytes
        for (int k = 0; k < 1 + static_cast<int>(rng() % 8) && !s.empty(); ++k) s[pos(s.size())] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // truncate
        s.resize(pos(s.size() + 1));
        break;
      case 2:  // insert random bytes
        s.insert(pos(s.size() + 1), std::string(1 + rng() % 16, static_cast<char>(rng())));
        break;
      case 3:  // delete a range
        if (!s.empty()) {
          size_t at = pos(s.size());
          s.erase(at, 1 + rng() % 64);
        }
        break;
      case 4:  // overwrite with a random byte
        if (!s.empty()) s[pos(s.size())] = static_cast<char>(rng());
        break;
      default:  // splice in a hostile number
        s.insert(pos(s.size() + 1), kHostileNumbers[rng() % kHostileNumbers.size()]);
        break;
    }
  }
  return s;
}

// ---- safetensors ------------------------------------------------------------------------------

/// A JSON value of some type, often the wrong one for where it lands.
nlohmann::json hostile_json(std::mt19937_64& rng) {
  switch (rng() % 14) {
    case 0: return nullptr;
    case 1: return nlohmann::json::object();
    case 2: return nlohmann::json::array();
    case 3: return "12";
    case 4: return -1;
    case 5: return std::numeric_limits<int64_t>::max();
    case 6: return std::numeric_limits<uint64_t>::max();
    case 7: return 1e308;
    case 8: return 2.5;
    case 9: return true;
    case 10: return nlohmann::json::array({nullptr, 4});
    case 11: return nlohmann::json::array({uint64_t{1} << 62, 4});
    case 12: return nlohmann::json::array({-8, 4});
    default: return nlohmann::json::array({0, std::numeric_limits<uint64_t>::max()});
  }
}

std::string safetensors_bytes(const nlohmann::json& header, const std::string& data) {
  std::string text = header.dump();
  uint64_t n = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + text + data;
}

TEST(FuzzInputs, SafetensorsHeader) {
  std::ifstream in(headprune::testing::data_path("lxmert/model.safetensors"), std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), {});
  ASSERT_GT(file.size(), 8u);
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(file.substr(8, n));
  const std::string payload = file.substr(8 + n);
  std::vector<std::string> names;
  for (auto it = header.begin(); it != header.end(); ++it)
    if (it.key() != "__metadata__") names.push_back(it.key());

  std::mt19937_64 rng(kSeed);
  Tally tally{"safetensors"};
  for (int64_t i = 0; i < kIterations; ++i) {
    std::string bytes;
    switch (rng() % 4) {
      case 0:  // a JSON value of the wrong type, or a wrong/huge number, in one entry
      case 1: {
        nlohmann::json h = header;
        auto& entry = h[names[rng() % names.size()]];
        switch (rng() % 5) {
          case 0: entry["data_offsets"][rng() % 2] = hostile_json(rng); break;
          case 1: entry["data_offsets"] = hostile_json(rng); break;
          case 2: entry["shape"] = hostile_json(rng); break;
          case 3: entry["dtype"] = rng() % 2 ? hostile_json(rng) : nlohmann::json("F16"); break;
          default: entry = hostile_json(rng); break;
        }
        bytes = safetensors_bytes(h, payload);
        break;
      }
      case 2: {  // a wrong header length
        bytes = file;
        const uint64_t lens[] = {0, 1, n - 1, n + 1, file.size(), std::numeric_limits<uint64_t>::max(), rng()};
        std::memcpy(bytes.data(), &lens[rng() % 7], 8);
        break;
      }
      default:  // bytes of the header (and its length) flipped, cut, inserted
        bytes = mutate_bytes(file.substr(0, 8 + n + 64), rng) + file.substr(std::min(file.size(), 8 + n + 64));
        break;
    }
    std::vector<char> v(bytes.begin(), bytes.end());
    tally.attempt(i, [&]() -> std::string {
      models::TensorMap tensors = models::parse_safetensors(v, "fuzz.safetensors");
      // Accepted: every tensor's bytes lie inside the input.
      for (const auto& [name, t] : tensors)
        if (static_cast<size_t>(t.numel()) * t.element_size() > v.size()) return "tensor '" + name + "' larger than the input";
      return "";
    });
  }
  tally.report();
}

// ---- obj36 TSV line -----------------------------------------------------------------------------

TEST(FuzzInputs, TsvLine) {
  data::ImageRecord r;
  r.img_id = "COCO_val2014_000000000042";
  r.image_h = 480;
  r.image_w = 640;
  r.num_boxes = 3;
  r.feature_dim = 8;
  for (int64_t b = 0; b < r.num_boxes; ++b) {
    const float x = 10.0f * static_cast<float>(b);
    r.boxes.insert(r.boxes.end(), {x, x + 1, x + 20, x + 30});
    r.objects_id.push_back(b);
    r.objects_conf.push_back(0.5f);
    r.attrs_id.push_back(b + 1);
    r.attrs_conf.push_back(0.25f);
  }
  for (int64_t k = 0; k < r.num_boxes * r.feature_dim; ++k) r.features.push_back(static_cast<float>(k) / 7.0f);
  const std::string line = data::format_obj_tsv_line(r);

  std::mt19937_64 rng(kSeed + 1);
  Tally tally{"obj36 TSV line"};
  data::ImageRecord parsed;  // reused across lines, as the import does
  for (int64_t i = 0; i < kIterations; ++i) {
    std::string mutated;
    if (rng() % 2) {
      mutated = mutate_bytes(line, rng);
    } else {  // one column replaced by a hostile number or garbage
      std::vector<std::string> cols;
      size_t start = 0;
      for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) cols.push_back(line.substr(start, tab - start));
      cols.push_back(line.substr(start));
      cols[rng() % cols.size()] = rng() % 3 ? kHostileNumbers[rng() % kHostileNumbers.size()] : mutate_bytes(cols[rng() % cols.size()], rng);
      for (size_t c = 0; c < cols.size(); ++c) mutated += (c ? "\t" : "") + cols[c];
    }
    const int64_t expected_dim = rng() % 2 ? 8 : 0;
    tally.attempt(i, [&]() -> std::string {
      data::parse_obj_tsv_line(mutated, parsed, "fuzz.tsv:1", expected_dim);
      // Accepted: the arrays match num_boxes and feature_dim, and the boxes are proper corners.
      const auto nb = static_cast<size_t>(parsed.num_boxes);
      if (parsed.num_boxes < 1 || parsed.feature_dim < 1) return "accepted num_boxes/feature_dim < 1";
      if (parsed.features.size() != nb * static_cast<size_t>(parsed.feature_dim) || parsed.boxes.size() != nb * 4 ||
          parsed.objects_id.size() != nb || parsed.objects_conf.size() != nb || parsed.attrs_id.size() != nb ||
          parsed.attrs_conf.size() != nb)
        return "accepted arrays that do not match num_boxes";
      for (size_t b = 0; b < nb; ++b) {
        const float* q = &parsed.boxes[4 * b];
        const bool finite = std::isfinite(q[0]) && std::isfinite(q[1]) && std::isfinite(q[2]) && std::isfinite(q[3]);
        if (finite && (q[0] < 0 || q[1] < 0 || q[2] < q[0] || q[3] < q[1])) return "accepted an inverted or negative box";
      }
      return "";
    });
  }
  tally.report();
}

// ---- feature store index -------------------------------------------------------------------------

data::FeatureStoreIndex valid_index(int64_t images, int64_t dim) {
  data::FeatureStoreIndex x;
  x.feature_dim = dim;
  x.num_images = images;
  x.box_offset = {0};
  for (int64_t i = 0; i < images; ++i) {
    x.ids.push_back("img_" + std::to_string(i));
    x.image_h.push_back(100 + i);
    x.image_w.push_back(200 + i);
    x.num_boxes.push_back(1 + i % 4);
    x.box_offset.push_back(x.box_offset.back() + x.num_boxes.back());
    x.max_boxes = std::max(x.max_boxes, x.num_boxes.back());
  }
  x.features_shape = {x.box_offset.back(), dim};
  x.boxes_shape = {x.box_offset.back(), 4};
  x.label_rows.assign(4, x.box_offset.back());
  return x;
}

int64_t hostile_int(std::mt19937_64& rng) {
  const int64_t values[] = {0, -1, -3, 1, 2, 7, 100001, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                            int64_t{1} << 40, -(int64_t{1} << 40)};
  return values[rng() % (sizeof values / sizeof values[0])];
}

// Changes one value, one length or one attribute of a (valid) index.
void mutate_index(data::FeatureStoreIndex& x, std::mt19937_64& rng) {
  std::vector<std::vector<int64_t>*> arrays = {&x.image_h, &x.image_w, &x.num_boxes, &x.box_offset,
                                               &x.features_shape, &x.boxes_shape, &x.label_rows};
  const int rounds = 1 + static_cast<int>(rng() % 2);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 7) {
      case 0:
      case 1: {  // one entry of an array
        auto& a = *arrays[rng() % arrays.size()];
        if (!a.empty()) a[rng() % a.size()] = hostile_int(rng);
        break;
      }
      case 2: {  // a negative (or other) box count that the offsets follow, keeping the total
        if (x.num_boxes.size() < 2) break;
        const size_t i = rng() % (x.num_boxes.size() - 1);
        const int64_t v = hostile_int(rng) % 1000, delta = v - x.num_boxes[i];
        x.num_boxes[i] = v;
        x.num_boxes[i + 1] -= delta;
        if (i + 1 < x.box_offset.size()) x.box_offset[i + 1] += delta;
        break;
      }
      case 3: {  // a length
        auto& a = *arrays[rng() % arrays.size()];
        a.resize(rng() % (a.size() + 2));
        break;
      }
      case 4:
        if (!x.ids.empty()) x.ids[rng() % x.ids.size()] = rng() % 2 ? "" : x.ids[rng() % x.ids.size()];
        else x.ids.push_back("x");
        break;
      case 5: x.feature_dim = hostile_int(rng); break;
      default: (rng() % 2 ? x.max_boxes : x.num_images) = hostile_int(rng); break;
    }
  }
}

// What the reader relies on once an index is accepted.
std::string reader_invariants(const data::FeatureStoreIndex& x) {
  const size_t n = x.ids.size();
  if (n == 0 || x.box_offset.size() != n + 1 || x.num_boxes.size() != n || x.image_h.size() != n || x.image_w.size() != n)
    return "accepted an index whose lengths disagree";
  if (x.feature_dim < 1 || x.box_offset[0] != 0) return "accepted feature_dim < 1 or box_offset[0] != 0";
  for (size_t i = 0; i < n; ++i)
    if (x.num_boxes[i] < 1 || x.box_offset[i + 1] - x.box_offset[i] != x.num_boxes[i] || x.image_h[i] < 1 || x.image_w[i] < 1)
      return "accepted image " + std::to_string(i) + " with a bad box count, offset or size";
  if (x.features_shape != std::vector<int64_t>{x.box_offset[n], x.feature_dim} ||
      x.boxes_shape != std::vector<int64_t>{x.box_offset[n], 4})
    return "accepted data shapes that do not match the offsets";
  return "";
}

TEST(FuzzInputs, FeatureStoreIndex) {
  std::mt19937_64 rng(kSeed + 2);
  Tally tally{"feature store index"};
  for (int64_t i = 0; i < kIterations; ++i) {
    data::FeatureStoreIndex x = valid_index(1 + static_cast<int64_t>(rng() % 6), 1 + static_cast<int64_t>(rng() % 5));
    mutate_index(x, rng);
    tally.attempt(i, [&]() -> std::string {
      data::validate_feature_store_index(x, "fuzz.h5");
      return reader_invariants(x);
    });
  }
  tally.report();
}

// Writes a store with exactly the index `x` (data rows as the shapes say, when sane).
void write_store(const std::string& path, const data::FeatureStoreIndex& x) {
  namespace h5 = headprune::h5;
  h5::File f(path, h5::File::Mode::create_truncate);
  auto rows_of = [](const std::vector<int64_t>& shape, int64_t width) -> std::vector<int64_t> {
    // Only shapes small enough to write; anything else becomes an empty dataset.
    if (shape.empty() || shape[0] < 0 || shape[0] > 4096) return {0, width};
    return {shape[0], width};
  };
  const int64_t dim = x.feature_dim >= 1 && x.feature_dim <= 64 ? x.feature_dim : 4;
  auto fs = rows_of(x.features_shape, dim), bs = rows_of(x.boxes_shape, 4);
  std::vector<float> feats(static_cast<size_t>(fs[0] * fs[1]), 0.5f), boxes;
  for (int64_t r = 0; r < bs[0]; ++r) boxes.insert(boxes.end(), {1, 2, 3, 4});
  f.write_f32("/features", feats, fs);
  f.write_f32("/boxes", boxes, bs);
  const int64_t label_rows = x.label_rows.empty() || x.label_rows[0] < 0 || x.label_rows[0] > 4096 ? 0 : x.label_rows[0];
  f.write_i64("/objects_id", std::vector<int64_t>(static_cast<size_t>(label_rows), 1), {label_rows});
  f.write_f32("/objects_conf", std::vector<float>(static_cast<size_t>(label_rows), 0.5f), {label_rows});
  f.write_i64("/attrs_id", std::vector<int64_t>(static_cast<size_t>(label_rows), 2), {label_rows});
  f.write_f32("/attrs_conf", std::vector<float>(static_cast<size_t>(label_rows), 0.5f), {label_rows});
  f.write_strings("/image_ids", x.ids);
  auto i64 = [&](const char* name, const std::vector<int64_t>& v) { f.write_i64(name, v, {static_cast<int64_t>(v.size())}); };
  i64("/image_h", x.image_h);
  i64("/image_w", x.image_w);
  i64("/num_boxes", x.num_boxes);
  i64("/box_offset", x.box_offset);
  f.write_attr("/", "num_images", x.num_images);
  f.write_attr("/", "num_boxes_total", x.box_offset.empty() ? int64_t{0} : x.box_offset.back());
  f.write_attr("/", "max_boxes", x.max_boxes);
  f.write_attr("/", "feature_dim", x.feature_dim);
  f.write_attr("/", "source", std::string("fuzz"));
  f.write_attr("/", "format_version", int64_t{1});
  f.write_attr("/", "format", std::string("headprune-feature-store"));
}

TEST(FuzzInputs, FeatureStoreFiles) {
  // Whole stores through the reader: open, then read every image padded as both models do.
  const std::string dir = headprune::testing::scratch_dir("fuzz-store");
  std::mt19937_64 rng(kSeed + 3);
  Tally tally{"feature store files"};
  const int64_t n = std::max<int64_t>(10, kIterations / 10);
  for (int64_t i = 0; i < n; ++i) {
    data::FeatureStoreIndex x = valid_index(1 + static_cast<int64_t>(rng() % 5), 4);
    if (i % 10) mutate_index(x, rng);  // every tenth store stays valid: the reader must accept it
    const std::string path = dir + "/s" + std::to_string(i) + ".h5";
    write_store(path, x);
    tally.attempt(i, [&]() -> std::string {
      data::FeatureStore store(path);
      for (const auto& id : store.image_ids()) {
        data::ImageRecord r = store.read(id);
        data::ImageRegions p = store.read_regions(id, data::VisualSpec{"fuzz", 2, store.feature_dim()});
        if (r.num_boxes < 1 || p.num_boxes < 1 || p.num_boxes > 2) return "read an image with a bad box count";
      }
      return "";
    });
    std::filesystem::remove(path);
  }
  EXPECT_GE(tally.ok, n / 10) << "valid stores were refused";
  tally.report();
}

// ---- pickle / npy (MMF's features and annotations) ---------------------------------------------
// Seeds: what Python 3.11 / NumPy 1.24 write. An MMF LMDB entry (a dict with float32 arrays, a
// NumPy scalar, None, a list of float/bool/bytes/tuple) at protocols 2, 4 and 5; an imdb .npy (an
// object array of dicts, header first) and a plain float32 .npy.
#define SEED(lit) std::string(lit, sizeof(lit) - 1)
const std::vector<std::string>& pickle_seeds() {
  static const std::vector<std::string> seeds = {
    SEED("\x80\x02\x7d\x71\x00\x28\x58\x08\x00\x00\x00\x66\x65\x61\x74\x75\x72\x65\x73\x71\x01\x63\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x5f\x72\x65\x63\x6f\x6e\x73\x74\x72\x75\x63\x74\x0a\x71\x02\x63\x6e\x75\x6d\x70\x79\x0a\x6e\x64\x61\x72\x72\x61\x79\x0a\x71\x03\x4b\x00\x85\x71\x04\x63\x5f\x63\x6f\x64\x65\x63\x73\x0a\x65\x6e\x63\x6f\x64\x65\x0a\x71\x05\x58\x01\x00\x00\x00\x62\x71\x06\x58\x06\x00\x00\x00\x6c\x61\x74\x69\x6e\x31\x71\x07\x86\x71\x08\x52\x71\x09\x87\x71\x0a\x52\x71\x0b\x28\x4b\x01\x4b\x02\x4b\x03\x86\x71\x0c\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x71\x0d\x58\x02\x00\x00\x00\x66\x34\x71\x0e\x89\x88\x87\x71\x0f\x52\x71\x10\x28\x4b\x03\x58\x01\x00\x00\x00\x3c\x71\x11\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x71\x12\x62\x89\x68\x05\x58\x1b\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc2\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\xc2\x80\x40\x00\x00\xc2\xa0\x40\x71\x13\x68\x07\x86\x71\x14\x52\x71\x15\x74\x71\x16\x62\x58\x04\x00\x00\x00\x62\x62\x6f\x78\x71\x17\x68\x02\x68\x03\x4b\x00\x85\x71\x18\x68\x09\x87\x71\x19\x52\x71\x1a\x28\x4b\x01\x4b\x02\x4b\x04\x86\x71\x1b\x68\x10\x89\x68\x05\x58\x24\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xc2\x80\x3f\x00\x00\xc2\x80\x3f\x00\x00\xc2\x80\x3f\x00\x00\xc2\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x71\x1c\x68\x07\x86\x71\x1d\x52\x71\x1e\x74\x71\x1f\x62\x58\x0b\x00\x00\x00\x69\x6d\x61\x67\x65\x5f\x77\x69\x64\x74\x68\x71\x20\x63\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x73\x63\x61\x6c\x61\x72\x0a\x71\x21\x68\x0d\x58\x02\x00\x00\x00\x69\x38\x71\x22\x89\x88\x87\x71\x23\x52\x71\x24\x28\x4b\x03\x68\x11\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x71\x25\x62\x68\x05\x58\x09\x00\x00\x00\xc2\x80\x02\x00\x00\x00\x00\x00\x00\x71\x26\x68\x07\x86\x71\x27\x52\x71\x28\x86\x71\x29\x52\x71\x2a\x58\x0c\x00\x00\x00\x69\x6d\x61\x67\x65\x5f\x68\x65\x69\x67\x68\x74\x71\x2b\x4d\xe0\x01\x58\x09\x00\x00\x00\x6e\x75\x6d\x5f\x62\x6f\x78\x65\x73\x71\x2c\x4b\x02\x58\x08\x00\x00\x00\x69\x6d\x61\x67\x65\x5f\x69\x64\x71\x2d\x58\x19\x00\x00\x00\x43\x4f\x43\x4f\x5f\x76\x61\x6c\x32\x30\x31\x34\x5f\x30\x30\x30\x30\x30\x30\x32\x36\x32\x31\x34\x38\x71\x2e\x58\x08\x00\x00\x00\x63\x6c\x73\x5f\x70\x72\x6f\x62\x71\x2f\x4e\x58\x01\x00\x00\x00\x78\x71\x30\x5d\x71\x31\x28\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x88\x68\x05\x58\x01\x00\x00\x00\x6b\x71\x32\x68\x07\x86\x71\x33\x52\x71\x34\x4b\x01\x4b\x02\x86\x71\x35\x65\x75\x2e"),
    SEED("\x80\x04\x95\xb5\x01\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x08\x66\x65\x61\x74\x75\x72\x65\x73\x94\x8c\x15\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x94\x8c\x0c\x5f\x72\x65\x63\x6f\x6e\x73\x74\x72\x75\x63\x74\x94\x93\x94\x8c\x05\x6e\x75\x6d\x70\x79\x94\x8c\x07\x6e\x64\x61\x72\x72\x61\x79\x94\x93\x94\x4b\x00\x85\x94\x43\x01\x62\x94\x87\x94\x52\x94\x28\x4b\x01\x4b\x02\x4b\x03\x86\x94\x68\x05\x8c\x05\x64\x74\x79\x70\x65\x94\x93\x94\x8c\x02\x66\x34\x94\x89\x88\x87\x94\x52\x94\x28\x4b\x03\x8c\x01\x3c\x94\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x94\x62\x89\x43\x18\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x94\x74\x94\x62\x8c\x04\x62\x62\x6f\x78\x94\x68\x04\x68\x07\x4b\x00\x85\x94\x68\x09\x87\x94\x52\x94\x28\x4b\x01\x4b\x02\x4b\x04\x86\x94\x68\x11\x89\x43\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x94\x74\x94\x62\x8c\x0b\x69\x6d\x61\x67\x65\x5f\x77\x69\x64\x74\x68\x94\x68\x02\x8c\x06\x73\x63\x61\x6c\x61\x72\x94\x93\x94\x68\x0e\x8c\x02\x69\x38\x94\x89\x88\x87\x94\x52\x94\x28\x4b\x03\x68\x12\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x94\x62\x43\x08\x80\x02\x00\x00\x00\x00\x00\x00\x94\x86\x94\x52\x94\x8c\x0c\x69\x6d\x61\x67\x65\x5f\x68\x65\x69\x67\x68\x74\x94\x4d\xe0\x01\x8c\x09\x6e\x75\x6d\x5f\x62\x6f\x78\x65\x73\x94\x4b\x02\x8c\x08\x69\x6d\x61\x67\x65\x5f\x69\x64\x94\x8c\x19\x43\x4f\x43\x4f\x5f\x76\x61\x6c\x32\x30\x31\x34\x5f\x30\x30\x30\x30\x30\x30\x32\x36\x32\x31\x34\x38\x94\x8c\x08\x63\x6c\x73\x5f\x70\x72\x6f\x62\x94\x4e\x8c\x01\x78\x94\x5d\x94\x28\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x88\x43\x01\x6b\x94\x4b\x01\x4b\x02\x86\x94\x65\x75\x2e"),
    SEED("\x80\x05\x95\xb1\x01\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x08\x66\x65\x61\x74\x75\x72\x65\x73\x94\x8c\x12\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6e\x75\x6d\x65\x72\x69\x63\x94\x8c\x0b\x5f\x66\x72\x6f\x6d\x62\x75\x66\x66\x65\x72\x94\x93\x94\x28\x96\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x94\x8c\x05\x6e\x75\x6d\x70\x79\x94\x8c\x05\x64\x74\x79\x70\x65\x94\x93\x94\x8c\x02\x66\x34\x94\x89\x88\x87\x94\x52\x94\x28\x4b\x03\x8c\x01\x3c\x94\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x94\x62\x4b\x02\x4b\x03\x86\x94\x8c\x01\x43\x94\x74\x94\x52\x94\x8c\x04\x62\x62\x6f\x78\x94\x68\x04\x28\x96\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x94\x68\x0b\x4b\x02\x4b\x04\x86\x94\x68\x0f\x74\x94\x52\x94\x8c\x0b\x69\x6d\x61\x67\x65\x5f\x77\x69\x64\x74\x68\x94\x8c\x15\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x94\x8c\x06\x73\x63\x61\x6c\x61\x72\x94\x93\x94\x68\x08\x8c\x02\x69\x38\x94\x89\x88\x87\x94\x52\x94\x28\x4b\x03\x68\x0c\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x00\x74\x94\x62\x43\x08\x80\x02\x00\x00\x00\x00\x00\x00\x94\x86\x94\x52\x94\x8c\x0c\x69\x6d\x61\x67\x65\x5f\x68\x65\x69\x67\x68\x74\x94\x4d\xe0\x01\x8c\x09\x6e\x75\x6d\x5f\x62\x6f\x78\x65\x73\x94\x4b\x02\x8c\x08\x69\x6d\x61\x67\x65\x5f\x69\x64\x94\x8c\x19\x43\x4f\x43\x4f\x5f\x76\x61\x6c\x32\x30\x31\x34\x5f\x30\x30\x30\x30\x30\x30\x32\x36\x32\x31\x34\x38\x94\x8c\x08\x63\x6c\x73\x5f\x70\x72\x6f\x62\x94\x4e\x8c\x01\x78\x94\x5d\x94\x28\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x88\x43\x01\x6b\x94\x4b\x01\x4b\x02\x86\x94\x65\x75\x2e")};
  return seeds;
}
const std::vector<std::string>& npy_seeds() {
  static const std::vector<std::string> seeds = {
    SEED("\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63\x72\x27\x3a\x20\x27\x7c\x4f\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x80\x03\x63\x6e\x75\x6d\x70\x79\x2e\x63\x6f\x72\x65\x2e\x6d\x75\x6c\x74\x69\x61\x72\x72\x61\x79\x0a\x5f\x72\x65\x63\x6f\x6e\x73\x74\x72\x75\x63\x74\x0a\x71\x00\x63\x6e\x75\x6d\x70\x79\x0a\x6e\x64\x61\x72\x72\x61\x79\x0a\x71\x01\x4b\x00\x85\x71\x02\x43\x01\x62\x71\x03\x87\x71\x04\x52\x71\x05\x28\x4b\x01\x4b\x02\x85\x71\x06\x63\x6e\x75\x6d\x70\x79\x0a\x64\x74\x79\x70\x65\x0a\x71\x07\x58\x02\x00\x00\x00\x4f\x38\x71\x08\x89\x88\x87\x71\x09\x52\x71\x0a\x28\x4b\x03\x58\x01\x00\x00\x00\x7c\x71\x0b\x4e\x4e\x4e\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\xff\x4b\x3f\x74\x71\x0c\x62\x89\x5d\x71\x0d\x28\x7d\x71\x0e\x58\x07\x00\x00\x00\x76\x65\x72\x73\x69\x6f\x6e\x71\x0f\x4b\x01\x73\x7d\x71\x10\x28\x58\x0b\x00\x00\x00\x71\x75\x65\x73\x74\x69\x6f\x6e\x5f\x69\x64\x71\x11\x4b\x07\x58\x0a\x00\x00\x00\x69\x6d\x61\x67\x65\x5f\x6e\x61\x6d\x65\x71\x12\x58\x19\x00\x00\x00\x43\x4f\x43\x4f\x5f\x76\x61\x6c\x32\x30\x31\x34\x5f\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x31\x71\x13\x58\x0c\x00\x00\x00\x71\x75\x65\x73\x74\x69\x6f\x6e\x5f\x73\x74\x72\x71\x14\x58\x0a\x00\x00\x00\x69\x73\x20\x69\x74\x20\x72\x65\x64\x3f\x71\x15\x58\x07\x00\x00\x00\x61\x6e\x73\x77\x65\x72\x73\x71\x16\x5d\x71\x17\x28\x58\x03\x00\x00\x00\x79\x65\x73\x71\x18\x68\x18\x68\x18\x68\x18\x68\x18\x68\x18\x68\x18\x68\x18\x68\x18\x68\x18\x65\x75\x65\x74\x71\x19\x62\x2e"),
    SEED("\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20\x32\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f")};
  return seeds;
}
#undef SEED

// Every value an accepted document holds must be walkable without tripping over the arena.
int64_t walk(const data::PickleValue* v, int depth = 0) {
  if (!v || depth > 200) return 0;
  int64_t n = 1;
  for (const auto* item : v->items) n += walk(item, depth + 1);
  for (const auto& [k, val] : v->entries) n += walk(k, depth + 1) + walk(val, depth + 1);
  if (v->kind == data::PickleValue::Kind::array && v->array.kind != 'O' &&
      static_cast<int64_t>(v->array.data.size()) != v->array.size() * v->array.itemsize)
    return -1'000'000;  // data and shape disagree: a reader would read out of bounds
  return n;
}

TEST(FuzzInputs, PickleAndNpy) {
  for (const auto& s : pickle_seeds()) ASSERT_GT(walk(&data::parse_pickle(s, "seed")->root()), 10);
  for (const auto& s : npy_seeds()) ASSERT_GT(walk(&data::parse_npy(s, "seed")->root()), 0);
  std::mt19937_64 rng(kSeed + 4);
  for (const bool npy : {false, true}) {
    Tally tally{npy ? "npy" : "pickle"};
    const auto& seeds = npy ? npy_seeds() : pickle_seeds();
    for (int64_t i = 0; i < kIterations; ++i) {
      const std::string input = mutate_bytes(seeds[static_cast<size_t>(i) % seeds.size()], rng);
      tally.attempt(i, [&]() -> std::string {
        auto doc = npy ? data::parse_npy(input, "fuzz") : data::parse_pickle(input, "fuzz");
        return walk(&doc->root()) < 0 ? "accepted an array whose data does not match its shape" : "";
      });
    }
    tally.report();
  }
}

}  // namespace
