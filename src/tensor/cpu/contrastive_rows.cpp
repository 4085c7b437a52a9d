// contrastive_rows.cpp — the CPU contrastive row passes (backend.h, "contrastive row passes"):
// the full-matrix row pass, the blockwise tile passes, the row normalisation and its backward.
// What each computes is stated once, in backend.h; the formulas with their derivation live in
// src/contrastive/balanced_fused.cpp and balanced_blockwise.cpp (docs/derivation.md §6).
//
// Fast kernels: OpenMP over anchor rows, vectorised inner loops over one row's columns, exp by
// fast_exp.h, every sum in double. Reference twins (set_reference_kernels): one plain loop
// per row over every column k, W_ik spelt out, std::exp; no OpenMP.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/contrastive_row_checks.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_exp.h"
#include "tensor/error.h"

namespace contra::cpu {

namespace {

using Params = Backend::ContrastiveRowParams;

// ω_ik as a row pointer: row(i)[k] = ω_ik ((M, M)), ω_k ((M,)), or nullptr (no ω).
template <typename T>
const T* omega_row(const Tensor& omega, std::int64_t i, std::int64_t M) {
  if (!omega.defined()) return nullptr;
  return omega.data<T>() + (omega.dim() == 2 ? i * M : 0);
}

// W_ik spelt out (reference twins).
template <typename T>
double weight(const Tensor& omega, const Params& p, std::int64_t i, std::int64_t k) {
  const std::int64_t M = p.N * p.V;
  if (k == i) return 0.0;
  if (k % p.N == i % p.N) return p.positive_weight;
  const T* om = omega_row<T>(omega, i, M);
  return om ? static_cast<double>(om[k]) : 1.0;
}

// ---- vectorised pieces of the fast row passes, over one anchor row's similarities s_ik
// Over a run [b0, b1) of N(i) columns: folds max_{k: W_ik > 0} s_ik into mx (W_ik = ω_ik > 0,
// or every k when om is null: no ω) and returns Σ_k s_ik (the negative-similarity telemetry).
template <typename T>
double negatives_max_and_sum(const T* s, const T* om, std::int64_t b0, std::int64_t b1, T& mx) {
  T m = mx;
  double sum = 0.0;
  if (om) {
#pragma omp simd reduction(max : m) reduction(+ : sum)
    for (std::int64_t k = b0; k < b1; ++k) {
      m = om[k] > T(0) ? std::max(m, s[k]) : m;
      sum += s[k];
    }
  } else {
#pragma omp simd reduction(max : m) reduction(+ : sum)
    for (std::int64_t k = b0; k < b1; ++k) {
      m = std::max(m, s[k]);
      sum += s[k];
    }
  }
  mx = m;
  return sum;
}

// uniformity: Σ_{k∈[c0, c1)} e^{4 s_ik − 4}; 0 when c1 ≤ c0
template <typename T>
double uniformity_sum(const T* s, std::int64_t c0, std::int64_t c1) {
  double us = 0.0;
#pragma omp simd reduction(+ : us)
  for (std::int64_t k = c0; k < c1; ++k) us += static_cast<double>(fast_exp(T(4) * s[k] - T(4)));
  return us;
}

// Columns [k0, k1) of anchor row i, split by kind, as tile offsets j = k − k0. The anchor's
// image sits at columns c_v = v·N + image(i): c_v = i is the diagonal, the others P(i); every
// other column is in N(i). Calls negatives(j0, j1) for each maximal run of N(i) columns and
// own_image(j, diagonal) for each c_v = k0 + j in [k0, k1).
template <typename Negatives, typename OwnImage>
void for_each_run(const Params& p, std::int64_t i, std::int64_t k0, std::int64_t k1, Negatives&& negatives,
                  OwnImage&& own_image) {
  const std::int64_t img = i % p.N;
  std::int64_t a = k0;
  for (std::int64_t v = 0; v < p.V; ++v) {
    const std::int64_t c = v * p.N + img;
    if (c < k0) continue;
    if (c >= k1) break;
    if (c > a) negatives(a - k0, c - k0);
    own_image(c - k0, c == i);
    a = c + 1;
  }
  if (k1 > a) negatives(a - k0, k1 - k0);
}

// ---- the full-matrix row pass --------------------------------------------------------------
template <typename T>
void row_pass_fast(const Tensor& S, const Tensor& omega, const Tensor& a_t, const Params& p, const Tensor& stats) {
  const std::int64_t N = p.N, V = p.V, M = N * V, P = V - 1;
  const double inv_tau = p.inv_tau, wp = p.positive_weight, wa = p.attract, wr = p.repel;
  const double ninf = -std::numeric_limits<double>::infinity();
  const double* a = a_t.data<double>();
  double* st = stats.data<double>();
  T* ps = S.data<T>();
#pragma omp parallel for schedule(static) if (M >= 64)
  for (std::int64_t i = 0; i < M; ++i) {
    T* s = ps + i * M;  // row i of S, then of G
    double* out = st + i * Backend::row_stat_count;
    const std::int64_t img = i % N, vw = i / N;
    const T* om = omega_row<T>(omega, i, M);
    // pass 1: m_i = max over entries with W_ik > 0 (in similarity units), telemetry sums
    double m = ninf, possum = 0.0, negsum = 0.0, usum = 0.0;
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t base = v * N;
      for (int part = 0; part < 2; ++part) {  // N(i) ∩ view v = [base, base+img) ∪ (base+img, base+N)
        const std::int64_t k0 = part == 0 ? base : base + img + 1, k1 = part == 0 ? base + img : base + N;
        T mx = std::numeric_limits<T>::lowest();
        negsum += negatives_max_and_sum(s, om, k0, k1, mx);
        if (k1 > k0 && mx != std::numeric_limits<T>::lowest()) m = std::max(m, static_cast<double>(mx));
        if (v == vw) usum += uniformity_sum(s, k0, k1);  // same view, k ≠ i
      }
      if (v != vw) {  // the positive of view v
        possum += static_cast<double>(s[base + img]);
        if (wp > 0.0) m = std::max(m, static_cast<double>(s[base + img]));
      }
    }
    if (m == ninf) {  // W_i· ≡ 0: D_i = 0
      std::fill(out, out + Backend::row_stat_count, 0.0);
      out[Backend::stat_no_denominator] = 1.0;
      continue;
    }
    const double mt = m * inv_tau;
    // pass 2: e_ik = W_ik e^{min(Λ_ik − m_i/τ, 0)} written over S_ik, D̃_i = Σ_k e_ik
    const T itau = static_cast<T>(inv_tau), mT = static_cast<T>(mt);
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t base = v * N;
      for (int part = 0; part < 2; ++part) {
        const std::int64_t k0 = part == 0 ? base : base + img + 1, k1 = part == 0 ? base + img : base + N;
        if (om) {
          for (std::int64_t k = k0; k < k1; ++k) s[k] = om[k] * fast_exp(std::min(s[k] * itau - mT, T(0)));
        } else {
          for (std::int64_t k = k0; k < k1; ++k) s[k] = fast_exp(std::min(s[k] * itau - mT, T(0)));
        }
      }
      const std::int64_t k = base + img;  // the positive of view v, or the anchor itself
      s[k] = k == i ? T(0) : static_cast<T>(wp) * fast_exp(std::min(s[k] * itau - mT, T(0)));
    }
    double Dt = 0.0;
#pragma omp simd reduction(+ : Dt)
    for (std::int64_t k = 0; k < M; ++k) Dt += static_cast<double>(s[k]);
    const double logD = mt + std::log(Dt);
    out[Backend::stat_log_d] = logD;
    out[Backend::stat_ell] = -wa / static_cast<double>(P) * possum * inv_tau + wr * logD;
    out[Backend::stat_pos_sum] = possum;
    out[Backend::stat_neg_sum] = negsum;
    out[Backend::stat_uniformity] = usum;
    // pass 3: G_ik = a_i (w_r e_ik/D̃_i − w_a 1[k∈P(i)]/|P|)
    const double cR = a[i] * wr / Dt, cA = a[i] * wa / static_cast<double>(P);
    double g2 = 0.0, rs = 0.0;
    const T cRT = static_cast<T>(cR);
#pragma omp simd reduction(+ : g2)
    for (std::int64_t k = 0; k < M; ++k) {
      const T g = s[k] * cRT;
      g2 += static_cast<double>(g) * static_cast<double>(g);
      s[k] = g;
    }
    for (std::int64_t v = 0; v < V; ++v)
      if (v != vw) s[v * N + img] = static_cast<T>(static_cast<double>(s[v * N + img]) - cA);
#pragma omp simd reduction(+ : rs)
    for (std::int64_t k = 0; k < M; ++k) rs += static_cast<double>(s[k]);
    out[Backend::stat_g_rep2] = g2;
    out[Backend::stat_row_sum] = rs;
    out[Backend::stat_no_denominator] = 0.0;
  }
}

