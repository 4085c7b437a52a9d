// fast_exp.h — a vectorisable e^x for the fused loss's row pass (internal header).
//
//   e^x = 2^n · e^r,   n = round(x / ln 2),   r = x − n·ln 2  (ln 2 split in two, Cody–Waite),
//   |r| ≤ ln2/2, e^r by its Taylor polynomial: degree 13 for double (truncation < 2e-17
//   relative), degree 7 for float (< 6e-9). 2^n is built in the exponent bits; n is rounded
//   with the 1.5·2^52 (1.5·2^23) "magic number", so the loop vectorises on AVX2 without a
//   packed double→int64 conversion. Inputs below −708 (−87.3 for float) return 0; the fused
//   loss only calls it with x ≤ 0.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace contra::cpu {

inline double fast_exp(double x) {
  const double xc = std::min(std::max(x, -708.0), 709.0);
  const double magic = 6755399441055744.0;  // 1.5 · 2^52
  const double t = xc * 1.4426950408889634 + magic;
  const double n = t - magic;  // round(x / ln 2)
  const double r = (xc - n * 0.6931471803691238) - n * 1.9082149292705877e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const std::uint64_t bits = (std::bit_cast<std::uint64_t>(t) + 1023u) << 52;  // 2^n
  const double res = p * std::bit_cast<double>(bits);
  return x < -708.0 ? 0.0 : res;
}

inline float fast_exp(float x) {
  const float xc = std::min(std::max(x, -87.3f), 88.7f);
  const float magic = 12582912.0f;  // 1.5 · 2^23
  const float t = xc * 1.44269504f + magic;
  const float n = t - magic;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::uint32_t bits = (std::bit_cast<std::uint32_t>(t) + 127u) << 23;
  const float res = p * std::bit_cast<float>(bits);
  return x < -87.3f ? 0.0f : res;
}

}  // namespace contra::cpu
