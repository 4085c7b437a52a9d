// batch_norm_openmp.cpp — batch normalisation in own OpenMP loops, f32, plain (N, C, S)
// layout: the CPU backend's default fast path (batch_norm.cpp says why, with timings).
//
// Dimensions: N batch, C channels, S spatial positions, M = N·S.
#include <algorithm>
#include <cmath>

#include "tensor/batch_norm_reduction.h"
#include "tensor/cpu/batch_norm_kernels.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

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
// the channels vectorised. With a BatchNormReduction (synchronised BN over K processes)
// the same local sums are taken, then summed over the processes before the coefficients,
// K_c and M being the global batch's (reduced_forward_training; the backward's Σdy,
// Σdy·(x − μ)).

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

// From the shifted sums of M values: μ = K + s₁/M, σ² = s₂/M − (s₁/M)² (clamped at 0),
// r = 1/√(σ² + ε), and y = a·x + b with a = γ·r, b = β − μ·a. One function for the plain
// and the reduced kernels, so both round alike. The (N, C) path has always rounded b as
// β − (μ·γ)·r (`rows`): kept, so that single-process runs keep their bits.
inline void channel_coefficients(double s1, double s2, double K, double M, float gamma, float beta, double eps,
                                 bool rows, float& mean, float& var, float& a, float& b) {
  const double m1 = s1 / M, v = std::max(s2 / M - m1 * m1, 0.0), mu = K + m1;
  const double r = 1.0 / std::sqrt(v + eps);
  mean = static_cast<float>(mu);
  var = static_cast<float>(v);
  const double ad = gamma * r;
  a = static_cast<float>(ad);
  b = static_cast<float>(rows ? beta - mu * gamma * r : beta - mu * ad);
}

