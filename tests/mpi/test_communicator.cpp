// The MPI communicator under mpirun -n 2 and -n 4 (also runs as one rank without a launcher):
// closed-form allreduce sums, broadcasts, rank-ordered gathers, node-local ranks, the
// deterministic gather-then-sum path, MPI errors as RuntimeFailure, and make_communicator's
// fallback to MPI for device: cuda (no GPU here; NCCL, when compiled in, cannot start).
//
// Only non-fatal EXPECTs after the first collective of a test: a rank that left a test early
// would leave the others waiting in the next collective.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "headprune/common/error.hpp"
#include "dist/backends.hpp"
#include "headprune/dist/communicator.hpp"
#include "headprune/dist/exact_sum.hpp"
#include "headprune/common/splitmix64.hpp"

using headprune::RuntimeFailure;
using namespace headprune::dist;

namespace {

MpiSession* g_session = nullptr;

/// MPI for the whole test binary: gtest_main gives no hook before RUN_ALL_TESTS but environments.
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    g_session = new MpiSession();
    if (g_session->rank() != 0) {
      // Ranks > 0 print only their failures, prefixed with the rank.
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(g_session->rank()));
    }
  }
  void TearDown() override {
    delete g_session;
    g_session = nullptr;
  }

 private:
  class RankFailurePrinter : public ::testing::EmptyTestEventListener {
   public:
    explicit RankFailurePrinter(int rank) : rank_(rank) {}
    void OnTestPartResult(const ::testing::TestPartResult& r) override {
      if (r.failed())
        std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                     r.line_number(), r.summary());
    }

   private:
    int rank_;
  };
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

std::unique_ptr<Communicator> comm() { return make_mpi_communicator(); }

}  // namespace

TEST(Communicator, RankSizeAndLocalRankAgreeWithTheSession) {
  auto c = comm();
  EXPECT_EQ(c->backend(), "mpi");
  EXPECT_EQ(c->rank(), g_session->rank());
  EXPECT_EQ(c->size(), g_session->size());
  EXPECT_EQ(c->local_rank(), g_session->local_rank());
  EXPECT_GE(c->rank(), 0);
  EXPECT_LT(c->rank(), c->size());
  EXPECT_EQ(static_cast<int>(g_session->host_names().size()), c->size());
  EXPECT_FALSE(g_session->host_names().at(c->rank()).empty());

  // On rank 0: the local ranks of each host are 0..k-1, in world-rank order, and local_size = k.
  std::string mine = std::to_string(c->local_rank()) + " " + std::to_string(g_session->local_size());
  std::vector<std::string> all = c->gather_bytes(mine, 0);
  if (c->rank() == 0) {
    ASSERT_EQ(static_cast<int>(all.size()), c->size());
    std::map<std::string, std::vector<std::pair<int, int>>> by_host;
    for (int r = 0; r < c->size(); ++r) {
      int local = -1, local_size = -1;
      ASSERT_EQ(std::sscanf(all[r].c_str(), "%d %d", &local, &local_size), 2);
      by_host[g_session->host_names()[r]].push_back({local, local_size});
    }
    for (const auto& [host, ranks] : by_host)
      for (size_t i = 0; i < ranks.size(); ++i) {
        EXPECT_EQ(ranks[i].first, static_cast<int>(i)) << host;
        EXPECT_EQ(ranks[i].second, static_cast<int>(ranks.size())) << host;
      }
  } else {
    EXPECT_TRUE(all.empty());
  }
}

TEST(Communicator, AllreduceFloat64MatchesClosedForm) {
  auto c = comm();
  const int r = c->rank(), n = c->size();
  // x[i] = (r + 1) * 0.5 + i: every partial sum is exact in float64.
  at::Tensor x = at::arange(12, at::kDouble).reshape({3, 4}) + (r + 1) * 0.5;
  c->allreduce_sum(x);
  at::Tensor want = at::arange(12, at::kDouble).reshape({3, 4}) * n + 0.5 * n * (n + 1) / 2.0;
  EXPECT_TRUE(at::equal(x, want)) << x;
}

