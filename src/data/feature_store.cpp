#include "headprune/data/feature_store.hpp"

#include <hdf5.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "headprune/common/error.hpp"
#include "headprune/data/selection.hpp"
#include "headprune/io/h5.hpp"

namespace headprune::data {


bool ImageRecord::all_finite() const {
  for (float v : features)
    if (!std::isfinite(v)) return false;
  for (float v : boxes)
    if (!std::isfinite(v)) return false;
  return true;
}

std::vector<float> ImageRecord::normalized_boxes() const {
  std::vector<float> out(boxes.size());
  const float w = static_cast<float>(image_w), h = static_cast<float>(image_h);
  for (size_t i = 0; i + 3 < boxes.size(); i += 4) {
    out[i] = boxes[i] / w;
    out[i + 1] = boxes[i + 1] / h;
    out[i + 2] = boxes[i + 2] / w;
    out[i + 3] = boxes[i + 3] / h;
  }
  return out;
}

namespace {

constexpr const char* kFormat = "headprune-feature-store";
constexpr int64_t kFormatVersion = 1;

// Closes an hid_t of any kind when it goes out of scope.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = -1;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// First non-finite value in [data, data + n), or -1.
int64_t first_nonfinite(const float* data, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i])) return static_cast<int64_t>(i);
  return -1;
}

std::string describe_value(float v) { return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

// An extensible dataset of rows [n, width] (width 0: [n]) appended block by block.
struct Column {
  Column(std::string n, hid_t type, hsize_t w = 0) : name(std::move(n)), mem_type(type), width(w) {}
  std::string name;
  hid_t mem_type;
  hsize_t width;  ///< 0 for a [n] dataset
  Handle ds;
  hsize_t rows = 0;

  void create(hid_t file, hid_t file_type, hsize_t chunk_rows, int compression, const std::string& where) {
    int rank = width ? 2 : 1;
    hsize_t dims[2] = {0, width}, maxdims[2] = {H5S_UNLIMITED, width}, chunk[2] = {chunk_rows, width};
    Handle space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl.get(), rank, chunk);
    if (compression > 0) {
      // Byte shuffle helps gzip on numbers; strings get deflate only.
      if (H5Tget_class(file_type) != H5T_STRING) H5Pset_shuffle(dcpl.get());
      H5Pset_deflate(dcpl.get(), static_cast<unsigned>(compression));
    }
    // A cache of two chunks (1 MiB at least) keeps the partially written last chunk between
    // flushes, so compressed chunks are not read back and rewritten, while fully written chunks
    // (preempted first: w0 = 1) leave memory. The default (1 MiB) would not hold two 512 KiB
    // feature chunks, and a larger one would just fill with finished chunks.
    size_t chunk_bytes = static_cast<size_t>(chunk_rows) * std::max<size_t>(width, 1) * H5Tget_size(file_type);
    Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
    H5Pset_chunk_cache(dapl.get(), 521, std::max<size_t>(1u << 20, 2 * chunk_bytes + 4096), 1.0);
    ds = Handle(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), dapl.get()), H5Dclose);
    if (!ds.ok()) throw RuntimeFailure(where + ":" + name + ": cannot create dataset");
  }

  void append(const void* data, hsize_t n, const std::string& where) {
    if (n == 0) return;
    int rank = width ? 2 : 1;
    hsize_t new_dims[2] = {rows + n, width};
    if (H5Dset_extent(ds.get(), new_dims) < 0) throw RuntimeFailure(where + ":" + name + ": cannot extend dataset");
    Handle fspace(H5Dget_space(ds.get()), H5Sclose);
    hsize_t start[2] = {rows, 0}, count[2] = {n, width};
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    Handle mspace(H5Screate_simple(rank, count, nullptr), H5Sclose);
    if (H5Dwrite(ds.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0)
      throw RuntimeFailure(where + ":" + name + ": write failed (disk full?)");
    rows += n;
  }
};

struct FeatureStoreWriter::Impl {
  std::string path;
  Options options;
  h5::File file;
  int64_t feature_dim = 0;
  int64_t images = 0;
  int64_t boxes_total = 0;
  int64_t max_boxes = 0;
  bool finished = false;
  std::unordered_set<std::string> ids_seen;
  size_t flush_rows = 0;

