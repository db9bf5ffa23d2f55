#include "headprune/dist/exact_sum.hpp"

#include <ATen/ATen.h>

#include "headprune/common/error.hpp"

namespace headprune::dist {
namespace {

// 2^k as float64, exactly, for integer k in [-1022, 1023]: the bit pattern built directly (a
// pow() on a GPU need not be exact).
at::Tensor pow2(const at::Tensor& k) { return ((k + 1023) * (int64_t{1} << 52)).view(at::kDouble); }

// x * 2^s for |s| up to ~2000: two power-of-two factors, each exact and in range (a product by a
// power of two is exact while the result is a normal number).
at::Tensor times_pow2(const at::Tensor& x, const at::Tensor& s) {
  const at::Tensor half = at::div(s, 2, "floor");
  return x * pow2(half) * pow2(s - half);
}

}  // namespace

int exact_sum_headroom_bits(int64_t rows) {
  int b = 1;
  while (rows > 1 && (int64_t{1} << (b - 1)) <= rows) ++b;  // floor(log2 rows) + 2
  return rows <= 1 ? 2 : b;
}

ExactSum exact_sum_rows(Communicator& comm, const at::Tensor& rows_in) {
  HP_ASSERT(rows_in.dim() >= 1, "exact_sum_rows: rows need a leading dimension");
  const at::Tensor rows = rows_in.to(at::kDouble);
  HP_ASSERT(at::isfinite(rows).all().item<bool>(), "exact_sum_rows: non-finite value");
  const at::TensorOptions i64 = at::TensorOptions().dtype(at::kLong).device(rows.device());
  at::Tensor n = at::full({1}, rows.size(0), i64);
  comm.allreduce_sum(n);
  ExactSum out;
  out.count = n.item<int64_t>();
  const auto units = rows.sizes().slice(1);
  at::Tensor max_abs = rows.size(0) ? rows.abs().amax(0) : at::zeros(units, rows.options());
  comm.allreduce_max(max_abs);
  // max|x| = m * 2^E with m in [0.5, 1): every |x| < 2^E (frexp gives E = 0 for 0).
  const at::Tensor E = std::get<1>(at::frexp(max_abs)).to(at::kLong);
  const at::Tensor s = 62 - exact_sum_headroom_bits(out.count) - E;
  at::Tensor fixed = rows.size(0) ? at::round(times_pow2(rows, s)).to(at::kLong).sum(0) : at::zeros(units, i64);
  comm.allreduce_sum(fixed);
  out.sum = times_pow2(fixed.to(at::kDouble), -s);
  return out;
}

}  // namespace headprune::dist
