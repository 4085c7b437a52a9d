// seed_stats.cpp — see seed_stats.h for the formulas.
#include "train/seed_stats.h"

#include <cmath>
#include <limits>

namespace contra::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

MeanStd mean_std(const std::vector<double>& x) {
  MeanStd r;
  r.n = static_cast<std::int64_t>(x.size());
  if (x.empty()) return {kNaN, kNaN, 0};
  double sum = 0.0;
  for (double v : x) sum += v;
  r.mean = sum / static_cast<double>(r.n);  // m = (1/n) Σ x_s
  if (r.n < 2) {
    r.std = kNaN;
    return r;
  }
  double ss = 0.0;
  for (double v : x) ss += (v - r.mean) * (v - r.mean);
  r.std = std::sqrt(ss / static_cast<double>(r.n - 1));  // s = √(Σ (x − m)² / (n − 1))
  return r;
}

double t_quantile_975(std::int64_t df) {
  static const double table[] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                 2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                 2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
  if (df < 1) return kNaN;
  if (df <= 30) return table[df - 1];
  // Cornish–Fisher: t ≈ z + (z³ + z)/(4ν) + (5z⁵ + 16z³ + 3z)/(96ν²), z = 1.959964
  const double z = 1.959963984540054, v = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * v) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

PairedDifference paired_difference(const std::vector<double>& x, const std::vector<double>& baseline) {
  std::vector<double> d;
  for (size_t s = 0; s < x.size() && s < baseline.size(); ++s)
    if (std::isfinite(x[s]) && std::isfinite(baseline[s])) d.push_back(x[s] - baseline[s]);  // d_s = x_s − b_s
  PairedDifference r;
  const MeanStd ms = mean_std(d);
  r.n = ms.n;
  r.mean = ms.mean;
  // d̄ ± t_{0.975, n−1} · s_d / √n
  r.half_width = r.n >= 2 ? t_quantile_975(r.n - 1) * ms.std / std::sqrt(static_cast<double>(r.n)) : kNaN;
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> a, b;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      a.push_back(x[i]);
      b.push_back(y[i]);
    }
  if (a.size() < 3) return kNaN;
  auto constant = [](const std::vector<double>& v) {
    for (double e : v)
      if (e != v.front()) return false;
    return true;
  };
  if (constant(a) || constant(b)) return kNaN;
  const double ma = mean_std(a).mean, mb = mean_std(b).mean;
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);  // r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²)
}

}  // namespace contra::train
