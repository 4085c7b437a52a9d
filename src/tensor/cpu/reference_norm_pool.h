// reference_norm_pool.h — naive batch normalisation and pooling: the ground truth for oneDNN.
//
// Batch norm, x seen as (N, C, S) (S = H·W, or 1 for a 2-D input), M = N·S per channel:
//   mean = Σ x / M,  var = Σ (x − mean)² / M (biased),  r = 1/√(var + eps),  x̂ = (x − mean)·r
//   y = γ·x̂ + β
//   dβ = Σ dy,  dγ = Σ dy·x̂
//   dx = γ·r/M · (M·dy − dβ − x̂·dγ)       (training: mean and var depend on x)
//   dx = γ·r · dy                         (inference: mean and var are constants)
// Max pooling: y = max over the window (padding is −∞); the argmax (first one on ties, NaN
// wins as in PyTorch) is kept as an index into H·W; dx[argmax] += dy.
// Adaptive average pooling: cell (i, j) averages rows [⌊i·H/Ho⌋, ⌈(i+1)·H/Ho⌉) and columns
// [⌊j·W/Wo⌋, ⌈(j+1)·W/Wo⌉); dx[window] += dy / |window|.
//
// Single-threaded, sums in double, templated on float and double; all tensors contiguous.
// Dimensions: N batch, C channels, S = H·W, H×W input, Ho×Wo output.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tensor/backend.h"
#include "tensor/batch_norm_reduction.h"

namespace contra::cpu::reference {

struct NormGeometry {
  std::int64_t N, C, S;
  explicit NormGeometry(const Shape& x) : N(x[0]), C(x[1]), S(1) {
    for (size_t d = 2; d < x.size(); ++d) S *= x[d];
  }
  std::int64_t at(std::int64_t n, std::int64_t c, std::int64_t s) const { return (n * C + c) * S + s; }
};

// With a BatchNormReduction (batch_norm_reduction.h) the sums Σx (with the count M), then
// Σ(x − mean)², are each summed over the processes before use: BN over the global batch.
template <typename T>
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                 const Tensor& y, const Tensor& mean, const Tensor& var,
                                 BatchNormReduction* reduction = nullptr) {
  const NormGeometry g(x.shape());
  const T* px = x.data<T>();
  T* py = y.data<T>();
  // sums[c] = Σx over channel c; sums[C] = M
  std::vector<double> sums(static_cast<size_t>(g.C + 1), 0.0);
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) sums[c] += static_cast<double>(px[g.at(n, c, k)]);
  sums[g.C] = static_cast<double>(g.N * g.S);
  if (reduction != nullptr) reduction->sum(sums.data(), g.C + 1);
  const double M = sums[g.C];
  if (reduction != nullptr) reduction->count = M;
  std::vector<double> mu(static_cast<size_t>(g.C)), ss(static_cast<size_t>(g.C), 0.0);
  for (std::int64_t c = 0; c < g.C; ++c) {
    mu[c] = sums[c] / M;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) {
        const double d = static_cast<double>(px[g.at(n, c, k)]) - mu[c];
        ss[c] += d * d;
      }
  }
  if (reduction != nullptr) reduction->sum(ss.data(), g.C);
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double v = ss[c] / M;
    const double r = 1.0 / std::sqrt(v + eps);
    const double gamma = weight.defined() ? static_cast<double>(weight.data<T>()[c]) : 1.0;
    const double beta = bias.defined() ? static_cast<double>(bias.data<T>()[c]) : 0.0;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) {
        const std::int64_t i = g.at(n, c, k);
        py[i] = static_cast<T>((static_cast<double>(px[i]) - mu[c]) * r * gamma + beta);
      }
    mean.data<T>()[c] = static_cast<T>(mu[c]);
    var.data<T>()[c] = static_cast<T>(v);
  }
}

template <typename T>
void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                                  const Tensor& var, double eps, const Tensor& y) {
  const NormGeometry g(x.shape());
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double mu = static_cast<double>(mean.data<T>()[c]);
    const double r = 1.0 / std::sqrt(static_cast<double>(var.data<T>()[c]) + eps);
    const double gamma = weight.defined() ? static_cast<double>(weight.data<T>()[c]) : 1.0;
    const double beta = bias.defined() ? static_cast<double>(bias.data<T>()[c]) : 0.0;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) {
        const std::int64_t i = g.at(n, c, k);
        py[i] = static_cast<T>((static_cast<double>(px[i]) - mu) * r * gamma + beta);
      }
  }
}