template <typename T>
void row_pass_reference(const Tensor& S, const Tensor& omega, const Tensor& a_t, const Params& p,
                        const Tensor& stats) {
  const std::int64_t N = p.N, V = p.V, M = N * V;
  const double P = static_cast<double>(V - 1), inv_tau = p.inv_tau, wa = p.attract, wr = p.repel;
  const double* a = a_t.data<double>();
  double* st = stats.data<double>();
  T* ps = S.data<T>();
  std::vector<double> e(static_cast<size_t>(M));
  for (std::int64_t i = 0; i < M; ++i) {
    T* s = ps + i * M;
    double* out = st + i * Backend::row_stat_count;
    std::fill(out, out + Backend::row_stat_count, 0.0);
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < M; ++k) {
      const double sk = static_cast<double>(s[k]);
      const bool positive = k != i && k % N == i % N;
      if (weight<T>(omega, p, i, k) > 0.0) m = std::max(m, sk);
      if (positive) out[Backend::stat_pos_sum] += sk;
      if (k % N != i % N) {
        out[Backend::stat_neg_sum] += sk;
        if (k / N == i / N) out[Backend::stat_uniformity] += std::exp(4.0 * sk - 4.0);
      }
    }
    if (m == -std::numeric_limits<double>::infinity()) {
      out[Backend::stat_pos_sum] = out[Backend::stat_neg_sum] = out[Backend::stat_uniformity] = 0.0;
      out[Backend::stat_no_denominator] = 1.0;
      continue;
    }
    double Dt = 0.0;
    for (std::int64_t k = 0; k < M; ++k) {
      e[k] = weight<T>(omega, p, i, k) * std::exp(std::min(static_cast<double>(s[k]) * inv_tau - m * inv_tau, 0.0));
      Dt += e[k];
    }
    out[Backend::stat_log_d] = m * inv_tau + std::log(Dt);
    out[Backend::stat_ell] = -wa / P * out[Backend::stat_pos_sum] * inv_tau + wr * out[Backend::stat_log_d];
    for (std::int64_t k = 0; k < M; ++k) {
      const double gR = a[i] * wr * e[k] / Dt;
      const bool positive = k != i && k % N == i % N;
      const double g = gR - (positive ? a[i] * wa / P : 0.0);
      out[Backend::stat_g_rep2] += gR * gR;
      out[Backend::stat_row_sum] += g;
      s[k] = static_cast<T>(g);
    }
  }
}

