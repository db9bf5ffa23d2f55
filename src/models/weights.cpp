#include "headprune/models/weights.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/common/error.hpp"

namespace headprune::models {
namespace {

std::vector<char> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw UserError(path + ": cannot open file");
  auto size = static_cast<size_t>(in.tellg());
  std::vector<char> bytes(size);
  in.seekg(0);
  if (size && !in.read(bytes.data(), static_cast<std::streamsize>(size))) throw UserError(path + ": read failed");
  return bytes;
}

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  size_t size;
};
const DtypeInfo kDtypes[] = {
    {"F64", at::kDouble, 8}, {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},  {"BF16", at::kBFloat16, 2},
    {"I64", at::kLong, 8},   {"I32", at::kInt, 4},   {"I16", at::kShort, 2}, {"I8", at::kChar, 1},
    {"U8", at::kByte, 1},    {"BOOL", at::kBool, 1},
};

std::string shape_str(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << "]";
  return s.str();
}

std::string join_limited(const std::vector<std::string>& items, size_t limit = 50) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return out;
}

// A non-negative JSON integer as uint64 (nlohmann keeps non-negative numbers unsigned).
bool json_uint(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

TensorMap read_safetensors(const std::string& path) { return parse_safetensors(read_file_bytes(path), path); }

TensorMap parse_safetensors(const std::vector<char>& bytes, const std::string& path) {
  if (bytes.size() < 8) throw UserError(path + ": truncated safetensors file (" + std::to_string(bytes.size()) + " bytes, no header)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian on every platform we build for
  if (header_len > bytes.size() - 8)
    throw UserError(path + ": truncated safetensors file (header of " + std::to_string(header_len) +
                    " bytes announced, file has " + std::to_string(bytes.size()) + ")");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": bad safetensors JSON header (" + std::string(e.what()) + ")");
  }
  if (!header.is_object()) throw UserError(path + ": bad safetensors JSON header (expected an object)");
  const size_t data_start = 8 + header_len;
  const size_t data_size = bytes.size() - data_start;
  TensorMap out;
  // Every value is checked for its JSON type before use: a get<>() of the wrong type would end
  // the program with nlohmann's own message instead of naming the file and the tensor.
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + it.key() + "'";
    const auto& entry = it.value();
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw UserError(where + ": expected {dtype, shape, data_offsets}, found " + std::string(entry.type_name()));
    if (!entry["dtype"].is_string())
      throw UserError(where + ": dtype is " + std::string(entry["dtype"].type_name()) + ", expected a string such as \"F32\"");
    const std::string dtype_name = entry["dtype"].get<std::string>();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dtype_name == d.name) info = &d;
    if (!info) throw UserError(where + ": unsupported dtype '" + dtype_name + "' (expected F64, F32, F16, BF16 or an integer type)");
    const auto& shape_json = entry["shape"];
    if (!shape_json.is_array() || shape_json.size() > 64)
      throw UserError(where + ": bad shape " + shape_json.dump().substr(0, 80) + " (expected a list of at most 64 sizes)");
    std::vector<int64_t> shape;
    uint64_t count = 1, nbytes = 0;
    for (const auto& s : shape_json) {
      uint64_t dim = 0;
      if (!json_uint(s, &dim) || dim > static_cast<uint64_t>(INT64_MAX))
        throw UserError(where + ": bad shape " + shape_json.dump().substr(0, 80) + " (expected non-negative integers)");
      shape.push_back(static_cast<int64_t>(dim));
      if (__builtin_mul_overflow(count, dim, &count))
        throw UserError(where + ": shape " + shape_str(shape) + "... has more elements than 64 bits can count");
    }
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(info->size), &nbytes) || nbytes > static_cast<uint64_t>(INT64_MAX))
      throw UserError(where + ": shape " + shape_str(shape) + " of " + dtype_name + " needs more bytes than 64 bits can count");
    const auto& offsets = entry["data_offsets"];
    uint64_t begin = 0, end = 0;
    if (!offsets.is_array() || offsets.size() != 2 || !json_uint(offsets[0], &begin) || !json_uint(offsets[1], &end))
      throw UserError(where + ": bad data_offsets " + offsets.dump().substr(0, 80) + " (expected [begin, end], two non-negative integers)");
    if (end < begin || end > data_size)
      throw UserError(where + ": data_offsets [" + std::to_string(begin) + "," + std::to_string(end) +
                      "] outside the file's " + std::to_string(data_size) + " data bytes (truncated file?)");
    if (end - begin != nbytes)
      throw UserError(where + ": " + std::to_string(end - begin) + " bytes for shape " + shape_str(shape) + " of " +
                      dtype_name + " (expected " + std::to_string(nbytes) + ")");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(info->type));
    if (nbytes) std::memcpy(t.data_ptr(), bytes.data() + data_start + begin, static_cast<size_t>(nbytes));
    out.emplace(it.key(), t);
  }
  return out;
}