  Column features{"/features", H5T_NATIVE_FLOAT}, boxes{"/boxes", H5T_NATIVE_FLOAT, 4};
  Column objects_id{"/objects_id", H5T_NATIVE_INT64}, objects_conf{"/objects_conf", H5T_NATIVE_FLOAT};
  Column attrs_id{"/attrs_id", H5T_NATIVE_INT64}, attrs_conf{"/attrs_conf", H5T_NATIVE_FLOAT};
  Column image_ids{"/image_ids", -1}, image_h{"/image_h", H5T_NATIVE_INT64}, image_w{"/image_w", H5T_NATIVE_INT64};
  Column num_boxes{"/num_boxes", H5T_NATIVE_INT64}, box_offset{"/box_offset", H5T_NATIVE_INT64};
  Handle string_type;

  // Buffered rows not yet written.
  std::vector<float> buf_features, buf_boxes, buf_objects_conf, buf_attrs_conf;
  std::vector<int64_t> buf_objects_id, buf_attrs_id;
  std::vector<std::string> buf_ids;
  std::vector<int64_t> buf_h, buf_w, buf_nb, buf_offset;

  Impl(const std::string& p, const Options& o) : path(p), options(o), file(p, h5::File::Mode::create_truncate) {}

  void create_datasets() {
    if (options.compression > 0 && !H5Zfilter_avail(H5Z_FILTER_DEFLATE))
      throw RuntimeFailure(path + ": this HDF5 library has no gzip filter; import without --compress");
    string_type = vlen_string_type();
    image_ids.mem_type = string_type.get();
    features.width = static_cast<hsize_t>(feature_dim);
    // ~512 KiB feature chunks: one image's 36 x 2048 rows span one or two chunks.
    hsize_t feature_chunk = static_cast<hsize_t>(std::clamp<int64_t>((512 << 10) / (4 * feature_dim), 1, 4096));
    const int c = options.compression;
    features.create(file.id(), H5T_IEEE_F32LE, feature_chunk, c, path);
    boxes.create(file.id(), H5T_IEEE_F32LE, 4096, c, path);
    objects_id.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    objects_conf.create(file.id(), H5T_IEEE_F32LE, 4096, c, path);
    attrs_id.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    attrs_conf.create(file.id(), H5T_IEEE_F32LE, 4096, c, path);
    image_ids.create(file.id(), string_type.get(), 4096, c, path);
    image_h.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    image_w.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    num_boxes.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    box_offset.create(file.id(), H5T_STD_I64LE, 4096, c, path);
    int64_t zero = 0;
    box_offset.append(&zero, 1, path);
    // Flush every ~8 MiB of features.
    flush_rows = static_cast<size_t>(std::max<int64_t>(64, (8 << 20) / (4 * feature_dim)));
  }

  void flush() {
    if (buf_ids.empty()) return;
    auto rows = static_cast<hsize_t>(buf_objects_id.size());
    features.append(buf_features.data(), rows, path);
    boxes.append(buf_boxes.data(), rows, path);
    objects_id.append(buf_objects_id.data(), rows, path);
    objects_conf.append(buf_objects_conf.data(), rows, path);
    attrs_id.append(buf_attrs_id.data(), rows, path);
    attrs_conf.append(buf_attrs_conf.data(), rows, path);
    std::vector<const char*> ptrs;
    ptrs.reserve(buf_ids.size());
    for (const auto& s : buf_ids) ptrs.push_back(s.c_str());
    auto n = static_cast<hsize_t>(buf_ids.size());
    image_ids.append(ptrs.data(), n, path);
    image_h.append(buf_h.data(), n, path);
    image_w.append(buf_w.data(), n, path);
    num_boxes.append(buf_nb.data(), n, path);
    box_offset.append(buf_offset.data(), n, path);
    // clear() keeps the capacity: memory stays at one block.
    buf_features.clear();
    buf_boxes.clear();
    buf_objects_id.clear();
    buf_objects_conf.clear();
    buf_attrs_id.clear();
    buf_attrs_conf.clear();
    buf_ids.clear();
    buf_h.clear();
    buf_w.clear();
    buf_nb.clear();
    buf_offset.clear();
  }
};

FeatureStoreWriter::FeatureStoreWriter(const std::string& path, const Options& options) {
  if (options.compression < 0 || options.compression > 9)
    throw UserError(path + ": compression level " + std::to_string(options.compression) + " (expected 0..9)");
  impl_ = std::make_unique<Impl>(path, options);
}

FeatureStoreWriter::~FeatureStoreWriter() = default;