// ---- blockwise: one tile's forward fold ------------------------------------------------------
template <typename T>
void tile_forward_fast(const Tensor& S, const Tensor& omega, const Params& p, const Tensor& state) {
  const std::int64_t N = p.N, M = N * p.V, ni = S.size(0), nk = S.size(1), i0 = p.row0, k0 = p.col0, k1 = k0 + nk;
  const double inv_tau = p.inv_tau, wp = p.positive_weight;
  const double ninf = -std::numeric_limits<double>::infinity();
  const T itau = static_cast<T>(inv_tau), wpT = static_cast<T>(wp);
  const T* ps = S.data<T>();
  double* stt = state.data<double>();
#pragma omp parallel for schedule(static) if (ni * nk >= kParallelGrain)
  for (std::int64_t r = 0; r < ni; ++r) {
    const std::int64_t i = i0 + r;
    double* st = stt + i * Backend::tile_state_count;
    const T* s = ps + r * nk;  // s[j] = s_ik, k = k0 + j
    const T* om = omega_row<T>(omega, i, M);
    if (om) om += k0;          // om[j] = ω_ik
    const std::int64_t u0 = (i / N) * N - k0, u1 = u0 + N;  // the anchor's view, as tile offsets
    // pass 1: the tile's max over W_ik > 0, and the telemetry sums
    T mx = std::numeric_limits<T>::lowest();
    double possum = 0.0, negsum = 0.0, usum = 0.0;
    for_each_run(
        p, i, k0, k1,
        [&](std::int64_t j0, std::int64_t j1) {
          negsum += negatives_max_and_sum(s, om, j0, j1, mx);
          usum += uniformity_sum(s, std::max(j0, u0), std::min(j1, u1));  // same view, k ≠ i
        },
        [&](std::int64_t j, bool diagonal) {
          if (diagonal) return;
          possum += static_cast<double>(s[j]);  // a positive
          if (wp > 0.0) mx = std::max(mx, s[j]);
        });
    st[Backend::tile_pos_sum] += possum;
    st[Backend::tile_neg_sum] += negsum;
    st[Backend::tile_uniformity] += usum;
    if (mx == std::numeric_limits<T>::lowest()) continue;  // no W_ik > 0 in this tile
    // m_i ← max(m_i, tile max);  D̃_i ← D̃_i e^{(m_old − m_i)/τ}  (0 · anything while m_old = −∞)
    const double m_old = st[Backend::tile_max], m = std::max(m_old, static_cast<double>(mx));
    if (m > m_old && m_old != ninf) {
      const double scale = std::exp((m_old - m) * inv_tau);
      st[Backend::tile_dsum] *= scale;
      st[Backend::tile_dsum2] *= scale * scale;
    }
    st[Backend::tile_max] = m;
    // pass 2: e_ik = W_ik e^{min(Λ_ik − m_i/τ, 0)}; D̃_i += Σ e_ik, and Σ e_ik²
    const T mT = static_cast<T>(m * inv_tau);
    double e1 = 0.0, e2 = 0.0;
    for_each_run(
        p, i, k0, k1,
        [&](std::int64_t j0, std::int64_t j1) {
          double b1s = 0.0, b2s = 0.0;
          if (om) {
#pragma omp simd reduction(+ : b1s, b2s)
            for (std::int64_t j = j0; j < j1; ++j) {
              const T e = om[j] * fast_exp(std::min(s[j] * itau - mT, T(0)));
              b1s += static_cast<double>(e);
              b2s += static_cast<double>(e) * static_cast<double>(e);
            }
          } else {
#pragma omp simd reduction(+ : b1s, b2s)
            for (std::int64_t j = j0; j < j1; ++j) {
              const T e = fast_exp(std::min(s[j] * itau - mT, T(0)));
              b1s += static_cast<double>(e);
              b2s += static_cast<double>(e) * static_cast<double>(e);
            }
          }
          e1 += b1s;
          e2 += b2s;
        },
        [&](std::int64_t j, bool diagonal) {
          if (diagonal) return;
          const T e = wpT * fast_exp(std::min(s[j] * itau - mT, T(0)));
          e1 += static_cast<double>(e);
          e2 += static_cast<double>(e) * static_cast<double>(e);
        });
    st[Backend::tile_dsum] += e1;
    st[Backend::tile_dsum2] += e2;
  }
}

