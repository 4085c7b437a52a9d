// batch_norm_openmp.cpp — batch normalisation in own OpenMP loops, f32, plain (N, C, S)
// layout: the CPU backend's default fast path (batch_norm.cpp says why, with timings).
//
// Dimensions: N batch, C channels, S spatial positions, M = N·S.
#include <algorithm>
#include <cmath>

#include "tensor/cpu/batch_norm_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace contra::cpu {

namespace {

// ---- the OpenMP kernels (f32, plain layout) ------------------------------------------
// Per channel c, over the planes x[n, c, :] (S contiguous floats each):
//   statistics in one pass, shifted by K = x[0, c, 0] against cancellation:
//     s₁ = Σ(x − K), s₂ = Σ(x − K)²  ⇒  μ = K + s₁/M, σ² = s₂/M − (s₁/M)²
//   then y = a·x + b with a = γ·r, b = β − μ·a (one read, one write);
//   backward: Σdy and Σdy·(x − μ) in one pass, then dx = A·dy + B·x + C0 with
//     A = γ·r, B = −γ·r³·Σdy(x−μ)/M, C0 = −γ·r·Σdy/M − B·μ       (batch statistics)
//     A = γ·r, B = 0, C0 = 0                                     (fixed statistics)
// Partial sums are taken in float over blocks of ≤ 256 elements (vectorised) and added
// in double. Channels are split over threads; a 2-D input (S = 1) runs along rows with
// the channels vectorised.

constexpr std::int64_t kBlock = 256;

struct Geometry {
  std::int64_t N, C, S;
  explicit Geometry(const Shape& x) : N(x[0]), C(x[1]), S(1) {
    for (size_t d = 2; d < x.size(); ++d) S *= x[d];
  }
  double M() const { return static_cast<double>(N * S); }
  bool parallel() const { return N * C * S >= kParallelGrain; }
};

// Σ(p[k] − K) and Σ(p[k] − K)² over one plane, accumulated into s1, s2.
inline void plane_moments(const float* p, std::int64_t S, float K, double& s1, double& s2) {
  for (std::int64_t k0 = 0; k0 < S; k0 += kBlock) {
    const std::int64_t k1 = std::min(S, k0 + kBlock);
    float a1 = 0.f, a2 = 0.f;
#pragma omp simd reduction(+ : a1, a2)
    for (std::int64_t k = k0; k < k1; ++k) {
      const float d = p[k] - K;
      a1 += d;
      a2 += d * d;
    }
    s1 += a1;
    s2 += a2;
  }
}

// Σdy and Σdy·(x − μ) over one plane.
inline void plane_grad_sums(const float* x, const float* dy, std::int64_t S, float mu, double& sdy, double& sdyx) {
  for (std::int64_t k0 = 0; k0 < S; k0 += kBlock) {
    const std::int64_t k1 = std::min(S, k0 + kBlock);
    float a1 = 0.f, a2 = 0.f;
#pragma omp simd reduction(+ : a1, a2)
    for (std::int64_t k = k0; k < k1; ++k) {
      a1 += dy[k];
      a2 += dy[k] * (x[k] - mu);
    }
    sdy += a1;
    sdyx += a2;
  }
}

// y = a·x + b over every plane of channel c.
inline void plane_affine(const float* x, float* y, const Geometry& g, std::int64_t c, float a, float b) {
  for (std::int64_t n = 0; n < g.N; ++n) {
    const float* p = x + (n * g.C + c) * g.S;
    float* q = y + (n * g.C + c) * g.S;
#pragma omp simd
    for (std::int64_t k = 0; k < g.S; ++k) q[k] = a * p[k] + b;
  }
}

float gamma_at(const Tensor& w, std::int64_t c) { return w.defined() ? w.data<float>()[c] : 1.f; }
float beta_at(const Tensor& b, std::int64_t c) { return b.defined() ? b.data<float>()[c] : 0.f; }

}  // namespace

void openmp_batch_norm_forward_training(const Tensor& x_t, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y_t,
                          const Tensor& mean_t, const Tensor& var_t) {
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  float* y = y_t.data<float>();
  float* mean = mean_t.data<float>();
  float* var = var_t.data<float>();
  const double M = g.M();
  if (g.S == 1) {  // (N, C): rows of C channels, vectorised over channels
    std::vector<double> s1(static_cast<size_t>(g.C), 0.0), s2(static_cast<size_t>(g.C), 0.0);
    for (std::int64_t n = 0; n < g.N; ++n) {
      const float* row = x + n * g.C;
      for (std::int64_t c = 0; c < g.C; ++c) {
        const double d = static_cast<double>(row[c]) - x[c];
        s1[c] += d;
        s2[c] += d * d;
      }
    }
    std::vector<float> a(static_cast<size_t>(g.C)), b(static_cast<size_t>(g.C));
    for (std::int64_t c = 0; c < g.C; ++c) {
      const double m1 = s1[c] / M, v = std::max(s2[c] / M - m1 * m1, 0.0), mu = x[c] + m1;
      const double r = 1.0 / std::sqrt(v + eps);
      mean[c] = static_cast<float>(mu);
      var[c] = static_cast<float>(v);
      a[c] = static_cast<float>(gamma_at(weight, c) * r);
      b[c] = static_cast<float>(beta_at(bias, c) - mu * gamma_at(weight, c) * r);
    }
#pragma omp parallel for schedule(static) if (g.parallel())
    for (std::int64_t n = 0; n < g.N; ++n) {
      const float* row = x + n * g.C;
      float* out = y + n * g.C;
#pragma omp simd
      for (std::int64_t c = 0; c < g.C; ++c) out[c] = a[c] * row[c] + b[c];
    }
    return;
  }
#pragma omp parallel for schedule(static) if (g.parallel())
  for (std::int64_t c = 0; c < g.C; ++c) {
    const float K = x[c * g.S];
    double s1 = 0.0, s2 = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) plane_moments(x + (n * g.C + c) * g.S, g.S, K, s1, s2);
    const double m1 = s1 / M, v = std::max(s2 / M - m1 * m1, 0.0), mu = K + m1;
    const double r = 1.0 / std::sqrt(v + eps);
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(v);
    const double a = gamma_at(weight, c) * r;
    plane_affine(x, y, g, c, static_cast<float>(a), static_cast<float>(beta_at(bias, c) - mu * a));
  }
}