int64_t FeatureStoreWriter::num_images() const { return impl_->images; }
int64_t FeatureStoreWriter::num_boxes() const { return impl_->boxes_total; }
int64_t FeatureStoreWriter::feature_dim() const { return impl_->feature_dim; }

void FeatureStoreWriter::append(const ImageRecord& r, const std::string& where) {
  HP_ASSERT(!impl_->finished, "append after finish");
  auto& w = *impl_;
  const std::string at = where + ": image " + r.img_id;
  if (r.img_id.empty()) throw UserError(where + ": empty image id");
  if (r.num_boxes < 1) throw UserError(at + ": num_boxes is " + std::to_string(r.num_boxes) + ", expected at least 1");
  if (r.image_h <= 0 || r.image_w <= 0)
    throw UserError(at + ": image size " + std::to_string(r.image_w) + "x" + std::to_string(r.image_h) +
                    " (expected positive img_w and img_h)");
  if (r.feature_dim < 1) throw UserError(at + ": feature size " + std::to_string(r.feature_dim) + ", expected at least 1");
  const auto nb = static_cast<size_t>(r.num_boxes);
  HP_ASSERT(r.features.size() == nb * static_cast<size_t>(r.feature_dim) && r.boxes.size() == nb * 4 &&
                r.objects_id.size() == nb && r.objects_conf.size() == nb && r.attrs_id.size() == nb &&
                r.attrs_conf.size() == nb,
            "ImageRecord arrays do not match num_boxes/feature_dim");
  if (w.feature_dim == 0) {
    w.feature_dim = r.feature_dim;
    w.create_datasets();
  } else if (r.feature_dim != w.feature_dim) {
    throw UserError(at + ": features are " + std::to_string(r.feature_dim) + "-d but earlier images' are " +
                    std::to_string(w.feature_dim) + "-d (a store holds one detector's features)");
  }
  if (int64_t i = first_nonfinite(r.features.data(), r.features.size()); i >= 0)
    throw UserError(at + ": " + describe_value(r.features[static_cast<size_t>(i)]) + " feature at box " +
                    std::to_string(i / r.feature_dim) + ", dimension " + std::to_string(i % r.feature_dim) +
                    " (expected finite values; re-extract this image, or import with --skip-nonfinite)");
  if (int64_t i = first_nonfinite(r.boxes.data(), r.boxes.size()); i >= 0)
    throw UserError(at + ": " + describe_value(r.boxes[static_cast<size_t>(i)]) + " box coordinate at box " +
                    std::to_string(i / 4) + " (expected finite values; re-extract this image, or import with --skip-nonfinite)");
  if (!w.ids_seen.insert(r.img_id).second) throw UserError(at + ": image id appears twice");

  w.buf_features.insert(w.buf_features.end(), r.features.begin(), r.features.end());
  w.buf_boxes.insert(w.buf_boxes.end(), r.boxes.begin(), r.boxes.end());
  w.buf_objects_id.insert(w.buf_objects_id.end(), r.objects_id.begin(), r.objects_id.end());
  w.buf_objects_conf.insert(w.buf_objects_conf.end(), r.objects_conf.begin(), r.objects_conf.end());
  w.buf_attrs_id.insert(w.buf_attrs_id.end(), r.attrs_id.begin(), r.attrs_id.end());
  w.buf_attrs_conf.insert(w.buf_attrs_conf.end(), r.attrs_conf.begin(), r.attrs_conf.end());
  w.buf_ids.push_back(r.img_id);
  w.buf_h.push_back(r.image_h);
  w.buf_w.push_back(r.image_w);
  w.buf_nb.push_back(r.num_boxes);
  w.boxes_total += r.num_boxes;
  w.buf_offset.push_back(w.boxes_total);
  w.max_boxes = std::max(w.max_boxes, r.num_boxes);
  ++w.images;
  if (w.buf_objects_id.size() >= w.flush_rows || w.buf_ids.size() >= 4096) w.flush();
}