template <typename T>
void tile_forward_reference(const Tensor& S, const Tensor& omega, const Params& p, const Tensor& state) {
  const std::int64_t N = p.N, ni = S.size(0), nk = S.size(1);
  const double ninf = -std::numeric_limits<double>::infinity();
  const T* ps = S.data<T>();
  for (std::int64_t r = 0; r < ni; ++r) {
    const std::int64_t i = p.row0 + r;
    double* st = state.data<double>() + i * Backend::tile_state_count;
    double mx = ninf;
    for (std::int64_t j = 0; j < nk; ++j) {
      const std::int64_t k = p.col0 + j;
      const double s = static_cast<double>(ps[r * nk + j]);
      if (k != i && k % N == i % N) st[Backend::tile_pos_sum] += s;
      if (k % N != i % N) {
        st[Backend::tile_neg_sum] += s;
        if (k / N == i / N) st[Backend::tile_uniformity] += std::exp(4.0 * s - 4.0);
      }
      if (weight<T>(omega, p, i, k) > 0.0) mx = std::max(mx, s);
    }
    if (mx == ninf) continue;
    const double m_old = st[Backend::tile_max], m = std::max(m_old, mx);
    if (m_old != ninf) {
      const double scale = std::exp((m_old - m) * p.inv_tau);
      st[Backend::tile_dsum] *= scale;
      st[Backend::tile_dsum2] *= scale * scale;
    }
    st[Backend::tile_max] = m;
    for (std::int64_t j = 0; j < nk; ++j) {
      const std::int64_t k = p.col0 + j;
      const double e = weight<T>(omega, p, i, k) *
                       std::exp(std::min(static_cast<double>(ps[r * nk + j]) * p.inv_tau - m * p.inv_tau, 0.0));
      st[Backend::tile_dsum] += e;
      st[Backend::tile_dsum2] += e * e;
    }
  }
}