TEST(Communicator, AllreduceInt64IsExactBeyondDoublePrecision) {
  auto c = comm();
  const int64_t r = c->rank(), n = c->size();
  const int64_t big = int64_t{1} << 55;  // sums need > 53 bits: exact only as integers
  at::Tensor x = at::arange(5, at::kLong) + big * (r + 1) + 1;
  c->allreduce_sum(x);
  at::Tensor want = (at::arange(5, at::kLong) + 1) * n + big * (n * (n + 1) / 2);
  EXPECT_TRUE(at::equal(x, want)) << x;
}

TEST(Communicator, AllreduceOtherDtypesAndNonContiguous) {
  auto c = comm();
  const int r = c->rank(), n = c->size();
  at::Tensor f = at::full({7}, static_cast<float>(r + 1), at::kFloat);
  c->allreduce_sum(f);
  EXPECT_TRUE(at::equal(f, at::full({7}, n * (n + 1) / 2.0f, at::kFloat)));

  at::Tensor u = at::full({3}, r + 1, at::kByte);
  c->allreduce_sum(u);
  EXPECT_TRUE(at::equal(u, at::full({3}, n * (n + 1) / 2, at::kByte)));

  at::Tensor i = at::full({2}, r, at::kInt);
  c->allreduce_sum(i);
  EXPECT_TRUE(at::equal(i, at::full({2}, n * (n - 1) / 2, at::kInt)));

  // A transposed view: the result must land in the caller's tensor.
  at::Tensor base = at::arange(6, at::kLong).reshape({2, 3});
  at::Tensor view = base.t();
  ASSERT_FALSE(view.is_contiguous());
  c->allreduce_sum(view);
  EXPECT_TRUE(at::equal(base, at::arange(6, at::kLong).reshape({2, 3}) * n));

  at::Tensor empty = at::empty({0}, at::kDouble);
  c->allreduce_sum(empty);
  EXPECT_EQ(empty.numel(), 0);
}

TEST(Communicator, BroadcastTensorFromAnyRoot) {
  auto c = comm();
  for (int root : {0, c->size() - 1}) {
    at::Tensor t = c->rank() == root ? at::arange(10, at::kDouble) * 1.25 : at::zeros({10}, at::kDouble);
    c->broadcast(t, root);
    EXPECT_TRUE(at::equal(t, at::arange(10, at::kDouble) * 1.25)) << "root " << root;
    at::Tensor m = c->rank() == root ? at::arange(6, at::kLong).reshape({2, 3}) : at::zeros({2, 3}, at::kLong);
    c->broadcast(m, root);
    EXPECT_TRUE(at::equal(m, at::arange(6, at::kLong).reshape({2, 3})));
  }
}

TEST(Communicator, BroadcastBytesAnyLengthBinarySafe) {
  auto c = comm();
  const int last = c->size() - 1;
  std::string config = "name: demo\nprune:\n  ratios: [0, 0.5]\n";
  std::string s = c->rank() == 0 ? config : "something else";
  c->broadcast_bytes(s, 0);
  EXPECT_EQ(s, config);

  std::string binary(1 << 20, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 131) % 251);
  std::string b = c->rank() == last ? binary : "";
  c->broadcast_bytes(b, last);
  EXPECT_EQ(b, binary);

  std::string e = c->rank() == 0 ? "" : "not empty";
  c->broadcast_bytes(e, 0);
  EXPECT_EQ(e, "");
}

TEST(Communicator, GatherBytesVariableLengthInRankOrder) {
  auto c = comm();
  const int r = c->rank();
  std::string mine(static_cast<size_t>(3 * r), static_cast<char>('a' + r));  // rank 0 sends nothing
  for (int root : {0, c->size() - 1}) {
    std::vector<std::string> all = c->gather_bytes(mine, root);
    if (r == root) {
      ASSERT_EQ(static_cast<int>(all.size()), c->size());
      for (int k = 0; k < c->size(); ++k) EXPECT_EQ(all[k], std::string(static_cast<size_t>(3 * k), static_cast<char>('a' + k)));
    } else {
      EXPECT_TRUE(all.empty());
    }
  }
}