void FeatureStoreWriter::finish() {
  auto& w = *impl_;
  HP_ASSERT(!w.finished, "finish called twice");
  if (w.images == 0) throw UserError(w.path + ": no images to write");
  w.flush();
  w.file.write_attr("/", "num_images", w.images);
  w.file.write_attr("/", "num_boxes_total", w.boxes_total);
  w.file.write_attr("/", "max_boxes", w.max_boxes);
  w.file.write_attr("/", "feature_dim", w.feature_dim);
  w.file.write_attr("/", "source", w.options.source);
  w.file.write_attr("/", "format_version", kFormatVersion);
  // Last: its presence marks a complete store.
  w.file.write_attr("/", "format", std::string(kFormat));
  w.file.flush();
  w.finished = true;
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

struct FeatureStore::Impl {
  std::string path;
  h5::File file;
  int64_t feature_dim = 0;
  int64_t max_boxes = 0;
  std::vector<std::string> ids;
  std::vector<int64_t> image_h, image_w, offset;
  std::unordered_map<std::string, int64_t> by_id;
  std::unordered_map<std::string, int64_t> by_key;  // ImageExclusion::image_key spelling
  Handle features, boxes, objects_id, objects_conf, attrs_id, attrs_conf;

  explicit Impl(const std::string& p) : path(p), file(p, h5::File::Mode::read) {}

  Handle open(const std::string& name) {
    Handle h(H5Dopen2(file.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!h.ok()) throw UserError(path + ":" + name + ": missing (not a complete feature store)");
    return h;
  }

  int64_t find(const std::string& img_id) const {
    if (auto it = by_id.find(img_id); it != by_id.end()) return it->second;
    if (auto it = by_key.find(ImageExclusion::image_key(img_id)); it != by_key.end()) return it->second;
    return -1;
  }

  // Rows [row, row + n) of a [B, width] (or [B]) dataset into out.
  void read_rows(const Handle& ds, const char* name, hid_t mem_type, hsize_t width, int64_t row, int64_t n,
                 void* out) const {
    if (n == 0) return;
    int rank = width ? 2 : 1;
    Handle fspace(H5Dget_space(ds.get()), H5Sclose);
    hsize_t start[2] = {static_cast<hsize_t>(row), 0}, count[2] = {static_cast<hsize_t>(n), width};
    Handle mspace(H5Screate_simple(rank, count, nullptr), H5Sclose);
    if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0 ||
        H5Dread(ds.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, out) < 0)
      throw UserError(path + ":" + name + ": cannot read rows " + std::to_string(row) + ".." +
                      std::to_string(row + n - 1) + " (file truncated or corrupt?)");
  }

  // The first `n` boxes of image `index`; features and boxes checked for NaN/Inf.
  ImageRecord read(int64_t index, int64_t n_keep, bool labels) const {
    ImageRecord r;
    auto i = static_cast<size_t>(index);
    r.img_id = ids[i];
    r.image_h = image_h[i];
    r.image_w = image_w[i];
    r.feature_dim = feature_dim;
    int64_t row = offset[i];
    r.num_boxes = std::min(offset[i + 1] - row, n_keep);
    auto nb = static_cast<size_t>(r.num_boxes);
    r.features.resize(nb * static_cast<size_t>(feature_dim));
    r.boxes.resize(nb * 4);
    read_rows(features, "/features", H5T_NATIVE_FLOAT, static_cast<hsize_t>(feature_dim), row, r.num_boxes,
              r.features.data());
    read_rows(boxes, "/boxes", H5T_NATIVE_FLOAT, 4, row, r.num_boxes, r.boxes.data());
    if (labels) {
      r.objects_id.resize(nb);
      r.objects_conf.resize(nb);
      r.attrs_id.resize(nb);
      r.attrs_conf.resize(nb);
      read_rows(objects_id, "/objects_id", H5T_NATIVE_INT64, 0, row, r.num_boxes, r.objects_id.data());
      read_rows(objects_conf, "/objects_conf", H5T_NATIVE_FLOAT, 0, row, r.num_boxes, r.objects_conf.data());
      read_rows(attrs_id, "/attrs_id", H5T_NATIVE_INT64, 0, row, r.num_boxes, r.attrs_id.data());
      read_rows(attrs_conf, "/attrs_conf", H5T_NATIVE_FLOAT, 0, row, r.num_boxes, r.attrs_conf.data());
    }
    if (int64_t k = first_nonfinite(r.features.data(), r.features.size()); k >= 0)
      throw UserError(path + ": image " + r.img_id + ": " + describe_value(r.features[static_cast<size_t>(k)]) +
                      " feature at box " + std::to_string(k / feature_dim) + ", dimension " +
                      std::to_string(k % feature_dim) + " (expected finite values; re-import this image's features)");
    if (int64_t k = first_nonfinite(r.boxes.data(), r.boxes.size()); k >= 0)
      throw UserError(path + ": image " + r.img_id + ": " + describe_value(r.boxes[static_cast<size_t>(k)]) +
                      " box coordinate at box " + std::to_string(k / 4) +
                      " (expected finite values; re-import this image's features)");
    return r;
  }
};

void validate_feature_store_index(const FeatureStoreIndex& x, const std::string& path) {
  auto corrupt = [&](const std::string& what) { throw UserError(path + ": corrupt feature store index: " + what); };
  const size_t n = x.ids.size();
  // Sizes first: everything below is sized or indexed by them.
  if (x.feature_dim < 1 || x.feature_dim > (1 << 20))
    corrupt("attribute feature_dim is " + std::to_string(x.feature_dim) + " (expected 1 to 1048576)");
  if (n == 0) corrupt("/image_ids is empty");
  if (x.num_images != static_cast<int64_t>(n))
    corrupt("attribute num_images is " + std::to_string(x.num_images) + " but /image_ids has " + std::to_string(n));
  if (x.image_h.size() != n || x.image_w.size() != n || x.num_boxes.size() != n || x.box_offset.size() != n + 1)
    corrupt("/image_ids, /image_h, /image_w, /num_boxes and /box_offset disagree in length");
  if (x.box_offset[0] != 0) corrupt("/box_offset[0] is " + std::to_string(x.box_offset[0]) + " (expected 0)");
  int64_t most = 0;
  std::unordered_set<std::string> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string image = "image " + (x.ids[i].empty() ? "#" + std::to_string(i) : x.ids[i]);
    if (x.ids[i].empty()) corrupt("/image_ids: entry " + std::to_string(i) + " is empty");
    if (!seen.insert(x.ids[i]).second) corrupt("/image_ids: " + image + " appears twice");
    if (x.image_h[i] < 1 || x.image_w[i] < 1)
      corrupt("/image_h, /image_w of " + image + " are " + std::to_string(x.image_h[i]) + ", " +
              std::to_string(x.image_w[i]) + " (expected positive pixel sizes)");
    // The bound keeps the running offset far from overflow (as the TSV import's 1..100000).
    if (x.num_boxes[i] < 1 || x.num_boxes[i] > 100000)
      corrupt("/num_boxes of " + image + " is " + std::to_string(x.num_boxes[i]) + " (expected 1 to 100000)");
    if (x.box_offset[i + 1] != x.box_offset[i] + x.num_boxes[i])
      corrupt("/box_offset and /num_boxes disagree at " + image);
    most = std::max(most, x.num_boxes[i]);
  }
  if (x.max_boxes != most)
    corrupt("attribute max_boxes is " + std::to_string(x.max_boxes) + " but the most boxes of an image is " + std::to_string(most));
  const int64_t rows = x.box_offset[n];
  auto shape_text = [](const std::vector<int64_t>& v) {
    std::string t = "[";
    for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + std::to_string(v[i]);
    return t + "]";
  };
  if (x.features_shape != std::vector<int64_t>{rows, x.feature_dim})
    corrupt("/features has shape " + shape_text(x.features_shape) + ", expected [" + std::to_string(rows) + ", " +
            std::to_string(x.feature_dim) + "] (from /box_offset and feature_dim)");
  if (x.boxes_shape != std::vector<int64_t>{rows, 4})
    corrupt("/boxes has shape " + shape_text(x.boxes_shape) + ", expected [" + std::to_string(rows) + ", 4]");
  for (size_t k = 0; k < x.label_rows.size(); ++k)
    if (x.label_rows[k] != rows)
      corrupt("the detector label datasets (/objects_id, /objects_conf, /attrs_id, /attrs_conf) must have " +
              std::to_string(rows) + " rows");
}

