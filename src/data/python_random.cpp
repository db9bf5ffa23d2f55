#include "headprune/data/python_random.hpp"

#include <utility>

#include "headprune/common/error.hpp"

namespace headprune::data {
namespace {
constexpr int N = 624;
constexpr int M = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfU;
constexpr uint32_t kUpperMask = 0x80000000U;
constexpr uint32_t kLowerMask = 0x7fffffffU;

int bit_length(uint64_t n) {
  int k = 0;
  while (n) {
    ++k;
    n >>= 1;
  }
  return k;
}
}  // namespace

PythonRandom::PythonRandom(int64_t seed) { this->seed(seed); }

void PythonRandom::seed(int64_t seed) {
  // abs() without overflow for INT64_MIN.
  uint64_t magnitude = seed < 0 ? ~static_cast<uint64_t>(seed) + 1 : static_cast<uint64_t>(seed);
  uint32_t key[2] = {static_cast<uint32_t>(magnitude), static_cast<uint32_t>(magnitude >> 32)};
  // CPython: keyused = bits == 0 ? 1 : (bits - 1) / 32 + 1.
  size_t used = (magnitude >> 32) ? 2 : 1;
  init_by_array(key, used);
}

void PythonRandom::init_genrand(uint32_t s) {
  mt_[0] = s;
  for (int i = 1; i < N; ++i)
    mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  mti_ = N;
}

void PythonRandom::init_by_array(const uint32_t* key, size_t key_length) {
  init_genrand(19650218U);
  size_t i = 1, j = 0;
  for (size_t k = (static_cast<size_t>(N) > key_length ? N : key_length); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= static_cast<size_t>(N)) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
    if (j >= key_length) j = 0;
  }
  for (size_t k = N - 1; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= static_cast<size_t>(N)) {
      mt_[0] = mt_[N - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000U;  // MSB is 1, assuring a non-zero initial array
  mti_ = N;
}

uint32_t PythonRandom::next_u32() {
  static const uint32_t mag01[2] = {0x0U, kMatrixA};
  if (mti_ >= N) {
    int kk = 0;
    for (; kk < N - M; ++kk) {
      uint32_t y = (mt_[kk] & kUpperMask) | (mt_[kk + 1] & kLowerMask);
      mt_[kk] = mt_[kk + M] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    for (; kk < N - 1; ++kk) {
      uint32_t y = (mt_[kk] & kUpperMask) | (mt_[kk + 1] & kLowerMask);
      mt_[kk] = mt_[kk + (M - N)] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    uint32_t y = (mt_[N - 1] & kUpperMask) | (mt_[0] & kLowerMask);
    mt_[N - 1] = mt_[M - 1] ^ (y >> 1) ^ mag01[y & 0x1U];
    mti_ = 0;
  }
  uint32_t y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

uint64_t PythonRandom::getrandbits(int k) {
  HP_ASSERT(k >= 0 && k <= 64, "getrandbits supports 0..64 bits");
  if (k == 0) return 0;
  if (k <= 32) return next_u32() >> (32 - k);
  // Least significant 32-bit word first; the last word keeps its top (k - 32) bits.
  uint64_t low = next_u32();
  uint64_t high = next_u32() >> (64 - k);
  return low | (high << 32);
}

uint64_t PythonRandom::randbelow(uint64_t n) {
  HP_ASSERT(n >= 1, "randbelow needs n >= 1");
  int k = bit_length(n);
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

void PythonRandom::shuffle(std::vector<int64_t>& x) {
  for (size_t i = x.size(); i-- > 1;) {
    auto j = static_cast<size_t>(randbelow(i + 1));
    std::swap(x[i], x[j]);
  }
}

}  // namespace headprune::data
