// Exact, order-free sums of float64 values over all ranks: the same bits for any rank count, any
// split of the rows over the ranks and any reduction order (MPI or NCCL, CPU or GPU). The job
// reduces its rankings with it (run/reduce.cpp).
//
// Fixed point. Column u (a unit: a head or a layer) gets a power-of-two scale 2^s_u from the
// largest magnitude over all ranks (allreduce_max) and the total row count N (allreduce_sum of
// int64): with max|x_u| < 2^E_u and b = bits(N) = floor(log2 N) + 2,
//     s_u = 62 - E_u - b.
// Every value is rounded once to the nearest integer multiple of 2^-s_u (ties to even) and held as
// an int64 of magnitude <= 2^(62-b); N of them sum to less than 2^62, so the int64 sums (on each
// rank, then across ranks with allreduce_sum) never overflow, and integer addition is exact and
// associative: every order gives the same sum. The result is that integer times 2^-s_u, rounded
// once to float64.
//
// Error bound. Each value moves by at most 2^-(s_u+1) when rounded, so a mean (sum / N) errs by at
// most 2^-(s_u+1) = 2^(E_u + b - 63) <= 2^(b - 62) * max|x_u| (as 2^(E_u - 1) <= max|x_u|), plus
// the final rounding to float64 (relative 2^-53). For N = 10 000 (b = 15) a mean is within
// 2^-47 ≈ 7.1e-15 of the column's largest magnitude, for N = 200 000 (b = 19) within
// 2^-43 ≈ 1.1e-13: far below any difference that orders attention heads, and the same bits on
// every run. Values below 2^-(s_u+1) round to 0, which the bound covers. Non-finite values are refused
// before (run/phase_scoring.cpp), and asserted here.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "headprune/dist/communicator.hpp"

namespace headprune::dist {

struct ExactSum {
  at::Tensor sum;     ///< [units...] float64 on the rows' device, identical on every rank
  int64_t count = 0;  ///< rows over all ranks
};

/// Sum over dim 0 of every rank's `rows` [n_r, units...] (any float dtype; n_r may be 0, the
/// units must match across ranks). Collective.
ExactSum exact_sum_rows(Communicator& comm, const at::Tensor& rows);

/// bits(N) of the header: the headroom the fixed point keeps for N rows.
int exact_sum_headroom_bits(int64_t rows);

}  // namespace headprune::dist
