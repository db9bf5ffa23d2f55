// Named tensors <-> one byte string: what ranks send to rank 0 and what checkpoints store.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace headprune::io {

using TensorBundle = std::map<std::string, at::Tensor>;

/// CPU copy of every tensor (float64, float32, int64, uint8), names and shapes kept.
std::string pack_bundle(const TensorBundle& bundle);
/// Throws RuntimeFailure on a malformed string (a truncated checkpoint, say), naming `where`.
TensorBundle unpack_bundle(const std::string& bytes, const std::string& where);
/// The names of a packed bundle, without copying its tensors.
std::vector<std::string> bundle_names(const std::string& bytes, const std::string& where);

}  // namespace headprune::io
