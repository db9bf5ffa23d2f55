// A small RAII layer over the HDF5 C API: read and write whole datasets, strings and
// attributes by path. Torch-free; io/h5_tensor.hpp adds at::Tensor on top.
//
// Failure: every function throws UserError naming the file and the object path (a missing
// dataset, a wrong type, an unreadable file). HDF5's own error stack printing is disabled.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace headprune::h5 {

/// Element type of a dataset, as far as this project cares.
enum class Kind { f64, f32, f16, i64, i32, u8, string, other };

struct Info {
  Kind kind = Kind::other;
  std::vector<int64_t> shape;
};

class File {
 public:
  enum class Mode { read, create_truncate, create_exclusive, read_write };
  File(const std::string& path, Mode mode);
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  hid_t id() const { return id_; }

  bool exists(const std::string& object) const;            ///< dataset or group at `object`
  bool is_group(const std::string& object) const;
  std::vector<std::string> list(const std::string& group) const;  ///< member names, sorted
  Info info(const std::string& dataset) const;

  // Whole-dataset reads; the element type is converted by HDF5 (e.g. f32 -> f64).
  std::vector<double> read_f64(const std::string& dataset, std::vector<int64_t>* shape = nullptr) const;
  std::vector<float> read_f32(const std::string& dataset, std::vector<int64_t>* shape = nullptr) const;
  std::vector<int64_t> read_i64(const std::string& dataset, std::vector<int64_t>* shape = nullptr) const;
  std::vector<uint8_t> read_u8(const std::string& dataset, std::vector<int64_t>* shape = nullptr) const;
  std::vector<std::string> read_strings(const std::string& dataset) const;

  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_f64(const std::string& object, const std::string& name) const;
  int64_t attr_i64(const std::string& object, const std::string& name) const;

  // Writes create intermediate groups. Shape empty = scalar.
  void write_f64(const std::string& dataset, const std::vector<double>& data, const std::vector<int64_t>& shape);
  void write_f32(const std::string& dataset, const std::vector<float>& data, const std::vector<int64_t>& shape);
  void write_i64(const std::string& dataset, const std::vector<int64_t>& data, const std::vector<int64_t>& shape);
  void write_u8(const std::string& dataset, const std::vector<uint8_t>& data, const std::vector<int64_t>& shape);
  void write_strings(const std::string& dataset, const std::vector<std::string>& data);
  void write_attr(const std::string& object, const std::string& name, const std::string& value);
  void write_attr(const std::string& object, const std::string& name, double value);
  void write_attr(const std::string& object, const std::string& name, int64_t value);
  void create_group(const std::string& group);

  // Datasets written in blocks (the job streams per-sample rows into its results file): create
  // the whole dataset first, then write row/column blocks of it in any order. `kind`: f64, f32,
  // i64 or u8; unwritten elements read as 0.
  void create_dataset(const std::string& dataset, Kind kind, const std::vector<int64_t>& shape);
  /// Writes `data` (row-major, `count` elements per dimension) at `offset` of `dataset`.
  void write_block(const std::string& dataset, Kind kind, const void* data, const std::vector<int64_t>& offset,
                   const std::vector<int64_t>& count);

  void flush();

 private:
  void read_raw(const std::string& dataset, hid_t mem_type, void* out, size_t elem_count) const;
  size_t element_count(const std::string& dataset, std::vector<int64_t>* shape) const;
  void write_raw(const std::string& dataset, hid_t mem_type, const void* data, const std::vector<int64_t>& shape);
  std::string where(const std::string& object) const { return path_ + ":" + object; }

  std::string path_;
  hid_t id_ = -1;
};

/// Product of a shape (1 for a scalar).
int64_t numel(const std::vector<int64_t>& shape);

}  // namespace headprune::h5
