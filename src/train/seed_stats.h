// seed_stats.h — the statistics of a few seeds: mean ± std, the paired difference to a
// baseline with its Student-t confidence interval, and Pearson's correlation.
//
//   mean      m = (1/n) Σ x_s
//   std       s = √( Σ (x_s − m)² / (n − 1) )             (sample std; 0 for n = 1)
//   paired    d_s = x_s − b_s over the seeds s both have (same seed ⇒ same data split,
//             same initialisation), d̄ ± t_{0.975, n−1} · s_d / √n   (95 % t-interval)
//   Pearson   r = Σ (x−x̄)(y−ȳ) / √( Σ (x−x̄)² Σ (y−ȳ)² )
//
// With fewer than two values a std, an interval or a correlation is undefined: NaN.
#pragma once

#include <cstdint>
#include <vector>

namespace contra::train {

struct MeanStd {
  double mean = 0.0, std = 0.0;  // std: sample (n − 1); NaN when n < 2
  std::int64_t n = 0;
};
MeanStd mean_std(const std::vector<double>& x);

struct PairedDifference {
  double mean = 0.0;         // d̄
  double half_width = 0.0;   // t_{0.975, n−1} · s_d / √n (NaN when n < 2)
  std::int64_t n = 0;        // pairs
  double lo() const { return mean - half_width; }
  double hi() const { return mean + half_width; }
  // The interval excludes 0 (a difference beyond the seed noise at 95 %).
  bool excludes_zero() const { return n >= 2 && (lo() > 0.0 || hi() < 0.0); }
};
// x[s] − baseline[s] over indices where both are finite.
PairedDifference paired_difference(const std::vector<double>& x, const std::vector<double>& baseline);

// The 0.975 quantile of Student's t with `df` ≥ 1 degrees of freedom (table to 30, then the
// Cornish–Fisher expansion around the normal quantile; error < 1e-3).
double t_quantile_975(std::int64_t df);

// Pearson's r over pairs where both values are finite; NaN with fewer than 3 pairs or a
// constant side.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace contra::train
