// dnnl_batch_norm.cpp — batch normalisation on the CPU: two fast f32 implementations
// (own OpenMP loops, the default, and oneDNN's), the reference twin otherwise.
//
// With x seen as (N, C, S), S = H·W (1 for a 2-D input), M = N·S values per channel:
//   training:  mean = Σx/M, var = Σ(x − mean)²/M, y = (x − mean)/√(var + ε)·γ + β
//   inference: the same with given (running) mean and var
//   backward:  dβ = Σdy, dγ = Σdy·x̂, dx = γ·r/M·(M·dy − dβ − x̂·dγ)  (batch statistics)
//                                    dx = γ·r·dy                     (fixed statistics)
// Both compute exactly these with the biased (population) variance; the running
// statistics and PyTorch's momentum / unbiased-variance convention live in the op
// (autograd/ops/batch_norm.cpp), not here.
//
// Why two: our activations are plain nchw, where oneDNN 2.6 runs its generic `ncsp_bnorm`
// (several passes over the data; its fast JIT kernels want blocked nChw16c, which would
// cost a reorder each way). Measured single-threaded (min of 20, AVX-512 EPYC):
//                        oneDNN fwd / bwd     OpenMP fwd / bwd    (relu, one pass: )
//   (128, 64, 32, 32)    13.4 / 17.1 ms       4.3 / 5.8 ms        1.6 ms
//   (128, 256, 8, 8)      2.5 /  4.2 ms       1.0 / 1.0 ms        0.3 ms
//   (256, 2048)           6.0 /  7.2 ms       0.14 / 0.20 ms      0.03 ms
// so the OpenMP kernels are the default; `set_batch_norm_impl` / CONTRA_BN_IMPL=onednn
// select oneDNN. Both are checked against the reference in tests/nn_kernels (parity).
//
// oneDNN path: a `BatchNormPlan` per (N, C, S, affine, ε, fixed statistics) holds the
// forward primitive (forward_training, so that it can hint the backward) and the backward
// one, built once. Data stay in our plain layout ((N, C, S, 1) as nchw), so there are no
// reorders; mean, var, γ, β are plain (C,) vectors.
//
// Dimensions: N batch, C channels, S spatial positions, M = N·S.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dnnl_common.h"
#include "tensor/cpu/reference_norm_pool.h"

namespace contra::cpu {

namespace {

using namespace dnnl_util;
using dnnl::memory;
using dnnl::normalization_flags;

struct BatchNormPlan {
  memory::desc data_md, vec_md;
  dnnl::batch_normalization_forward::primitive_desc fwd_pd;
  dnnl::batch_normalization_forward fwd;
  dnnl::batch_normalization_backward::primitive_desc bwd_pd;
  dnnl::batch_normalization_backward bwd;
};

PlanCache<BatchNormPlan>& bn_plans() {
  static PlanCache<BatchNormPlan> cache;
  return cache;
}

std::shared_ptr<BatchNormPlan> bn_plan(const Shape& xs, bool affine, double eps, bool fixed_stats) {
  const std::int64_t N = xs[0], C = xs[1];
  std::int64_t S = 1;
  for (size_t d = 2; d < xs.size(); ++d) S *= xs[d];
  const float eps_f = static_cast<float>(eps);
  std::int32_t eps_bits;
  std::memcpy(&eps_bits, &eps_f, sizeof eps_bits);
  const std::vector<std::int64_t> key{N, C, S, affine ? 1 : 0, eps_bits, fixed_stats ? 1 : 0};
  return bn_plans().get(key, [&] {
    BatchNormPlan plan;
    plan.data_md = plain_md({N, C, S, 1}, tag::nchw);
    plan.vec_md = plain_md({C}, tag::x);
    normalization_flags flags = normalization_flags::none;
    if (affine) flags = flags | normalization_flags::use_scale | normalization_flags::use_shift;
    if (fixed_stats) flags = flags | normalization_flags::use_global_stats;
    dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, plan.data_md, eps_f, flags);
    plan.fwd_pd = dnnl::batch_normalization_forward::primitive_desc(fd, engine());
    plan.fwd = dnnl::batch_normalization_forward(plan.fwd_pd);
    const auto bwd_kind = affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
    dnnl::batch_normalization_backward::desc bd(bwd_kind, plan.data_md, plan.data_md, eps_f, flags);
    plan.bwd_pd = dnnl::batch_normalization_backward::primitive_desc(bd, engine(), plan.fwd_pd);
    plan.bwd = dnnl::batch_normalization_backward(plan.bwd_pd);
    return plan;
  });
}

bool use_reference(const Tensor& t) { return reference_kernels() || t.dtype() != DType::f32; }

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

void omp_forward_training(const Tensor& x_t, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y_t,
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

void omp_forward_inference(const Tensor& x_t, const Tensor& weight, const Tensor& bias, const Tensor& mean_t,
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

void omp_backward(const Tensor& dy_t, const Tensor& x_t, const Tensor& weight, const Tensor& mean_t,
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

}  // namespace

namespace {
std::atomic<int> g_bn_impl{-1};  // -1: not chosen yet (read CONTRA_BN_IMPL once)
}  // namespace

void set_batch_norm_impl(BatchNormImpl impl) { g_bn_impl = static_cast<int>(impl); }

BatchNormImpl batch_norm_impl() {
  if (g_bn_impl < 0) {
    const char* v = std::getenv("CONTRA_BN_IMPL");
    g_bn_impl = static_cast<int>(v != nullptr && std::strcmp(v, "onednn") == 0 ? BatchNormImpl::onednn
                                                                                 : BatchNormImpl::openmp);
  }
  return static_cast<BatchNormImpl>(g_bn_impl.load());
}

// oneDNN forward: training (global_stats = false: writes the batch mean and biased
// variance into mean/var) or inference (global_stats = true: reads them).
static void onednn_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                           const Tensor& mean, const Tensor& var, bool global_stats) {
  try {
    const auto plan = bn_plan(x.shape(), weight.defined(), eps, global_stats);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plan->data_md, x)},
                                         {DNNL_ARG_DST, wrap(plan->data_md, y)},
                                         {DNNL_ARG_MEAN, wrap(plan->vec_md, mean)},
                                         {DNNL_ARG_VARIANCE, wrap(plan->vec_md, var)}};
    if (weight.defined()) {
      args.emplace(DNNL_ARG_SCALE, wrap(plan->vec_md, weight));
      args.emplace(DNNL_ARG_SHIFT, wrap(plan->vec_md, bias));
    }
    plan->fwd.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "batch_norm");
  }
}

