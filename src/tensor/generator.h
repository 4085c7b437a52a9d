// generator.h — explicit, seedable random number generator.
//
// xoshiro256** (Blackman & Vigna) seeded through SplitMix64. Generators are always passed
// in explicitly; there is no global one. `Generator::derive(seed, {a, b, c})` makes an
// independent stream from a seed and a tuple of indices (for example epoch, sample index,
// view), so per-sample randomness does not depend on thread count or visiting order.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

namespace contra {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0);
  static Generator derive(std::uint64_t seed, std::initializer_list<std::uint64_t> keys);

  std::uint64_t next_u64();
  // Uniform double in [0, 1) with 53 random bits.
  double uniform();
  // Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Integer uniform in [0, n) without modulo bias.
  std::uint64_t below(std::uint64_t n);
  // Standard normal (Box–Muller, both values used).
  double normal();
  bool bernoulli(double p) { return uniform() < p; }

  using State = std::array<std::uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; has_spare_ = false; }

 private:
  State s_{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// SplitMix64 mixing step; exposed for hashing seeds and indices together.
std::uint64_t splitmix64(std::uint64_t& x);

}  // namespace contra