FeatureStore::FeatureStore(const std::string& path) {
  impl_ = std::make_unique<Impl>(path);
  auto& s = *impl_;
  if (!s.file.has_attr("/", "format") || s.file.attr_string("/", "format") != kFormat)
    throw UserError(path + ": not a headprune feature store, or an interrupted import (no 'format' attribute); "
                           "create it with `headprune import-features`");
  int64_t version = s.file.attr_i64("/", "format_version");
  if (version != kFormatVersion)
    throw UserError(path + ": feature store format version " + std::to_string(version) + ", this build reads " +
                    std::to_string(kFormatVersion) + " (re-import the TSV)");
  FeatureStoreIndex index;
  index.feature_dim = s.file.attr_i64("/", "feature_dim");
  index.max_boxes = s.file.attr_i64("/", "max_boxes");
  index.num_images = s.file.attr_i64("/", "num_images");
  index.ids = s.file.read_strings("/image_ids");
  index.image_h = s.file.read_i64("/image_h");
  index.image_w = s.file.read_i64("/image_w");
  index.num_boxes = s.file.read_i64("/num_boxes");
  index.box_offset = s.file.read_i64("/box_offset");
  index.features_shape = s.file.info("/features").shape;
  index.boxes_shape = s.file.info("/boxes").shape;
  for (const char* name : {"/objects_id", "/objects_conf", "/attrs_id", "/attrs_conf"}) {
    auto shape = s.file.info(name).shape;
    index.label_rows.push_back(shape.size() == 1 ? shape[0] : -1);
  }
  validate_feature_store_index(index, path);
  s.feature_dim = index.feature_dim;
  s.max_boxes = index.max_boxes;
  s.ids = std::move(index.ids);
  s.image_h = std::move(index.image_h);
  s.image_w = std::move(index.image_w);
  s.offset = std::move(index.box_offset);
  const size_t n = s.ids.size();
  s.by_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    s.by_id.emplace(s.ids[i], static_cast<int64_t>(i));
    s.by_key.emplace(ImageExclusion::image_key(s.ids[i]), static_cast<int64_t>(i));
  }
  s.features = s.open("/features");
  s.boxes = s.open("/boxes");
  s.objects_id = s.open("/objects_id");
  s.objects_conf = s.open("/objects_conf");
  s.attrs_id = s.open("/attrs_id");
  s.attrs_conf = s.open("/attrs_conf");
}

