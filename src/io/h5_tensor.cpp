#include "headprune/io/h5_tensor.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "headprune/common/error.hpp"

namespace headprune::h5 {

at::Tensor read_tensor(const File& file, const std::string& dataset) {
  Info info = file.info(dataset);
  std::vector<int64_t> shape;
  switch (info.kind) {
    case Kind::f64: {
      auto v = file.read_f64(dataset, &shape);
      return at::from_blob(v.data(), shape, at::kDouble).clone();
    }
    case Kind::f32:
    case Kind::f16: {
      auto v = file.read_f32(dataset, &shape);
      return at::from_blob(v.data(), shape, at::kFloat).clone();
    }
    case Kind::i64:
    case Kind::i32: {
      auto v = file.read_i64(dataset, &shape);
      return at::from_blob(v.data(), shape, at::kLong).clone();
    }
    case Kind::u8: {
      auto v = file.read_u8(dataset, &shape);
      return at::from_blob(v.data(), shape, at::kByte).clone();
    }
    default:
      throw UserError(file.path() + ":" + dataset + ": expected a numeric dataset");
  }
}

void write_tensor(File& file, const std::string& dataset, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().cpu().contiguous();
  std::vector<int64_t> shape = t.sizes().vec();
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case at::kFloat: {
      std::vector<float> v(n);
      std::memcpy(v.data(), t.data_ptr(), n * sizeof(float));
      file.write_f32(dataset, v, shape);
      return;
    }
    case at::kLong: {
      std::vector<int64_t> v(n);
      std::memcpy(v.data(), t.data_ptr(), n * sizeof(int64_t));
      file.write_i64(dataset, v, shape);
      return;
    }
    case at::kByte:
    case at::kBool: {
      at::Tensor u = t.to(at::kByte);
      std::vector<uint8_t> v(n);
      std::memcpy(v.data(), u.data_ptr(), n);
      file.write_u8(dataset, v, shape);
      return;
    }
    default: {
      at::Tensor d = t.to(at::kDouble);
      std::vector<double> v(n);
      std::memcpy(v.data(), d.data_ptr(), n * sizeof(double));
      file.write_f64(dataset, v, shape);
      return;
    }
  }
}

Kind stored_kind(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return Kind::f32;
    case at::kLong: return Kind::i64;
    case at::kByte:
    case at::kBool: return Kind::u8;
    default: return Kind::f64;
  }
}

void write_tensor_block(File& file, const std::string& dataset, const at::Tensor& tensor,
                        const std::vector<int64_t>& offset) {
  const Kind kind = stored_kind(tensor.scalar_type());
  const at::ScalarType as = kind == Kind::f32 ? at::kFloat : kind == Kind::i64 ? at::kLong
                            : kind == Kind::u8 ? at::kByte : at::kDouble;
  const at::Tensor t = tensor.detach().cpu().to(as).contiguous();
  file.write_block(dataset, kind, t.data_ptr(), offset, t.sizes().vec());
}

}  // namespace headprune::h5