// ---- blockwise: one tile's gradient ----------------------------------------------------------
template <typename T>
void tile_gradient_fast(const Tensor& S, const Tensor& omega, const Tensor& a_t, const Tensor& state, const Params& p,
                        const Tensor& row_sum) {
  const std::int64_t M = p.N * p.V, ni = S.size(0), nk = S.size(1), i0 = p.row0, k0 = p.col0, k1 = k0 + nk;
  const double inv_tau = p.inv_tau, P = static_cast<double>(p.V - 1), wa = p.attract, wr = p.repel;
  const T itau = static_cast<T>(inv_tau), wpT = static_cast<T>(p.positive_weight);
  const double* a = a_t.data<double>();
  const double* stt = state.data<double>();
  double* rsum = row_sum.data<double>();
  T* pg = S.data<T>();
#pragma omp parallel for schedule(static) if (ni * nk >= kParallelGrain)
  for (std::int64_t r = 0; r < ni; ++r) {
    const std::int64_t i = i0 + r;
    const double* st = stt + i * Backend::tile_state_count;
    T* g = pg + r * nk;  // g[j] = s_ik, then G_ik, k = k0 + j
    const T* om = omega_row<T>(omega, i, M);
    if (om) om += k0;    // om[j] = ω_ik
    // G_ik = c_R W_ik e^{Λ_ik − m_i/τ} − c_A 1[k∈P(i)],  c_R = a_i w_r / D̃_i,  c_A = a_i w_a/|P|
    const T mT = static_cast<T>(st[Backend::tile_max] * inv_tau), cR = static_cast<T>(a[i] * wr / st[Backend::tile_dsum]);
    const double cA = a[i] * wa / P;
    double rs = 0.0;
    for_each_run(
        p, i, k0, k1,
        [&](std::int64_t j0, std::int64_t j1) {
          double bs = 0.0;
          if (om) {
#pragma omp simd reduction(+ : bs)
            for (std::int64_t j = j0; j < j1; ++j) {
              g[j] = cR * (om[j] * fast_exp(std::min(g[j] * itau - mT, T(0))));
              bs += static_cast<double>(g[j]);
            }
          } else {
#pragma omp simd reduction(+ : bs)
            for (std::int64_t j = j0; j < j1; ++j) {
              g[j] = cR * fast_exp(std::min(g[j] * itau - mT, T(0)));
              bs += static_cast<double>(g[j]);
            }
          }
          rs += bs;
        },
        [&](std::int64_t j, bool diagonal) {
          // G_ii = 0;  G_ip = a_i w_r Q_ip − a_i w_a/|P|
          const T gR = cR * (wpT * fast_exp(std::min(g[j] * itau - mT, T(0))));
          g[j] = diagonal ? T(0) : static_cast<T>(static_cast<double>(gR) - cA);
          rs += static_cast<double>(g[j]);
        });
    rsum[i] += rs;
  }
}

