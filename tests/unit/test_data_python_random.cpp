// ctest-labels: fast fixture
// CPython's random.seed / getrandbits / _randbelow / shuffle, against values recorded with
// CPython 3.11 (tests/data/python_shuffle/cases.json and the literals below).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "headprune/data/python_random.hpp"
#include "headprune/data/selection.hpp"
#include "testing.hpp"

using headprune::data::PythonRandom;

TEST(PythonRandom, ReproducesEveryRecordedShuffle) {
  std::ifstream in(headprune::testing::data_path("python_shuffle/cases.json"));
  ASSERT_TRUE(in) << "missing tests/data/python_shuffle/cases.json";
  auto root = nlohmann::json::parse(in);
  ASSERT_GE(root["cases"].size(), 7u);
  for (const auto& c : root["cases"]) {
    const int64_t seed = c["seed"], n = c["n"];
    SCOPED_TRACE("seed " + std::to_string(seed) + ", n " + std::to_string(n));
    std::vector<int64_t> r(static_cast<size_t>(n));
    std::iota(r.begin(), r.end(), 0);
    PythonRandom rng(seed);
    rng.shuffle(r);
    auto first = c["first"].get<std::vector<int64_t>>();
    auto last = c["last"].get<std::vector<int64_t>>();
    ASSERT_LE(first.size(), r.size());
    EXPECT_EQ(std::vector<int64_t>(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(first.size())), first);
    EXPECT_EQ(std::vector<int64_t>(r.end() - static_cast<std::ptrdiff_t>(last.size()), r.end()), last);
    // seed_shuffle is the same permutation cut to num_samples.
    auto picked = headprune::data::seed_shuffle(n, static_cast<int64_t>(first.size()), seed);
    EXPECT_EQ(picked, first);
  }
}

TEST(PythonRandom, GetrandbitsMatchesCPython) {
  // random.seed(1234); [random.getrandbits(k) for k in (1, 31, 32, 33, 64, 0)]
  PythonRandom rng(1234);
  EXPECT_EQ(rng.getrandbits(1), 1u);
  EXPECT_EQ(rng.getrandbits(31), 1671098287u);
  EXPECT_EQ(rng.getrandbits(32), 1892932127u);
  EXPECT_EQ(rng.getrandbits(33), 501869158u);
  EXPECT_EQ(rng.getrandbits(64), 16804540376168033093ull);
  EXPECT_EQ(rng.getrandbits(0), 0u);
}

TEST(PythonRandom, NegativeSeedUsesAbsoluteValue) {
  // random.seed(-1234); [random.getrandbits(32) for _ in range(2)]
  PythonRandom rng(-1234);
  EXPECT_EQ(rng.getrandbits(32), 4150886329u);
  EXPECT_EQ(rng.getrandbits(32), 3342196574u);
}

TEST(PythonRandom, RandbelowMatchesCPython) {
  // r = random.Random(0); [r._randbelow(k) for k in (1, 2, 3, 1000, 2**40 + 1)]
  PythonRandom rng(0);
  EXPECT_EQ(rng.randbelow(1), 0u);
  EXPECT_EQ(rng.randbelow(2), 1u);
  EXPECT_EQ(rng.randbelow(3), 0u);
  EXPECT_EQ(rng.randbelow(1000), 265u);
  EXPECT_EQ(rng.randbelow((1ull << 40) + 1), 891145273829ull);
}