void refuse_nonfinite_weights(const TensorMap& tensors, const std::string& path) {
  for (const auto& [name, t] : tensors) {
    if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) continue;
    at::Tensor bad = at::isfinite(t).logical_not_().reshape({-1});
    if (!bad.any().item<bool>()) continue;
    const int64_t i = bad.nonzero()[0][0].item<int64_t>();
    const double v = t.reshape({-1})[i].item<double>();
    throw UserError(path + ": tensor '" + name + "': " + (std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") +
                    " at element " + std::to_string(i) + " of " + std::to_string(t.numel()) +
                    " (expected finite weights: the checkpoint is corrupt, or its training diverged)");
  }
}

TensorMap read_torch_bin(const std::string& path) {
  std::vector<char> bytes = read_file_bytes(path);
  // torch.save writes a zip archive since PyTorch 1.6; the older format is a bare pickle stream
  // (protocol 2: first byte 0x80), which LibTorch's reader does not understand.
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80)
    throw UserError(path + ": written by torch.save of PyTorch < 1.6 (the legacy non-zip format), which headprune "
                           "cannot read; re-save it once with PyTorch >= 1.6: python3 -c \"import torch; "
                           "torch.save(torch.load('" + path + "', map_location='cpu'), '" + path + "')\"");
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg = msg.substr(0, msg.find('\n'));
    throw UserError(path + ": not a readable torch.save checkpoint (" + msg + ")");
  }
  if (!value.isGenericDict()) throw UserError(path + ": expected a state dict (name -> tensor) at the top level");
  // MMF's checkpoints hold the state dict under "model" (next to optimizer state and counters).
  std::string where = path;
  for (const auto& item : value.toGenericDict())
    if (item.key().isString() && item.key().toStringRef() == "model") {
      if (!item.value().isGenericDict()) throw UserError(path + ": entry 'model' is not a state dict (name -> tensor)");
      value = item.value();
      where = path + ": entry 'model'";
      break;
    }
  TensorMap out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString()) throw UserError(where + ": state dict key is not a string");
    const std::string key = item.key().toStringRef();
    if (!item.value().isTensor()) throw UserError(where + ": entry '" + key + "' is not a tensor");
    out.emplace(key, item.value().toTensor());
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> ordered;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.contiguous().cpu();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (d.type == t.scalar_type()) info = &d;
    HP_ASSERT(info != nullptr, "unsupported dtype for safetensors: " + name);
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * info->size;
    header[name] = {{"dtype", info->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    ordered.push_back(t);
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8) text += ' ';  // align the data section, as the reference writer does
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw UserError(path + ": cannot write");
    uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : ordered)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    if (!out) throw RuntimeFailure(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

std::string find_weights_file(const std::string& folder, const std::string& override_name) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(folder)) throw UserError(folder + ": model folder not found");
  if (!override_name.empty()) {
    fs::path p = fs::path(override_name).is_absolute() ? fs::path(override_name) : fs::path(folder) / override_name;
    if (!fs::exists(p)) throw UserError(p.string() + ": weights file not found");
    return p.string();
  }
  for (const char* name : {"model.safetensors", "pytorch_model.bin"})
    if (fs::exists(fs::path(folder) / name)) return (fs::path(folder) / name).string();
  throw UserError(folder + ": no model.safetensors or pytorch_model.bin in the model folder");
}

