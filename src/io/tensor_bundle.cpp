#include "headprune/io/tensor_bundle.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "headprune/common/error.hpp"

namespace headprune::io {
namespace {
constexpr char kMagic[4] = {'H', 'P', 'B', '1'};

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Reader {
  const std::string& in;
  size_t pos;
  const std::string& where;
  template <typename T>
  T get() {
    T v;
    need(sizeof v);
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  void need(size_t n) const {
    if (pos + n > in.size()) throw RuntimeFailure(where + ": truncated tensor bundle");
  }
};
}  // namespace

std::string pack_bundle(const TensorBundle& bundle) {
  std::string out(kMagic, 4);
  put<int64_t>(out, static_cast<int64_t>(bundle.size()));
  for (const auto& [name, tensor] : bundle) {
    at::Tensor t = tensor.detach().cpu().contiguous();
    put<int64_t>(out, static_cast<int64_t>(name.size()));
    out += name;
    put<int8_t>(out, static_cast<int8_t>(t.scalar_type()));
    put<int64_t>(out, t.dim());
    for (int64_t s : t.sizes()) put<int64_t>(out, s);
    const size_t n = static_cast<size_t>(t.numel() * t.element_size());
    put<int64_t>(out, static_cast<int64_t>(n));
    out.append(static_cast<const char*>(t.data_ptr()), n);
  }
  return out;
}

namespace {
// Walks a packed bundle; `entry(name, type, shape, data, bytes)` for each tensor.
template <class Entry>
void walk_bundle(const std::string& bytes, const std::string& where, Entry entry) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) throw RuntimeFailure(where + ": not a tensor bundle");
  Reader r{bytes, 4, where};
  const int64_t count = r.get<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const auto len = static_cast<size_t>(r.get<int64_t>());
    r.need(len);
    std::string name = bytes.substr(r.pos, len);
    r.pos += len;
    auto type = static_cast<at::ScalarType>(r.get<int8_t>());
    std::vector<int64_t> shape(static_cast<size_t>(r.get<int64_t>()));
    for (auto& s : shape) s = r.get<int64_t>();
    const auto n = static_cast<size_t>(r.get<int64_t>());
    r.need(n);
    entry(std::move(name), type, shape, bytes.data() + r.pos, n);
    r.pos += n;
  }
}
}  // namespace

TensorBundle unpack_bundle(const std::string& bytes, const std::string& where) {
  TensorBundle out;
  walk_bundle(bytes, where, [&](std::string name, at::ScalarType type, const std::vector<int64_t>& shape,
                                const char* data, size_t n) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
    if (static_cast<size_t>(t.numel() * t.element_size()) != n) throw RuntimeFailure(where + ": inconsistent tensor bundle");
    std::memcpy(t.data_ptr(), data, n);
    out.emplace(std::move(name), t);
  });
  return out;
}

std::vector<std::string> bundle_names(const std::string& bytes, const std::string& where) {
  std::vector<std::string> out;
  walk_bundle(bytes, where, [&](std::string name, at::ScalarType, const std::vector<int64_t>&, const char*, size_t) {
    out.push_back(std::move(name));
  });
  return out;
}

}  // namespace headprune::io
