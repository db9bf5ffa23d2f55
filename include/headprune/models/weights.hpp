// Checkpoint files as people download them: model.safetensors and pytorch_model.bin.
//
// read_* return the stored tensors as they are (any dtype); bind_weights() then checks them
// against the parameters a model expects and converts them to the compute dtype. Failure
// modes: a truncated or corrupt file, a bad safetensors JSON header, an unknown dtype, data
// offsets outside the file -> UserError naming the file and the tensor.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace headprune::models {

using TensorMap = std::map<std::string, at::Tensor>;

/// Reads a .safetensors file (8-byte header length, JSON header, raw little-endian data).
TensorMap read_safetensors(const std::string& path);

/// The same from the file's bytes; `path` names it in errors. Every header value is checked for
/// its JSON type and range (dtype a known string; shape a list of non-negative integers whose
/// byte count fits in 64 bits; data_offsets two integers inside the data), so that any byte
/// string gives tensors or a UserError "<path>: tensor '<name>': ..." (tests/unit/test_fuzz_inputs.cpp).
TensorMap parse_safetensors(const std::vector<char>& bytes, const std::string& path);

/// UserError "<path>: tensor '<name>': NaN/+Inf/-Inf at element i (...)" for the first tensor
/// holding a non-finite value: one NaN weight would make every score NaN and every curve flat.
void refuse_nonfinite_weights(const TensorMap& tensors, const std::string& path);

/// Reads a pytorch_model.bin / model.pth written by torch.save (zip format) holding a state dict,
/// or MMF's checkpoint dict with the state dict under "model". The pre-1.6 (non-zip) format is a
/// UserError that says how to re-save the file.
TensorMap read_torch_bin(const std::string& path);

/// Writes a .safetensors file (tensors made contiguous, CPU); `metadata` goes to __metadata__.
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// The weights file of a model folder: `override` if set, else model.safetensors, else
/// pytorch_model.bin. Throws UserError when none exists.
std::string find_weights_file(const std::string& folder, const std::string& override_name);

/// Reads `path` by its extension (.safetensors or .bin/.pt).
TensorMap read_weights(const std::string& path);

struct ParamSpec {
  enum class Init { normal, zeros, ones };  ///< how init_missing fills it (BERT: N(0, 0.02), LN 1/0)
  std::string name;
  std::vector<int64_t> shape;
  Init init = Init::normal;
};

/// Fills parameters absent from `stored` (training from scratch): normal(0, std), zeros, ones.
struct InitMissing {
  bool enabled = false;
  uint64_t seed = 0;
  double std = 0.02;
};

/// Checks `stored` against `expected` and converts every expected tensor to `dtype`
/// (integer buffers listed in `expected` with an empty shape are ignored if present).
/// Strict: one UserError listing every missing, unexpected and wrong-shape key.
/// Non-strict: logs the same report as a warning; missing keys are still an error.
TensorMap bind_weights(const TensorMap& stored, const std::vector<ParamSpec>& expected, at::ScalarType dtype,
                       bool strict, const std::string& where, const std::vector<std::string>& ignored = {},
                       const InitMissing& init = {});

}  // namespace headprune::models