TEST(Communicator, GatherRowsPlacesRowsInRankOrder) {
  auto c = comm();
  const int r = c->rank(), n = c->size();
  // Rank r holds r rows (rank 0 none); row j of rank r is [r, j, 0..2] -> shape [r, 2, 3] too.
  at::Tensor rows = at::empty({r, 4}, at::kDouble);
  for (int j = 0; j < r; ++j)
    for (int k = 0; k < 4; ++k) rows[j][k] = k == 0 ? r : k == 1 ? j : 100 * r + 10 * j + k;
  at::Tensor all = c->gather_rows_to_root(rows);
  at::Tensor ints = at::arange(r * 6, at::kLong).reshape({r, 2, 3}) + 1000 * r;
  at::Tensor all_ints = c->gather_rows_to_root(ints);
  if (r == 0) {
    ASSERT_TRUE(all.defined());
    ASSERT_EQ(all.size(0), n * (n - 1) / 2);
    ASSERT_EQ(all.size(1), 4);
    int64_t row = 0;
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < k; ++j, ++row) {
        EXPECT_EQ(all[row][0].item<double>(), k);
        EXPECT_EQ(all[row][1].item<double>(), j);
        EXPECT_EQ(all[row][3].item<double>(), 100 * k + 10 * j + 3);
      }
    std::vector<at::Tensor> parts;
    for (int k = 0; k < n; ++k) parts.push_back(at::arange(k * 6, at::kLong).reshape({k, 2, 3}) + 1000 * k);
    EXPECT_TRUE(at::equal(all_ints, at::cat(parts, 0)));
  } else {
    EXPECT_FALSE(all.defined());
    EXPECT_FALSE(all_ints.defined());
  }
}

TEST(Communicator, GatherThenSumInSampleOrderIsBitIdenticalToOneRank) {
  // The documented deterministic path: per-sample values gathered to rank 0 and summed there in
  // sample order give the same bits as one rank summing all samples, for any rank count.
  auto c = comm();
  const int64_t samples = 101, units = 5;
  at::Tensor everything = at::empty({samples, units}, at::kDouble);
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t u = 0; u < units; ++u) everything[s][u] = std::sin(0.37 * s + 1.3 * u) * 1e3 / (1 + s % 7);
  // Contiguous shards, like the run's plan.
  const int64_t begin = samples * c->rank() / c->size(), end = samples * (c->rank() + 1) / c->size();
  at::Tensor gathered = c->gather_rows_to_root(everything.slice(0, begin, end));
  if (c->rank() == 0) {
    ASSERT_TRUE(at::equal(gathered, everything));
    auto sequential_sum = [&](const at::Tensor& rows) {
      std::vector<double> acc(units, 0.0);
      auto a = rows.accessor<double, 2>();
      for (int64_t s = 0; s < rows.size(0); ++s)
        for (int64_t u = 0; u < units; ++u) acc[u] += a[s][u];
      return acc;
    };
    std::vector<double> got = sequential_sum(gathered), want = sequential_sum(everything);
    for (int64_t u = 0; u < units; ++u) EXPECT_EQ(std::memcmp(&got[u], &want[u], sizeof(double)), 0);
  }
}

TEST(Communicator, AllTrueIsALogicalAnd) {
  auto c = comm();
  EXPECT_TRUE(c->all_true(true));
  EXPECT_FALSE(c->all_true(c->rank() != c->size() - 1));
  EXPECT_FALSE(c->all_true(false));
  c->barrier();
}

