#include "headprune/io/h5.hpp"

#include <algorithm>
#include <filesystem>

#include "headprune/common/error.hpp"

namespace headprune::h5 {
namespace {

// HDF5 prints a stack of errors to stderr by default; we report our own one line instead.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 silence_hdf5;

// Closes an hid_t of any kind when it goes out of scope.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() {
    if (id_ >= 0) closer_(id_);
  }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer closer_;
};

std::vector<int64_t> dataspace_shape(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

Handle lcpl_intermediate() {
  Handle p(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(p.get(), 1);
  return p;
}

Handle open_object(hid_t file, const std::string& object, const std::string& where) {
  hid_t id = H5Oopen(file, object.c_str(), H5P_DEFAULT);
  if (id < 0) throw UserError(where + ": no such object");
  return Handle(id, H5Oclose);
}

}  // namespace

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

File::File(const std::string& path, Mode mode) : path_(path) {
  switch (mode) {
    case Mode::read:
    case Mode::read_write:
      if (!std::filesystem::exists(path)) throw UserError(path + ": file not found");
      id_ = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
      if (id_ < 0) throw UserError(path + ": not a readable HDF5 file");
      break;
    case Mode::create_truncate:
    case Mode::create_exclusive: {
      Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      // Oldest format that has what we need: readable by h5py, h5dump and HDF5 1.8 tools.
      H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
      id_ = H5Fcreate(path.c_str(), mode == Mode::create_truncate ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT,
                      fapl.get());
      if (id_ < 0) throw UserError(path + ": cannot create HDF5 file (exists, or folder not writable)");
      break;
    }
  }
}

File::~File() {
  if (id_ >= 0) H5Fclose(id_);
}

File::File(File&& other) noexcept : path_(std::move(other.path_)), id_(other.id_) { other.id_ = -1; }

void File::flush() { H5Fflush(id_, H5F_SCOPE_GLOBAL); }

bool File::exists(const std::string& object) const {
  // Walk the path so that a missing intermediate group is "false", not an error.
  if (object.empty() || object == "/") return true;
  std::string prefix;
  size_t pos = object[0] == '/' ? 1 : 0;
  while (true) {
    size_t next = object.find('/', pos);
    prefix = object.substr(0, next);
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

bool File::is_group(const std::string& object) const {
  if (!exists(object)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name(id_, object.c_str(), &info, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> File::list(const std::string& group) const {
  Handle g(H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.ok()) throw UserError(where(group) + ": no such group");
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), static_cast<size_t>(len) + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Info File::info(const std::string& dataset) const {
  Handle d(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) throw UserError(where(dataset) + ": no such dataset");
  Handle space(H5Dget_space(d.get()), H5Sclose);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  Info info;
  info.shape = dataspace_shape(space.get());
  H5T_class_t cls = H5Tget_class(type.get());
  size_t size = H5Tget_size(type.get());
  if (cls == H5T_FLOAT) info.kind = size == 8 ? Kind::f64 : size == 4 ? Kind::f32 : size == 2 ? Kind::f16 : Kind::other;
  else if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
    info.kind = size == 8 ? Kind::i64 : size == 4 ? Kind::i32 : (size == 1 && !is_signed) ? Kind::u8 : Kind::other;
  } else if (cls == H5T_STRING) info.kind = Kind::string;
  return info;
}

size_t File::element_count(const std::string& dataset, std::vector<int64_t>* shape) const {
  Info i = info(dataset);
  if (shape) *shape = i.shape;
  return static_cast<size_t>(numel(i.shape));
}

void File::read_raw(const std::string& dataset, hid_t mem_type, void* out, size_t) const {
  Handle d(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) throw UserError(where(dataset) + ": no such dataset");
  if (H5Dread(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw UserError(where(dataset) + ": cannot read (wrong element type for this quantity?)");
}

std::vector<double> File::read_f64(const std::string& dataset, std::vector<int64_t>* shape) const {
  std::vector<double> out(element_count(dataset, shape));
  read_raw(dataset, H5T_NATIVE_DOUBLE, out.data(), out.size());
  return out;
}
std::vector<float> File::read_f32(const std::string& dataset, std::vector<int64_t>* shape) const {
  std::vector<float> out(element_count(dataset, shape));
  read_raw(dataset, H5T_NATIVE_FLOAT, out.data(), out.size());
  return out;
}
std::vector<int64_t> File::read_i64(const std::string& dataset, std::vector<int64_t>* shape) const {
  std::vector<int64_t> out(element_count(dataset, shape));
  read_raw(dataset, H5T_NATIVE_INT64, out.data(), out.size());
  return out;
}
std::vector<uint8_t> File::read_u8(const std::string& dataset, std::vector<int64_t>* shape) const {
  std::vector<uint8_t> out(element_count(dataset, shape));
  read_raw(dataset, H5T_NATIVE_UINT8, out.data(), out.size());
  return out;
}

std::vector<std::string> File::read_strings(const std::string& dataset) const {
  Handle d(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) throw UserError(where(dataset) + ": no such dataset");
  Handle space(H5Dget_space(d.get()), H5Sclose);
  Handle file_type(H5Dget_type(d.get()), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING) throw UserError(where(dataset) + ": expected a string dataset");
  size_t n = static_cast<size_t>(numel(dataspace_shape(space.get())));
  std::vector<std::string> out;
  if (H5Tis_variable_str(file_type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5T_CSET_UTF8);
    std::vector<char*> ptrs(n, nullptr);
    if (n && H5Dread(d.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
      throw UserError(where(dataset) + ": cannot read strings");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    if (n) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(file_type.get());
    std::vector<char> buf(n * len);
    if (n && H5Dread(d.get(), file_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
      throw UserError(where(dataset) + ": cannot read strings");
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      s.resize(s.find('\0') == std::string::npos ? len : s.find('\0'));
      out.push_back(s);
    }
  }
  return out;
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  if (!exists(object)) return false;
  return H5Aexists_by_name(id_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  Handle a(H5Aopen_by_name(id_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw UserError(where(object) + ": no attribute '" + name + "'");
  Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) throw UserError(where(object) + ": attribute '" + name + "' is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* p = nullptr;
    H5Aread(a.get(), mem.get(), &p);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  size_t len = H5Tget_size(type.get());
  std::string s(len, '\0');
  H5Aread(a.get(), type.get(), s.data());
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  return s;
}

double File::attr_f64(const std::string& object, const std::string& name) const {
  Handle a(H5Aopen_by_name(id_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw UserError(where(object) + ": no attribute '" + name + "'");
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) throw UserError(where(object) + ": attribute '" + name + "' is not numeric");
  return v;
}

int64_t File::attr_i64(const std::string& object, const std::string& name) const {
  Handle a(H5Aopen_by_name(id_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw UserError(where(object) + ": no attribute '" + name + "'");
  int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) throw UserError(where(object) + ": attribute '" + name + "' is not an integer");
  return v;
}

void File::create_group(const std::string& group) {
  if (exists(group)) return;
  Handle lcpl = lcpl_intermediate();
  Handle g(H5Gcreate2(id_, group.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!g.ok()) throw RuntimeFailure(where(group) + ": cannot create group");
}

void File::write_raw(const std::string& dataset, hid_t mem_type, const void* data, const std::vector<int64_t>& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
  Handle lcpl = lcpl_intermediate();
  Handle d(H5Dcreate2(id_, dataset.c_str(), mem_type, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!d.ok()) throw RuntimeFailure(where(dataset) + ": cannot create dataset (exists already?)");
  if (numel(shape) > 0 && H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw RuntimeFailure(where(dataset) + ": write failed");
}

namespace {
hid_t native_type(Kind kind) {
  switch (kind) {
    case Kind::f64: return H5T_NATIVE_DOUBLE;
    case Kind::f32: return H5T_NATIVE_FLOAT;
    case Kind::i64: return H5T_NATIVE_INT64;
    case Kind::u8: return H5T_NATIVE_UINT8;
    default: HP_ASSERT(false, "create_dataset: unsupported element kind");
  }
  return -1;
}
}  // namespace

void File::create_dataset(const std::string& dataset, Kind kind, const std::vector<int64_t>& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle lcpl = lcpl_intermediate();
  Handle d(H5Dcreate2(id_, dataset.c_str(), native_type(kind), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (!d.ok()) throw RuntimeFailure(where(dataset) + ": cannot create dataset (exists already?)");
}

void File::write_block(const std::string& dataset, Kind kind, const void* data, const std::vector<int64_t>& offset,
                       const std::vector<int64_t>& count) {
  HP_ASSERT(offset.size() == count.size(), "write_block: offset and count differ in rank for " + dataset);
  if (numel(count) == 0) return;
  Handle d(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) throw RuntimeFailure(where(dataset) + ": no such dataset");
  Handle file_space(H5Dget_space(d.get()), H5Sclose);
  std::vector<hsize_t> start(offset.begin(), offset.end()), n(count.begin(), count.end());
  HP_ASSERT(H5Sget_simple_extent_ndims(file_space.get()) == static_cast<int>(n.size()),
            "write_block: rank of the block differs from " + dataset + "'s");
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, n.data(), nullptr) < 0 ||
      H5Sselect_valid(file_space.get()) <= 0)
    throw RuntimeFailure(where(dataset) + ": block outside the dataset");
  Handle mem_space(H5Screate_simple(static_cast<int>(n.size()), n.data(), nullptr), H5Sclose);
  if (H5Dwrite(d.get(), native_type(kind), mem_space.get(), file_space.get(), H5P_DEFAULT, data) < 0)
    throw RuntimeFailure(where(dataset) + ": write failed");
}

void File::write_f64(const std::string& ds, const std::vector<double>& data, const std::vector<int64_t>& shape) {
  HP_ASSERT(static_cast<int64_t>(data.size()) == numel(shape), "shape does not match data for " + ds);
  write_raw(ds, H5T_NATIVE_DOUBLE, data.data(), shape);
}
void File::write_f32(const std::string& ds, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  HP_ASSERT(static_cast<int64_t>(data.size()) == numel(shape), "shape does not match data for " + ds);
  write_raw(ds, H5T_NATIVE_FLOAT, data.data(), shape);
}
void File::write_i64(const std::string& ds, const std::vector<int64_t>& data, const std::vector<int64_t>& shape) {
  HP_ASSERT(static_cast<int64_t>(data.size()) == numel(shape), "shape does not match data for " + ds);
  write_raw(ds, H5T_NATIVE_INT64, data.data(), shape);
}
void File::write_u8(const std::string& ds, const std::vector<uint8_t>& data, const std::vector<int64_t>& shape) {
  HP_ASSERT(static_cast<int64_t>(data.size()) == numel(shape), "shape does not match data for " + ds);
  write_raw(ds, H5T_NATIVE_UINT8, data.data(), shape);
}

void File::write_strings(const std::string& dataset, const std::vector<std::string>& data) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> ptrs;
  for (const auto& s : data) ptrs.push_back(s.c_str());
  write_raw(dataset, type.get(), ptrs.data(), {static_cast<int64_t>(data.size())});
}

void File::write_attr(const std::string& object, const std::string& name, const std::string& value) {
  Handle obj = open_object(id_, object, where(object));
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  Handle a(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!a.ok() || H5Awrite(a.get(), type.get(), &p) < 0) throw RuntimeFailure(where(object) + ": cannot write attribute " + name);
}

void File::write_attr(const std::string& object, const std::string& name, double value) {
  Handle obj = open_object(id_, object, where(object));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  Handle a(H5Acreate2(obj.get(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value) < 0)
    throw RuntimeFailure(where(object) + ": cannot write attribute " + name);
}

void File::write_attr(const std::string& object, const std::string& name, int64_t value) {
  Handle obj = open_object(id_, object, where(object));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  Handle a(H5Acreate2(obj.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok() || H5Awrite(a.get(), H5T_NATIVE_INT64, &value) < 0)
    throw RuntimeFailure(where(object) + ": cannot write attribute " + name);
}

}  // namespace headprune::h5