void openmp_batch_norm_forward_inference(const Tensor& x_t, const Tensor& weight, const Tensor& bias, const Tensor& mean_t,
                           const Tensor& var_t, double eps, const Tensor& y_t) {
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  float* y = y_t.data<float>();
  std::vector<float> a(static_cast<size_t>(g.C)), b(static_cast<size_t>(g.C));
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double r = 1.0 / std::sqrt(static_cast<double>(var_t.data<float>()[c]) + eps);
    const double ac = gamma_at(weight, c) * r;
    a[c] = static_cast<float>(ac);
    b[c] = static_cast<float>(beta_at(bias, c) - mean_t.data<float>()[c] * ac);
  }
  if (g.S == 1) {
#pragma omp parallel for schedule(static) if (g.parallel())
    for (std::int64_t n = 0; n < g.N; ++n) {
#pragma omp simd
      for (std::int64_t c = 0; c < g.C; ++c) y[n * g.C + c] = a[c] * x[n * g.C + c] + b[c];
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (g.parallel())
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t c = 0; c < g.C; ++c) {
      const float* p = x + (n * g.C + c) * g.S;
      float* q = y + (n * g.C + c) * g.S;
      const float ac = a[c], bc = b[c];
#pragma omp simd
      for (std::int64_t k = 0; k < g.S; ++k) q[k] = ac * p[k] + bc;
    }
}

void openmp_batch_norm_backward(const Tensor& dy_t, const Tensor& x_t, const Tensor& weight, const Tensor& mean_t,
                  const Tensor& var_t, double eps, bool batch_stats, const Tensor& dx_t, const Tensor& dweight,
                  const Tensor& dbias) {
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  const float* dy = dy_t.data<float>();
  float* dx = dx_t.data<float>();
  const float* mean = mean_t.data<float>();
  const double M = g.M();
  // Per channel: the sums, then the coefficients of dx = A·dy + B·x + C0.
  std::vector<double> sdy(static_cast<size_t>(g.C), 0.0), sdyx(static_cast<size_t>(g.C), 0.0);
  if (g.S == 1) {
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t c = 0; c < g.C; ++c) {
        const double d = dy[n * g.C + c];
        sdy[c] += d;
        sdyx[c] += d * (static_cast<double>(x[n * g.C + c]) - mean[c]);
      }
  } else {
#pragma omp parallel for schedule(static) if (g.parallel())
    for (std::int64_t c = 0; c < g.C; ++c)
      for (std::int64_t n = 0; n < g.N; ++n) {
        const std::int64_t off = (n * g.C + c) * g.S;
        plane_grad_sums(x + off, dy + off, g.S, mean[c], sdy[c], sdyx[c]);
      }
  }
  std::vector<float> A(static_cast<size_t>(g.C)), B(static_cast<size_t>(g.C)), C0(static_cast<size_t>(g.C));
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double r = 1.0 / std::sqrt(static_cast<double>(var_t.data<float>()[c]) + eps);
    const double gr = gamma_at(weight, c) * r;
    const double b = batch_stats ? -gr * r * r * sdyx[c] / M : 0.0;
    A[c] = static_cast<float>(gr);
    B[c] = static_cast<float>(b);
    C0[c] = static_cast<float>(batch_stats ? -gr * sdy[c] / M - b * mean[c] : 0.0);
    if (dweight.defined()) dweight.data<float>()[c] = static_cast<float>(sdyx[c] * r);  // Σdy·x̂
    if (dbias.defined()) dbias.data<float>()[c] = static_cast<float>(sdy[c]);
  }
  if (g.S == 1) {
#pragma omp parallel for schedule(static) if (g.parallel())
    for (std::int64_t n = 0; n < g.N; ++n) {
#pragma omp simd
      for (std::int64_t c = 0; c < g.C; ++c) {
        const std::int64_t i = n * g.C + c;
        dx[i] = A[c] * dy[i] + B[c] * x[i] + C0[c];
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (g.parallel())
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t c = 0; c < g.C; ++c) {
      const std::int64_t off = (n * g.C + c) * g.S;
      const float a = A[c], b = B[c], c0 = C0[c];
#pragma omp simd
      for (std::int64_t k = 0; k < g.S; ++k) dx[off + k] = a * dy[off + k] + b * x[off + k] + c0;
    }
}

}  // namespace contra::cpu
