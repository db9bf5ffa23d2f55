#include "headprune/data/lmdb_import.hpp"

#include <lmdb.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "headprune/common/error.hpp"
#include "headprune/common/stop_signal.hpp"
#include "headprune/data/pickle.hpp"
#include "headprune/io/output_path.hpp"

namespace headprune::data {

namespace {

using Kind = PickleValue::Kind;

// Keys are bytes; show them as text when printable, else as Python would ("b'\x00...'").
std::string show_key(std::string_view key) {
  std::string s;
  for (char c : key.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7f) {
      s += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      s += buf;
    }
  }
  return key.size() > 80 ? s + "..." : s;
}

std::string field_list(const PickleValue& dict) {
  std::string s;
  for (const auto& [k, v] : dict.entries)
    if (k->kind == Kind::string || k->kind == Kind::bytes) s += (s.empty() ? "" : ", ") + show_key(k->text);
  return s.empty() ? "none" : s;
}

const PickleArray& float_array(const PickleValue* v, const char* field, int64_t rows, int64_t cols,
                               const std::string& where) {
  if (v->kind != Kind::array || v->array.kind != 'f' || v->array.shape.size() != 2 ||
      (rows >= 0 && v->array.shape[0] != rows) || (cols >= 0 && v->array.shape[1] != cols))
    throw UserError(where + ": '" + field + "' is " + v->describe() + ", expected a float array [" +
                    (rows >= 0 ? std::to_string(rows) : std::string("N")) + ", " +
                    (cols >= 0 ? std::to_string(cols) : std::string("D")) + "]");
  return v->array;
}

int64_t positive_int(const PickleValue* v, const char* field, const std::string& where) {
  if (v->kind == Kind::integer && v->integer > 0) return v->integer;
  if (v->kind == Kind::floating && v->floating >= 1 && v->floating < 1e9 && v->floating == std::floor(v->floating))
    return static_cast<int64_t>(v->floating);
  if (v->kind == Kind::array && v->array.kind != 'O' && v->array.size() == 1) {  // a 0-d or [1] array
    double d = v->array.element_as_double(0);
    if (d >= 1 && d < 1e9 && d == std::floor(d)) return static_cast<int64_t>(d);
  }
  throw UserError(where + ": '" + field + "' is " + v->describe() + ", expected a positive integer");
}

// float16/32/64 -> float32, as MMF's reader (np.zeros(float32)[...] = features) converts.
void to_float32(const PickleArray& a, std::vector<float>& out) {
  const int64_t n = a.size();
  out.resize(static_cast<size_t>(n));
  if (a.itemsize == 4) {
    std::memcpy(out.data(), a.data.data(), static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<float>(a.element_as_double(i));
}

}  // namespace

ImageRecord parse_mmf_feature_entry(const std::string& key, std::string_view pickle_bytes, const std::string& where) {
  auto doc = parse_pickle(pickle_bytes, where);
  const PickleValue& entry = doc->root();
  if (entry.kind != Kind::dict) throw UserError(where + ": holds " + entry.describe() + ", expected a dict with 'features'");
  const PickleValue* features = entry.get("features");
  if (!features) throw UserError(where + ": no 'features' (keys: " + field_list(entry) + ")");
  const PickleArray& f = float_array(features, "features", -1, -1, where);
  if (f.shape[0] < 1 || f.shape[1] < 1) throw UserError(where + ": 'features' is " + features->describe() + ", expected at least one box");
  ImageRecord r;
  r.img_id = key;
  r.num_boxes = f.shape[0];
  r.feature_dim = f.shape[1];
  to_float32(f, r.features);

  for (const char* field : {"bbox", "image_width", "image_height"})
    if (!entry.get(field) || entry.get(field)->is_none())
      throw UserError(where + ": no '" + field + "' (keys: " + field_list(entry) + "; the store keeps boxes and image sizes)");
  to_float32(float_array(entry.get("bbox"), "bbox", r.num_boxes, 4, where), r.boxes);
  r.image_w = positive_int(entry.get("image_width"), "image_width", where);
  r.image_h = positive_int(entry.get("image_height"), "image_height", where);

  const auto nb = static_cast<size_t>(r.num_boxes);
  r.objects_id.assign(nb, -1);
  r.objects_conf.assign(nb, 0.0f);
  r.attrs_id.assign(nb, -1);
  r.attrs_conf.assign(nb, 0.0f);
  const PickleValue* objects = entry.get("objects");
  if (objects && !objects->is_none()) {
    const PickleArray& o = objects->array;
    if (objects->kind != Kind::array || (o.kind != 'i' && o.kind != 'u') || o.shape.size() != 1 || o.shape[0] != r.num_boxes)
      throw UserError(where + ": 'objects' is " + objects->describe() + ", expected an int array [" +
                      std::to_string(r.num_boxes) + "]");
    for (size_t i = 0; i < nb; ++i) r.objects_id[i] = static_cast<int64_t>(o.element_as_double(static_cast<int64_t>(i)));
    const PickleValue* cls_prob = entry.get("cls_prob");
    if (cls_prob && !cls_prob->is_none()) {
      const PickleArray& p = float_array(cls_prob, "cls_prob", r.num_boxes, -1, where);
      for (size_t i = 0; i < nb; ++i)
        if (r.objects_id[i] >= 0 && r.objects_id[i] < p.shape[1])
          r.objects_conf[i] = static_cast<float>(p.element_as_double(static_cast<int64_t>(i) * p.shape[1] + r.objects_id[i]));
    }
  }
  return r;
}

namespace {

// RAII for the read-only environment and its transaction.
struct Lmdb {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  ~Lmdb() {
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
  }
};

void check(int rc, const std::string& path, const char* what) {
  if (rc != MDB_SUCCESS) throw UserError(path + ": " + what + ": " + mdb_strerror(rc) + " (expected an LMDB database)");
}

std::string_view get(Lmdb& db, std::string_view key, const std::string& path, bool* found) {
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v{0, nullptr};
  int rc = mdb_get(db.txn, db.dbi, &k, &v);
  *found = rc == MDB_SUCCESS;
  if (rc == MDB_NOTFOUND) return {};
  check(rc, path, "read failed");
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace

TsvImportResult import_mmf_lmdb(const std::string& lmdb_path, const std::string& out_path, const TsvImportOptions& options) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  std::error_code ec;
  const bool is_dir = fs::is_directory(lmdb_path, ec);
  if (is_dir ? !fs::is_regular_file(fs::path(lmdb_path) / "data.mdb", ec) : !fs::is_regular_file(lmdb_path, ec))
    throw UserError(lmdb_path + ": not found (expected an MMF LMDB: a folder with data.mdb, or the data file itself)");
  io::check_output_file(out_path, options.overwrite, "--overwrite");
  io::OutputLock lock(out_path);  // a second import to the same file stops here, naming this one
  const std::string partial = out_path + ".partial";

  Lmdb db;
  check(mdb_env_create(&db.env), lmdb_path, "cannot create an LMDB environment");
  check(mdb_env_set_maxdbs(db.env, 1), lmdb_path, "cannot configure the environment");
  check(mdb_env_open(db.env, lmdb_path.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NORDAHEAD | (is_dir ? 0 : MDB_NOSUBDIR), 0444),
        lmdb_path, "cannot open");
  check(mdb_txn_begin(db.env, nullptr, MDB_RDONLY, &db.txn), lmdb_path, "cannot start a read transaction");
  check(mdb_dbi_open(db.txn, nullptr, 0, &db.dbi), lmdb_path, "cannot open the main database");

  // The key list, in MMF's order.
  bool found = false;
  std::string_view keys_bytes = get(db, "keys", lmdb_path, &found);
  if (!found)
    throw UserError(lmdb_path + ": entry 'keys': missing (an MMF feature LMDB lists its image keys there; "
                                "written by MMF's lmdb_conversion.py)");
  std::vector<std::string> keys;
  {
    auto doc = parse_pickle(keys_bytes, lmdb_path + ": entry 'keys'");
    const PickleValue& list = doc->root();
    if (!list.is_sequence())
      throw UserError(lmdb_path + ": entry 'keys': holds " + list.describe() + ", expected a list of image keys");
    for (size_t i = 0; i < list.items.size(); ++i) {
      const PickleValue* k = list.items[i];
      if (!(k->is_bytes() || k->is_string()) || k->text.empty())
        throw UserError(lmdb_path + ": entry 'keys': item " + std::to_string(i) + " is " + k->describe() +
                        ", expected an image key (bytes)");
      keys.push_back(k->text);
    }
  }
  if (keys.empty()) throw UserError(lmdb_path + ": entry 'keys': the list is empty (no images)");

  TsvImportResult result;
  const auto t0 = Clock::now();
  auto last_report = t0;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  spdlog::info("import-features: {} ({} images) -> {}", lmdb_path, keys.size(), out_path);
  try {
    FeatureStoreWriter writer(partial, {options.compression, lmdb_path});
    for (size_t i = 0; i < keys.size(); ++i) {
      if (stop_requested())
        throw StoppedBySignal("import-features: stopped by a signal at " + lmdb_path + " entry " + std::to_string(i) +
                              "; nothing was written (rerun the same command to import)");
      const std::string where = lmdb_path + ": entry '" + show_key(keys[i]) + "'";
      std::string_view bytes = get(db, keys[i], lmdb_path, &found);
      if (!found) throw UserError(where + ": listed in 'keys' but not in the database");
      result.bytes += static_cast<int64_t>(bytes.size());
      ImageRecord record = parse_mmf_feature_entry(keys[i], bytes, where);
      if (!record.all_finite() && options.skip_nonfinite) {
        ++result.skipped_nonfinite;
        result.skipped_ids.push_back(record.img_id);
        spdlog::warn("import-features: {}: NaN/Inf features or boxes, skipped", where);
      } else {
        writer.append(record, where);
      }
      if (options.on_image) options.on_image(static_cast<int64_t>(i + 1), result.bytes);
      auto now = Clock::now();
      if (options.progress_interval_s > 0 &&
          std::chrono::duration<double>(now - last_report).count() >= options.progress_interval_s) {
        last_report = now;
        const double t = elapsed();
        spdlog::info("import-features: {} of {} images ({:.0f}%), {:.0f} images/s", i + 1, keys.size(),
                     100.0 * static_cast<double>(i + 1) / static_cast<double>(keys.size()),
                     static_cast<double>(i + 1) / std::max(t, 1e-9));
      }
    }
    if (writer.num_images() == 0)
      throw UserError(lmdb_path + ": no images left after skipping " + std::to_string(result.skipped_nonfinite) +
                      " with NaN/Inf values");
    writer.finish();
    result.images = writer.num_images();
    result.boxes = writer.num_boxes();
    result.feature_dim = writer.feature_dim();
  } catch (...) {
    fs::remove(partial, ec);
    throw;
  }
  fs::rename(partial, out_path, ec);
  if (ec) throw RuntimeFailure(out_path + ": cannot rename " + partial + " to it: " + ec.message());
  result.seconds = elapsed();
  spdlog::info("import-features: wrote {} images, {} boxes, {}-d features to {} in {:.1f} s{}", result.images,
               result.boxes, result.feature_dim, out_path, result.seconds,
               result.skipped_nonfinite ? " (skipped " + std::to_string(result.skipped_nonfinite) + " with NaN/Inf)" : "");
  return result;
}

}  // namespace headprune::data
