// at::Tensor <-> HDF5 datasets (whole datasets, by path). Failure: UserError naming file:path.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "headprune/io/h5.hpp"

namespace headprune::h5 {

/// Reads a numeric dataset as a CPU tensor: f64 -> kDouble, f32 -> kFloat, i64/i32 -> kLong, u8 -> kByte.
at::Tensor read_tensor(const File& file, const std::string& dataset);

/// Writes a CPU tensor (kDouble, kFloat, kLong, kByte, kBool as u8); other float types as f64.
void write_tensor(File& file, const std::string& dataset, const at::Tensor& tensor);

/// The element kind write_tensor stores a tensor of `dtype` as.
Kind stored_kind(at::ScalarType dtype);
/// Writes `tensor` as the block at `offset` of a dataset made by File::create_dataset with
/// stored_kind(tensor.scalar_type()).
void write_tensor_block(File& file, const std::string& dataset, const at::Tensor& tensor,
                        const std::vector<int64_t>& offset);

}  // namespace headprune::h5