template <typename T>
void tile_gradient_reference(const Tensor& S, const Tensor& omega, const Tensor& a_t, const Tensor& state,
                             const Params& p, const Tensor& row_sum) {
  const std::int64_t N = p.N, ni = S.size(0), nk = S.size(1);
  const double P = static_cast<double>(p.V - 1);
  const double* a = a_t.data<double>();
  T* pg = S.data<T>();
  for (std::int64_t r = 0; r < ni; ++r) {
    const std::int64_t i = p.row0 + r;
    const double* st = state.data<double>() + i * Backend::tile_state_count;
    for (std::int64_t j = 0; j < nk; ++j) {
      const std::int64_t k = p.col0 + j;
      const double e = weight<T>(omega, p, i, k) *
                       std::exp(std::min(static_cast<double>(pg[r * nk + j]) * p.inv_tau - st[Backend::tile_max] * p.inv_tau, 0.0));
      const bool positive = k != i && k % N == i % N;
      const double g = a[i] * p.repel * e / st[Backend::tile_dsum] - (positive ? a[i] * p.attract / P : 0.0);
      pg[r * nk + j] = static_cast<T>(g);
      row_sum.data<double>()[i] += g;
    }
  }
}

// ---- row normalisation and its backward -------------------------------------------------------
template <typename T>
void normalize_rows_kernel(const Tensor& f, const Tensor& z, const Tensor& norm_t, bool parallel) {
  const std::int64_t M = f.size(0), D = f.size(1);
  const T* pf = f.data<T>();
  T* pz = z.data<T>();
  double* norm = norm_t.data<double>();
  // z̄_i = f_i / ‖f_i‖, ‖f_i‖ accumulated in double (the same arithmetic in both twins)
#pragma omp parallel for schedule(static) if (parallel && M * D >= kParallelGrain)
  for (std::int64_t i = 0; i < M; ++i) {
    double n2 = 0.0;
    for (std::int64_t d = 0; d < D; ++d) n2 += static_cast<double>(pf[i * D + d]) * static_cast<double>(pf[i * D + d]);
    norm[i] = std::sqrt(n2);
    const double inv = 1.0 / norm[i];
    for (std::int64_t d = 0; d < D; ++d) pz[i * D + d] = static_cast<T>(static_cast<double>(pf[i * D + d]) * inv);
  }
}