// With a BatchNormReduction, dx uses Σdy, Σdy·x̂ and M summed over the processes (one
// collective); dβ, dγ stay this process's part (replicated parameters: the gradient
// all-reduce adds the parts).
template <typename T>
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                         const Tensor& dbias, BatchNormReduction* reduction = nullptr) {
  const NormGeometry g(x.shape());
  const T* px = x.data<T>();
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  // sums[c] = Σdy (dβ), sums[C + c] = Σdy·x̂ (dγ), sums[2C] = M
  std::vector<double> sums(static_cast<size_t>(2 * g.C + 1), 0.0), r(static_cast<size_t>(g.C));
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double mu = static_cast<double>(mean.data<T>()[c]);
    r[c] = 1.0 / std::sqrt(static_cast<double>(var.data<T>()[c]) + eps);
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) {
        const std::int64_t i = g.at(n, c, k);
        const double d = static_cast<double>(pdy[i]);
        sums[c] += d;
        sums[g.C + c] += d * (static_cast<double>(px[i]) - mu) * r[c];
      }
  }
  sums[2 * g.C] = static_cast<double>(g.N * g.S);
  for (std::int64_t c = 0; c < g.C; ++c) {
    if (dweight.defined()) dweight.data<T>()[c] = static_cast<T>(sums[g.C + c]);
    if (dbias.defined()) dbias.data<T>()[c] = static_cast<T>(sums[c]);
  }
  if (reduction != nullptr && batch_stats) reduction->sum(sums.data(), 2 * g.C + 1);
  const double M = sums[2 * g.C];
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double mu = static_cast<double>(mean.data<T>()[c]);
    const double gamma = weight.defined() ? static_cast<double>(weight.data<T>()[c]) : 1.0;
    const double sum_dy = sums[c], sum_dy_xhat = sums[g.C + c];  // dβ, dγ (global with a reduction)
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t k = 0; k < g.S; ++k) {
        const std::int64_t i = g.at(n, c, k);
        const double d = static_cast<double>(pdy[i]);
        if (batch_stats) {
          const double xhat = (static_cast<double>(px[i]) - mu) * r[c];
          pdx[i] = static_cast<T>(gamma * r[c] / M * (M * d - sum_dy - xhat * sum_dy_xhat));
        } else {
          pdx[i] = static_cast<T>(gamma * r[c] * d);
        }
      }
  }
}

// ---- pooling --------------------------------------------------------------------------

// y (N, C, Ho, Wo) and argmax (i64, y's shape, index h·W + w into the input plane).
template <typename T>
void max_pool2d_forward(const Tensor& x, const Tensor& y, const Tensor& argmax, const Pool2dParams& p) {
  const std::int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  std::int64_t* pi = argmax.data<std::int64_t>();
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t i = 0; i < Ho; ++i)
      for (std::int64_t j = 0; j < Wo; ++j) {
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t best_at = -1;
        for (std::int64_t u = 0; u < p.kernel_h; ++u) {
          const std::int64_t h = i * p.stride_h - p.pad_h + u;
          if (h < 0 || h >= H) continue;
          for (std::int64_t v = 0; v < p.kernel_w; ++v) {
            const std::int64_t w = j * p.stride_w - p.pad_w + v;
            if (w < 0 || w >= W) continue;
            const T val = px[(nc * H + h) * W + w];
            if (best_at < 0 || val > best || std::isnan(val)) {
              best = val;
              best_at = h * W + w;
              if (std::isnan(val)) break;
            }
          }
          if (std::isnan(best)) break;
        }
        py[(nc * Ho + i) * Wo + j] = best;
        pi[(nc * Ho + i) * Wo + j] = best_at;
      }
}

template <typename T>
void max_pool2d_backward(const Tensor& dy, const Tensor& argmax, const Tensor& dx) {
  const std::int64_t NC = dx.size(0) * dx.size(1), HW = dx.size(2) * dx.size(3), HoWo = dy.size(2) * dy.size(3);
  const T* pdy = dy.data<T>();
  const std::int64_t* pi = argmax.data<std::int64_t>();
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t k = 0; k < HoWo; ++k) {
      const std::int64_t at = pi[nc * HoWo + k];
      if (at >= 0) acc[static_cast<size_t>(nc * HW + at)] += static_cast<double>(pdy[nc * HoWo + k]);
    }
  T* pdx = dx.data<T>();
  for (size_t k = 0; k < acc.size(); ++k) pdx[k] = static_cast<T>(acc[k]);
}

// PyTorch's adaptive window [start, end) of output cell i for an input of size `in`.
inline std::int64_t adaptive_start(std::int64_t i, std::int64_t out, std::int64_t in) { return (i * in) / out; }
inline std::int64_t adaptive_end(std::int64_t i, std::int64_t out, std::int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  const std::int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t i = 0; i < Ho; ++i) {
      const std::int64_t h0 = adaptive_start(i, Ho, H), h1 = adaptive_end(i, Ho, H);
      for (std::int64_t j = 0; j < Wo; ++j) {
        const std::int64_t w0 = adaptive_start(j, Wo, W), w1 = adaptive_end(j, Wo, W);
        double s = 0.0;
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) s += static_cast<double>(px[(nc * H + h) * W + w]);
        py[(nc * Ho + i) * Wo + j] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
    }
}

template <typename T>
void adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) {
  const std::int64_t NC = dx.size(0) * dx.size(1), H = dx.size(2), W = dx.size(3), Ho = dy.size(2), Wo = dy.size(3);
  const T* pdy = dy.data<T>();
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t i = 0; i < Ho; ++i) {
      const std::int64_t h0 = adaptive_start(i, Ho, H), h1 = adaptive_end(i, Ho, H);
      for (std::int64_t j = 0; j < Wo; ++j) {
        const std::int64_t w0 = adaptive_start(j, Wo, W), w1 = adaptive_end(j, Wo, W);
        const double g = static_cast<double>(pdy[(nc * Ho + i) * Wo + j]) / static_cast<double>((h1 - h0) * (w1 - w0));
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) acc[static_cast<size_t>((nc * H + h) * W + w)] += g;
      }
    }
  T* pdx = dx.data<T>();
  for (size_t k = 0; k < acc.size(); ++k) pdx[k] = static_cast<T>(acc[k]);
}

}  // namespace contra::cpu::reference