TensorMap read_weights(const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".safetensors")) return read_safetensors(path);
  if (ends_with(".bin") || ends_with(".pt") || ends_with(".pth")) return read_torch_bin(path);
  throw UserError(path + ": unknown weights format (expected .safetensors or .bin)");
}

TensorMap bind_weights(const TensorMap& stored, const std::vector<ParamSpec>& expected, at::ScalarType dtype,
                       bool strict, const std::string& where, const std::vector<std::string>& ignored,
                       const InitMissing& init) {
  std::vector<std::string> missing, unexpected, wrong_shape, wrong_type, overflow;
  TensorMap out;
  at::Generator gen = at::detail::createCPUGenerator(init.seed);
  for (const auto& spec : expected) {
    auto it = stored.find(spec.name);
    if (it == stored.end() && init.enabled) {
      at::Tensor t = spec.init == ParamSpec::Init::ones    ? at::ones(spec.shape, at::TensorOptions().dtype(dtype))
                     : spec.init == ParamSpec::Init::zeros ? at::zeros(spec.shape, at::TensorOptions().dtype(dtype))
                                                           : at::normal(0.0, init.std, spec.shape, gen).to(dtype);
      out.emplace(spec.name, t);
      continue;
    }
    if (it == stored.end()) {
      missing.push_back(spec.name);
      continue;
    }
    const at::Tensor& t = it->second;
    if (!at::isFloatingType(t.scalar_type())) {
      wrong_type.push_back(spec.name + ": " + std::string(c10::toString(t.scalar_type())) + ", expected a float type");
      continue;
    }
    if (t.sizes().vec() != spec.shape) {
      wrong_shape.push_back(spec.name + ": expected " + shape_str(spec.shape) + ", found " + shape_str(t.sizes()));
      continue;
    }
    at::Tensor converted = t.to(dtype).contiguous();
    // A finite float64 weight beyond float32's range becomes Inf in the compute dtype.
    if (at::isFloatingType(dtype) && !at::isfinite(converted).all().item<bool>()) {
      overflow.push_back(spec.name);
      continue;
    }
    out.emplace(spec.name, converted);
  }
  if (!overflow.empty())
    throw UserError(where + ": tensor '" + overflow.front() + "'" +
                    (overflow.size() > 1 ? " (and " + std::to_string(overflow.size() - 1) + " more)" : "") +
                    ": values beyond the range of " + std::string(c10::toString(dtype)) +
                    " (they become Inf in the compute precision; use precision fp64)");
  for (const auto& [name, t] : stored) {
    bool known = std::any_of(expected.begin(), expected.end(), [&](const ParamSpec& s) { return s.name == name; });
    bool skip = std::find(ignored.begin(), ignored.end(), name) != ignored.end();
    if (!known && !skip) unexpected.push_back(name);
  }
  std::string report;
  auto add = [&](const std::vector<std::string>& items, const char* what) {
    if (items.empty()) return;
    report += (report.empty() ? "" : "; ") + std::to_string(items.size()) + " " + what + " [" + join_limited(items) + "]";
  };
  add(missing, "missing");
  add(unexpected, "unexpected");
  add(wrong_shape, "wrong-shape");
  add(wrong_type, "wrong-dtype");
  if (!report.empty()) {
    const bool fatal = strict || !missing.empty() || !wrong_shape.empty() || !wrong_type.empty();
    if (fatal) throw UserError(where + ": checkpoint does not match the model config: " + report);
    spdlog::warn("{}: non-strict load: {}", where, report);
  }
  return out;
}

}  // namespace headprune::models