FeatureStore::~FeatureStore() = default;
FeatureStore::FeatureStore(FeatureStore&&) noexcept = default;
FeatureStore& FeatureStore::operator=(FeatureStore&&) noexcept = default;

const std::string& FeatureStore::path() const { return impl_->path; }
int64_t FeatureStore::num_images() const { return static_cast<int64_t>(impl_->ids.size()); }
int64_t FeatureStore::feature_dim() const { return impl_->feature_dim; }
int64_t FeatureStore::max_boxes() const { return impl_->max_boxes; }
const std::vector<std::string>& FeatureStore::image_ids() const { return impl_->ids; }
bool FeatureStore::contains(const std::string& img_id) const { return impl_->find(img_id) >= 0; }

ImageRecord FeatureStore::read(const std::string& img_id) const {
  int64_t i = impl_->find(img_id);
  if (i < 0) throw UserError(missing_message(img_id));
  return impl_->read(i, INT64_MAX, true);
}

std::string FeatureStore::missing_message(const std::string& img_id) const {
  return impl_->path + ": no features for image " + img_id;
}

std::string FeatureStore::missing_remedy() const { return "import that image's features"; }

void FeatureStore::check(const VisualSpec& spec) const {
  if (impl_->feature_dim != spec.feature_dim)
    throw UserError(impl_->path + ": features are " + std::to_string(impl_->feature_dim) + "-d but " + spec.model +
                    " expects " + std::to_string(spec.feature_dim) +
                    "-d region features (import the features of the detector this model was trained with)");
}

ImageRegions FeatureStore::read_regions(const std::string& img_id, const VisualSpec& spec) const {
  check(spec);
  HP_ASSERT(spec.max_boxes > 0, "VisualSpec.max_boxes must be positive");
  int64_t i = impl_->find(img_id);
  if (i < 0) throw UserError(missing_message(img_id));
  auto idx = static_cast<size_t>(i);
  const int64_t stored = impl_->offset[idx + 1] - impl_->offset[idx];
  ImageRecord r = impl_->read(i, spec.max_boxes, false);
  ImageRegions out;
  out.img_id = r.img_id;
  out.image_h = r.image_h;
  out.image_w = r.image_w;
  out.feature_dim = r.feature_dim;
  out.num_boxes = r.num_boxes;
  out.truncated = stored > spec.max_boxes;
  if (out.truncated)
    spdlog::debug("{}: image {} has {} boxes, {} keeps the first {}", impl_->path, img_id, stored, spec.model,
                  spec.max_boxes);
  out.boxes = r.normalized_boxes();
  out.features = std::move(r.features);
  out.pixel_boxes = std::move(r.boxes);
  return out;
}

}  // namespace headprune::data
