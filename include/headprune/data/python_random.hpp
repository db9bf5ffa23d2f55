// CPython's `random` module, exactly the part the seed code uses for its sample selection:
//   random.seed(1234); r = list(range(n)); random.shuffle(r); r[:num_samples]
//
// The algorithm is CPython 3.x's (Modules/_randommodule.c, Lib/random.py):
//   - seed(int a): MT19937 init_by_array over the 32-bit little-endian words of abs(a)
//     (one zero word for a = 0);
//   - getrandbits(k): k <= 32 takes the top k bits of one 32-bit output; wider values are built
//     from successive outputs, least significant word first;
//   - _randbelow(n): getrandbits(n.bit_length()) retried until the value is < n;
//   - shuffle(x): for i from len(x)-1 down to 1: j = _randbelow(i + 1); swap x[i], x[j].
// tests/unit/test_data_python_random.cpp checks every case of tests/data/python_shuffle/cases.json.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace headprune::data {

class PythonRandom {
 public:
  /// Same state as Python's random.Random(seed).
  explicit PythonRandom(int64_t seed);

  /// random.seed(seed) for an int seed (the sign is dropped, as CPython does).
  void seed(int64_t seed);

  /// One 32-bit MT19937 output (CPython's genrand_uint32).
  uint32_t next_u32();

  /// random.getrandbits(k) for 0 <= k <= 64.
  uint64_t getrandbits(int k);

  /// random._randbelow(n) for n >= 1 (rejection sampling over getrandbits(bit_length(n))).
  uint64_t randbelow(uint64_t n);

  /// random.shuffle(x), in place.
  void shuffle(std::vector<int64_t>& x);

 private:
  void init_genrand(uint32_t s);
  void init_by_array(const uint32_t* key, size_t key_length);

  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

}  // namespace headprune::data
