// random: a baseline, uniform in [0,1), reproducible from (scoring.random_seed, the sample's
// global index, the unit), so any sharding of the samples gives the same scores.
#include <ATen/ATen.h>

#include "headprune/common/error.hpp"
#include "headprune/common/splitmix64.hpp"
#include "headprune/explain/scorer.hpp"

namespace headprune::explain {

UnitScores score_random(const Pass& pass) {
  const std::vector<int64_t>& samples = pass.sample_index;
  HP_ASSERT(static_cast<int64_t>(samples.size()) == pass.batch.size(), "sample_index must have one entry per example");
  const int64_t modules = pass.model.num_modules(), heads = pass.model.heads();
  const uint64_t seed = pass.options.random_seed;
  at::Tensor h = at::empty({static_cast<int64_t>(samples.size()), modules, heads}, at::kDouble);
  auto acc = h.accessor<double, 3>();
  for (size_t b = 0; b < samples.size(); ++b)
    for (int64_t m = 0; m < modules; ++m)
      for (int64_t k = 0; k < heads; ++k) {
        uint64_t x = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(samples[b]) * 0x100000001B3ull +
                                                  static_cast<uint64_t>(m * heads + k)));
        acc[static_cast<int64_t>(b)][m][k] = static_cast<double>(x >> 11) * 0x1.0p-53;
      }
  return {h, h.mean(2)};
}

}  // namespace headprune::explain