void CpuBackend::batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                             const Tensor& y, const Tensor& mean, const Tensor& var) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm", [&](auto v) {
      reference::batch_norm_forward_training<decltype(v)>(x, weight, bias, eps, y, mean, var);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp) return omp_forward_training(x, weight, bias, eps, y, mean, var);
  onednn_forward(x, weight, bias, eps, y, mean, var, /*global_stats=*/false);
}

void CpuBackend::batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              const Tensor& mean, const Tensor& var, double eps, const Tensor& y) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm", [&](auto v) {
      reference::batch_norm_forward_inference<decltype(v)>(x, weight, bias, mean, var, eps, y);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp) return omp_forward_inference(x, weight, bias, mean, var, eps, y);
  onednn_forward(x, weight, bias, eps, y, mean, var, /*global_stats=*/true);
}

void CpuBackend::batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& var, double eps, bool batch_stats, const Tensor& dx,
                                     const Tensor& dweight, const Tensor& dbias) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm backward", [&](auto v) {
      reference::batch_norm_backward<decltype(v)>(dy, x, weight, mean, var, eps, batch_stats, dx, dweight, dbias);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp)
    return omp_backward(dy, x, weight, mean, var, eps, batch_stats, dx, dweight, dbias);
  try {
    const auto plan = bn_plan(x.shape(), weight.defined(), eps, !batch_stats);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(plan->data_md, x)},
                                         {DNNL_ARG_DIFF_DST, wrap(plan->data_md, dy)},
                                         {DNNL_ARG_MEAN, wrap(plan->vec_md, mean)},
                                         {DNNL_ARG_VARIANCE, wrap(plan->vec_md, var)},
                                         {DNNL_ARG_DIFF_SRC, wrap(plan->data_md, dx)}};
    if (weight.defined()) {
      args.emplace(DNNL_ARG_SCALE, wrap(plan->vec_md, weight));
      args.emplace(DNNL_ARG_SHIFT, wrap(plan->vec_md, dbias));  // unused by the math; 2.6 checks it is present
      args.emplace(DNNL_ARG_DIFF_SCALE, wrap(plan->vec_md, dweight));
      args.emplace(DNNL_ARG_DIFF_SHIFT, wrap(plan->vec_md, dbias));
    }
    plan->bwd.execute(stream(), args);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "batch_norm backward");
  }
}

}  // namespace contra::cpu