TEST(Communicator, MpiErrorsBecomeRuntimeFailureWithTheMpiMessage) {
  auto c = comm();
  // Root out of range: every rank's MPI argument check fails, on every rank alike.
  std::string s = "x";
  try {
    c->broadcast_bytes(s, c->size() + 3);
    ADD_FAILURE() << "expected RuntimeFailure";
  } catch (const RuntimeFailure& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("MPI_Bcast failed on rank " + std::to_string(c->rank())), std::string::npos) << msg;
    EXPECT_NE(msg.find("MPI_ERR_ROOT"), std::string::npos) << msg;
  }
  c->barrier();  // the communicator is still usable
}

TEST(Communicator, MakeCommunicatorPicksMpiForCpuAndFallsBackForCuda) {
  auto cpu = make_communicator("cpu");
  EXPECT_EQ(cpu->backend(), "mpi");
  if (at::hasCUDA()) GTEST_SKIP() << "a GPU is visible: the NCCL test below covers device: cuda";
  // No GPU on these machines: with or without NCCL compiled in, every rank ends on MPI, together.
  auto cuda = make_communicator("cuda");
  EXPECT_EQ(cuda->backend(), "mpi");
  at::Tensor x = at::ones({3}, at::kLong);
  cuda->allreduce_sum(x);
  EXPECT_TRUE(at::equal(x, at::full({3}, cuda->size(), at::kLong)));
  EXPECT_THROW(make_communicator("tpu"), headprune::UserError);
}

// On a GPU machine (scripts/gpu-check.sh runs this with one rank per GPU): NCCL reduces CUDA
// tensors correctly. Skipped where no GPU is visible or NCCL is not compiled in.
TEST(Communicator, NcclAllreduceAndBroadcastOnCudaTensors) {
  if (!at::hasCUDA() || !nccl_compiled()) GTEST_SKIP() << "needs a GPU and the NCCL backend";
  auto c = make_communicator("cuda");
  ASSERT_EQ(c->backend(), "nccl");
  const auto dev = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(c->local_rank() % at::getNumGPUs()));
  for (auto type : {at::kFloat, at::kDouble, at::kLong}) {
    at::Tensor x = (at::arange(1000, at::TensorOptions().dtype(type)) * (c->rank() + 1)).to(dev);
    c->allreduce_sum(x);
    const double factor = c->size() * (c->size() + 1) / 2.0;
    at::Tensor expected = at::arange(1000, at::TensorOptions().dtype(type)) * factor;
    EXPECT_TRUE(at::equal(x.cpu(), expected.to(type))) << c10::toString(type);
  }
  at::Tensor y = at::full({17}, static_cast<double>(c->rank() + 5), at::TensorOptions().dtype(at::kFloat)).to(dev);
  c->broadcast(y, c->size() - 1);
  EXPECT_TRUE(at::equal(y.cpu(), at::full({17}, static_cast<double>(c->size() + 4), at::TensorOptions().dtype(at::kFloat))));
}

TEST(Communicator, AllreduceMaxIsTheElementwiseMaximum) {
  auto c = make_mpi_communicator();
  for (auto type : {at::kDouble, at::kLong}) {
    // Rank r holds i * (r + 1) for even i and -i * (r + 1) for odd i: the max is size or 1 times.
    at::Tensor i = at::arange(10, at::TensorOptions().dtype(type));
    at::Tensor sign = 1 - 2 * (i.remainder(2));
    at::Tensor x = i * sign * (c->rank() + 1);
    c->allreduce_max(x);
    at::Tensor want = at::where(sign > 0, i * c->size(), -i);
    EXPECT_TRUE(at::equal(x, want.to(type))) << c10::toString(type);
  }
}