template <typename T>
void normalize_backward_kernel(const Tensor& z, const Tensor& dz, const Tensor& norm_t, const Tensor& a_t,
                               const Params& p, const Tensor& df, const Tensor& norms, bool parallel) {
  const std::int64_t N = p.N, V = p.V, M = z.size(0), D = z.size(1);
  const double P = static_cast<double>(V - 1), inv_tau = p.inv_tau, wa = p.attract;
  const T* pz = z.data<T>();
  const T* pdz = dz.data<T>();
  T* pdf = df.data<T>();
  const double* norm = norm_t.data<double>();
  const double* a = a_t.data<double>();
  double* pn = norms.data<double>();
  std::vector<double> nA(static_cast<size_t>(M)), nR(static_cast<size_t>(M)), nT(static_cast<size_t>(M));
#pragma omp parallel for schedule(static) if (parallel && M * D >= kParallelGrain)
  for (std::int64_t i = 0; i < M; ++i) {
    const T* zi = pz + i * D;
    const T* gi = pdz + i * D;
    // attraction alone (sparse): dz̄ᴬ_i = (1/τ) Σ_{p∈P(i)} (Gᴬ_ip + Gᴬ_pi) z̄_p,  Gᴬ_ip = −a_i w_a/|P|
    std::vector<double> gA(static_cast<size_t>(D), 0.0);
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t k = v * N + i % N;
      if (k == i) continue;
      const double c = -(a[i] + a[k]) * wa / P * inv_tau;
      for (std::int64_t d = 0; d < D; ++d) gA[d] += c * static_cast<double>(pz[k * D + d]);
    }
    double dot = 0.0, dotA = 0.0;
    for (std::int64_t d = 0; d < D; ++d) {
      dot += static_cast<double>(zi[d]) * static_cast<double>(gi[d]);
      dotA += static_cast<double>(zi[d]) * gA[d];
    }
    const double inv_n = 1.0 / norm[i];
    double sa = 0.0, sr = 0.0, st = 0.0;
    for (std::int64_t d = 0; d < D; ++d) {
      const double g = (static_cast<double>(gi[d]) - static_cast<double>(zi[d]) * dot) * inv_n;  // ∂L/∂f
      const double gAd = (gA[d] - static_cast<double>(zi[d]) * dotA) * inv_n;               // ∂attraction/∂f
      pdf[i * D + d] = static_cast<T>(g);
      st += g * g;
      sa += gAd * gAd;
      sr += (g - gAd) * (g - gAd);
    }
    nA[i] = sa;  // three arrays, not (M, 3) directly: keeps GCC from pairing the three sums
    nR[i] = sr;  // in vector registers, which changes their FMA contractions (the results
    nT[i] = st;  // stay bit-identical to the loop's earlier home in src/contrastive)
  }
  for (std::int64_t i = 0; i < M; ++i) {
    pn[i * 3 + 0] = nA[i];
    pn[i * 3 + 1] = nR[i];
    pn[i * 3 + 2] = nT[i];
  }
}

}  // namespace

void CpuBackend::contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a,
                                      const ContrastiveRowParams& p, const Tensor& stats) {
  const char* where = "contrastive_row_pass";
  check_contrastive_row_pass(device(), s, omega, a, p, stats);
  dispatch_floating(s.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if (reference_kernels()) row_pass_reference<T>(s, omega, a, p, stats);
    else row_pass_fast<T>(s, omega, a, p, stats);
  });
}

void CpuBackend::contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                          const Tensor& state) {
  const char* where = "contrastive_tile_forward";
  check_contrastive_tile_forward(device(), s, omega, p, state);
  dispatch_floating(s.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if (reference_kernels()) tile_forward_reference<T>(s, omega, p, state);
    else tile_forward_fast<T>(s, omega, p, state);
  });
}

void CpuBackend::contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a, const Tensor& state,
                                           const ContrastiveRowParams& p, const Tensor& row_sum) {
  const char* where = "contrastive_tile_gradient";
  check_contrastive_tile_gradient(device(), s, omega, a, state, p, row_sum);
  dispatch_floating(s.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if (reference_kernels()) tile_gradient_reference<T>(s, omega, a, state, p, row_sum);
    else tile_gradient_fast<T>(s, omega, a, state, p, row_sum);
  });
}

void CpuBackend::contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) {
  const char* where = "contrastive_normalize_rows";
  check_contrastive_normalize_rows(device(), f, z, norm);
  dispatch_floating(f.dtype(), where, [&](auto t) {
    normalize_rows_kernel<decltype(t)>(f, z, norm, !reference_kernels());
  });
}

void CpuBackend::contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm, const Tensor& a,
                                                const ContrastiveRowParams& p, const Tensor& df, const Tensor& norms) {
  const char* where = "contrastive_normalize_backward";
  check_contrastive_normalize_backward(device(), z, dz, norm, a, p, df, norms);
  dispatch_floating(z.dtype(), where, [&](auto t) {
    normalize_backward_kernel<decltype(t)>(z, dz, norm, a, p, df, norms, !reference_kernels());
  });
}

}  // namespace contra::cpu