// (N, C) rows: s₁[c] += Σ_n (x[n, c] − K[c]), s₂[c] += Σ_n (x[n, c] − K[c])² in double (K: C shifts).
template <typename Shift>
void rows_moments(const float* x, const Geometry& g, const Shift* K, std::vector<double>& s1, std::vector<double>& s2) {
  for (std::int64_t n = 0; n < g.N; ++n) {
    const float* row = x + n * g.C;
    for (std::int64_t c = 0; c < g.C; ++c) {
      const double d = static_cast<double>(row[c]) - K[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

// (N, C) rows: y[n, c] = a[c]·x[n, c] + b[c].
void rows_affine(const float* x, float* y, const Geometry& g, const std::vector<float>& a, const std::vector<float>& b) {
#pragma omp parallel for schedule(static) if (g.parallel())
  for (std::int64_t n = 0; n < g.N; ++n) {
    const float* row = x + n * g.C;
    float* out = y + n * g.C;
#pragma omp simd
    for (std::int64_t c = 0; c < g.C; ++c) out[c] = a[c] * row[c] + b[c];
  }
}

// The training forward over K processes (batch_norm_reduction.h): the same sums as above
// over the local rows, then two collectives: the shift K_c (the global batch's first value
// x[0, c, 0]) with the count M = Σ_r M_r, and the 2C sums s₁, s₂.
void reduced_forward_training(const Tensor& x_t, const Tensor& weight, const Tensor& bias, double eps,
                              const Tensor& y_t, const Tensor& mean_t, const Tensor& var_t,
                              BatchNormReduction& reduction) {
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  float* y = y_t.data<float>();
  float* mean = mean_t.data<float>();
  float* var = var_t.data<float>();
  const std::int64_t C = g.C;
  // shift[0, C): K_c, from the process holding the first sample (the others add 0); shift[C]: M
  std::vector<double> shift(static_cast<size_t>(C + 1), 0.0);
  const bool first = reduction.holds_first_sample();
  CONTRA_CHECK(!first || g.N > 0, "batch_norm", "the process holding the global batch's first sample has no rows");
  for (std::int64_t c = 0; c < C && first; ++c) shift[c] = x[c * g.S];  // x[0, c, 0]
  shift[C] = g.M();
  reduction.sum(shift.data(), C + 1);
  const double M = shift[C];
  reduction.count = M;
  // sums[0, C): s₁, sums[C, 2C): s₂ over the local rows, then over every process
  std::vector<double> sums(static_cast<size_t>(2 * C), 0.0);
  if (g.S == 1) {
    std::vector<double> s1(static_cast<size_t>(C), 0.0), s2(static_cast<size_t>(C), 0.0);
    rows_moments(x, g, shift.data(), s1, s2);
    std::copy(s1.begin(), s1.end(), sums.begin());
    std::copy(s2.begin(), s2.end(), sums.begin() + C);
  } else {
#pragma omp parallel for schedule(static) if (g.parallel())
    for (std::int64_t c = 0; c < C; ++c) {
      double s1 = 0.0, s2 = 0.0;
      for (std::int64_t n = 0; n < g.N; ++n)
        plane_moments(x + (n * C + c) * g.S, g.S, static_cast<float>(shift[c]), s1, s2);
      sums[c] = s1;
      sums[C + c] = s2;
    }
  }
  reduction.sum(sums.data(), 2 * C);
  std::vector<float> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
  for (std::int64_t c = 0; c < C; ++c)
    channel_coefficients(sums[c], sums[C + c], static_cast<float>(shift[c]), M, gamma_at(weight, c), beta_at(bias, c),
                         eps, /*rows=*/g.S == 1, mean[c], var[c], a[c], b[c]);
  if (g.S == 1) return rows_affine(x, y, g, a, b);
#pragma omp parallel for schedule(static) if (g.parallel())
  for (std::int64_t c = 0; c < C; ++c) plane_affine(x, y, g, c, a[c], b[c]);
}

}  // namespace

void openmp_batch_norm_forward_training(const Tensor& x_t, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y_t,
                          const Tensor& mean_t, const Tensor& var_t, BatchNormReduction* reduction) {
  if (reduction != nullptr) return reduced_forward_training(x_t, weight, bias, eps, y_t, mean_t, var_t, *reduction);
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  float* y = y_t.data<float>();
  float* mean = mean_t.data<float>();
  float* var = var_t.data<float>();
  const double M = g.M();
  if (g.S == 1) {  // (N, C): rows of C channels, vectorised over channels
    std::vector<double> s1(static_cast<size_t>(g.C), 0.0), s2(static_cast<size_t>(g.C), 0.0);
    rows_moments(x, g, x, s1, s2);
    std::vector<float> a(static_cast<size_t>(g.C)), b(static_cast<size_t>(g.C));
    for (std::int64_t c = 0; c < g.C; ++c)
      channel_coefficients(s1[c], s2[c], x[c], M, gamma_at(weight, c), beta_at(bias, c), eps, /*rows=*/true, mean[c],
                           var[c], a[c], b[c]);
    rows_affine(x, y, g, a, b);
    return;
  }
#pragma omp parallel for schedule(static) if (g.parallel())
  for (std::int64_t c = 0; c < g.C; ++c) {
    const float K = x[c * g.S];
    double s1 = 0.0, s2 = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) plane_moments(x + (n * g.C + c) * g.S, g.S, K, s1, s2);
    float a, b;
    channel_coefficients(s1, s2, K, M, gamma_at(weight, c), beta_at(bias, c), eps, /*rows=*/false, mean[c], var[c], a,
                         b);
    plane_affine(x, y, g, c, a, b);
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
                  const Tensor& dbias, BatchNormReduction* reduction) {
  const Geometry g(x_t.shape());
  const float* x = x_t.data<float>();
  const float* dy = dy_t.data<float>();
  float* dx = dx_t.data<float>();
  const float* mean = mean_t.data<float>();
  double M = g.M();
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
  // Over K processes (batch_norm_reduction.h): dx needs the global sums and count (one
  // collective of 2C + 1 values); dγ, dβ stay this process's part, as for any replicated
  // parameter (the data-parallel gradient all-reduce adds the parts).
  const std::vector<double> local_sdy = sdy, local_sdyx = sdyx;
  if (reduction != nullptr && batch_stats) {
    std::vector<double> sums(static_cast<size_t>(2 * g.C + 1));
    std::copy(sdy.begin(), sdy.end(), sums.begin());
    std::copy(sdyx.begin(), sdyx.end(), sums.begin() + g.C);
    sums[2 * g.C] = M;
    reduction->sum(sums.data(), 2 * g.C + 1);
    std::copy(sums.begin(), sums.begin() + g.C, sdy.begin());
    std::copy(sums.begin() + g.C, sums.begin() + 2 * g.C, sdyx.begin());
    M = sums[2 * g.C];
  }
  std::vector<float> A(static_cast<size_t>(g.C)), B(static_cast<size_t>(g.C)), C0(static_cast<size_t>(g.C));
  for (std::int64_t c = 0; c < g.C; ++c) {
    const double r = 1.0 / std::sqrt(static_cast<double>(var_t.data<float>()[c]) + eps);
    const double gr = gamma_at(weight, c) * r;
    const double b = batch_stats ? -gr * r * r * sdyx[c] / M : 0.0;
    A[c] = static_cast<float>(gr);
    B[c] = static_cast<float>(b);
    C0[c] = static_cast<float>(batch_stats ? -gr * sdy[c] / M - b * mean[c] : 0.0);
    if (dweight.defined()) dweight.data<float>()[c] = static_cast<float>(local_sdyx[c] * r);  // Σdy·x̂
    if (dbias.defined()) dbias.data<float>()[c] = static_cast<float>(local_sdy[c]);
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
