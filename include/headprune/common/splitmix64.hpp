// splitmix64 (Steele, Lea & Flood 2014; Vigna's reference constants): one 64-bit value in, a
// well-mixed 64-bit value out. A pure function, not a generator with state: a stream seed or a
// random value is a hash of what identifies it, e.g. splitmix64(seed ^ splitmix64(sample)) for
// (seed, sample, unit). So a value depends only on those numbers, never on how many values were
// drawn before it or in which order (shards, ranks, threads, resumed runs draw the same).
#pragma once

#include <cstdint>

namespace headprune {

/// The splitmix64 output for state `x`: x + the golden-ratio increment, then two xor-shift-multiply
/// rounds. splitmix64(0) = 0xe220a8397b1dcdaf, the reference generator's first output for seed 0.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace headprune