// dist/exact_sum.hpp: the same bits for every split of the rows over the ranks (all on one rank,
// all on another, random cuts, ranks in reverse), and within the documented bound of a careful
// serial sum (long double, compensated).
TEST(ExactSum, SameBitsForEverySplitAndWithinTheBoundOfASerialSum) {
  auto c = make_mpi_communicator();
  const int64_t N = 1001;
  // Columns of very different magnitudes, signs, one all zero, one constant.
  at::Tensor rows = at::empty({N, 4, 3}, at::kDouble);
  auto a = rows.accessor<double, 3>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t h = 0; h < 3; ++h) {
        const int64_t u = m * 3 + h;
        const double scale = std::pow(10.0, static_cast<double>(u % 7) - 3.0);
        a[n][m][h] = u == 5 ? 0.0 : u == 8 ? 0.1 : std::sin(0.37 * static_cast<double>(n) + static_cast<double>(u)) * scale;
      }
  std::vector<at::Tensor> sums;
  for (uint64_t trial = 0; trial < 6; ++trial) {
    std::vector<int64_t> cuts{0};
    for (int r = 1; r < c->size(); ++r)
      cuts.push_back(trial == 0   ? N
                     : trial == 1 ? 0
                                  : static_cast<int64_t>(headprune::splitmix64(trial * 100 + static_cast<uint64_t>(r)) %
                                                         static_cast<uint64_t>(N + 1)));
    cuts.push_back(N);
    std::sort(cuts.begin(), cuts.end());
    const int chunk = trial % 2 ? c->size() - 1 - c->rank() : c->rank();  // odd trials: ranks reversed
    const at::Tensor mine = rows.slice(0, cuts[static_cast<size_t>(chunk)], cuts[static_cast<size_t>(chunk) + 1]);
    const ExactSum s = exact_sum_rows(*c, mine);
    EXPECT_EQ(s.count, N);
    sums.push_back(s.sum);
  }
  for (size_t t = 1; t < sums.size(); ++t) EXPECT_TRUE(at::equal(sums[t], sums[0])) << "split " << t;
  const int b = exact_sum_headroom_bits(N);
  for (int64_t m = 0; m < 4; ++m)
    for (int64_t h = 0; h < 3; ++h) {
      long double sum = 0, comp = 0, max_abs = 0;
      for (int64_t n = 0; n < N; ++n) {  // Neumaier
        const long double x = a[n][m][h], t = sum + x;
        comp += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
        max_abs = std::max(max_abs, std::fabs(x));
      }
      const double ref = static_cast<double>(sum + comp), got = sums[0][m][h].item<double>();
      // Sum bound: N * 2^(b-62) * max|x| (dist/exact_sum.hpp), plus the final rounding.
      const double bound = static_cast<double>(N) * std::ldexp(static_cast<double>(max_abs), b - 62) +
                           std::ldexp(std::fabs(ref), -52);
      EXPECT_LE(std::fabs(got - ref), bound) << "unit " << m << "," << h;
      if (max_abs == 0) EXPECT_EQ(got, 0.0);
    }
  // The constant column: 1001 x 0.1 in exact arithmetic then one rounding; a float64 loop drifts.
  EXPECT_NEAR(sums[0][2][2].item<double>(), 100.1, 1e-12);
}

// NCCL's one-GPU-per-rank check compares PCI bus ids per host: device numbers do not compare
// across ranks that each see their own CUDA_VISIBLE_DEVICES.
TEST(GpuAssignment, NamesTheFirstTwoRanksThatShareAGpu) {
  using headprune::dist::detail::shared_gpu_clash;
  EXPECT_EQ(shared_gpu_clash({}), "");
  EXPECT_EQ(shared_gpu_clash({"n1\t0000:1a:00.0"}), "");
  // Four ranks on two nodes, each seeing "its" GPU as device 0: all different.
  EXPECT_EQ(shared_gpu_clash({"n1\t0000:1a:00.0", "n1\t0000:1b:00.0", "n2\t0000:1a:00.0", "n2\t0000:1b:00.0"}), "");
  EXPECT_EQ(shared_gpu_clash({"n1\t0000:1a:00.0", "n1\t0000:1b:00.0", "n1\t0000:1a:00.0", "n1\t0000:1b:00.0"}),
            "ranks 0 and 2 share GPU 0000:1a:00.0 on n1");
}
