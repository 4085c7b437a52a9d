// balanced_blockwise.cpp — the blockwise fused balanced loss (docs/derivation.md §6): similarity
// tiles by GEMM, an online log-sum-exp per row, and the tiles recomputed to accumulate
// dZ̄ = (G + Gᵀ) Z̄ / τ without storing G. See balanced_blockwise.h.
#include "contrastive/balanced_blockwise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/grad_mode.h"
#include "contrastive/balanced_common.h"
#include "contrastive/fast_exp.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {

constexpr const char* kWhere = "balanced_loss (blockwise)";

// Columns [k0, k1) of anchor row i, split by kind, as tile offsets j = k − k0. The anchor's
// image sits at columns c_v = v·N + image(i), v = 0..V−1: c_v = i is the diagonal (W = 0), the
// others are P(i) (W = w_p); every other column is in N(i) (W = ω_ik, or 1). Calls
// negatives(j0, j1) for each maximal run of N(i) columns [k0 + j0, k0 + j1), and
// own_image(j, diagonal) for each c_v = k0 + j in [k0, k1).
template <typename Negatives, typename OwnImage>
void for_each_run(const ViewLayout& L, std::int64_t i, std::int64_t k0, std::int64_t k1, Negatives&& negatives,
                  OwnImage&& own_image) {
  const std::int64_t img = L.image(i);
  std::int64_t a = k0;
  for (std::int64_t v = 0; v < L.V; ++v) {
    const std::int64_t c = v * L.N + img;
    if (c < k0) continue;
    if (c >= k1) break;
    if (c > a) negatives(a - k0, c - k0);
    own_image(c - k0, c == i);
    a = c + 1;
  }
  if (k1 > a) negatives(a - k0, k1 - k0);
}

template <typename T>
BalancedOutput blockwise(const Tensor& f_in, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  const DType dt = dtype_of<T>::value;
  const std::int64_t M = L.M(), N = L.N, D = f_in.size(1);
  const double P = static_cast<double>(L.V - 1);  // |P(i)|
  const std::int64_t TT = std::min(o.tile > 0 ? o.tile : kDefaultTile, M);
  const bool need_grad = autograd::GradMode::is_enabled() && f_in.requires_grad();
  const bool want_grad = need_grad || o.gradient_norms;
  const double inv_tau = 1.0 / p.temperature, wp = p.positive_weight, wa = p.attract, wr = p.repel;
  const double ninf = -std::numeric_limits<double>::infinity();
  const T itau = static_cast<T>(inv_tau), wpT = static_cast<T>(wp);

  // ---- 1. z̄ = f/‖f‖                                                          (M, D)
  const detail::NormalizedRows rows = detail::normalize_rows<T>(f_in);
  const Tensor z3 = rows.z.view({1, M, D});
  const detail::PairWeights<T> omega(p, M);
  const std::vector<double> a = detail::anchor_coefficients(p, M);  // a_i = α_i / Σα

  // S_IK = Z̄_I Z̄_Kᵀ for rows [i0, i0+ni), columns [k0, k0+nk), in the one tile buffer   (ni, nk)
  Tensor tile_buf = Tensor::empty({1, TT, TT}, dt);
  Backend& be = backend_for(rows.z);
  auto rows_of = [&](std::int64_t r0, std::int64_t n) { return z3.as_strided({1, n, D}, {M * D, D, 1}, r0 * D); };
  auto similarity_tile = [&](std::int64_t i0, std::int64_t ni, std::int64_t k0, std::int64_t nk) -> Tensor {
    const Tensor s = tile_buf.as_strided({1, ni, nk}, {ni * nk, nk, 1}, 0);
    be.matmul(rows_of(i0, ni), z3.as_strided({1, D, nk}, {M * D, 1, D}, k0 * D), s, 1.0, 0.0);  // Z̄_I Z̄_Kᵀ
    return s;
  };

  // ---- 2. forward: online log-sum-exp per row over the column tiles
  detail::RowSums sums(M);
  std::vector<double> run_max(static_cast<size_t>(M), ninf);  // m_i, similarity units, over W_ik > 0 seen so far
  std::vector<double> dsum(static_cast<size_t>(M), 0.0);      // D̃_i = Σ_k W_ik e^{Λ_ik − m_i/τ}
  std::vector<double> dsum2(static_cast<size_t>(M), 0.0);     // Σ_k (W_ik e^{Λ_ik − m_i/τ})²
  for (std::int64_t i0 = 0; i0 < M; i0 += TT) {
    const std::int64_t ni = std::min(TT, M - i0);
    for (std::int64_t k0 = 0; k0 < M; k0 += TT) {
      const std::int64_t nk = std::min(TT, M - k0), k1 = k0 + nk;
      const Tensor S = similarity_tile(i0, ni, k0, nk);  // S_IK                          (ni, nk)
      const T* ps = S.data<T>();
#pragma omp parallel for schedule(static) if (ni * nk >= kParallelGrain)
      for (std::int64_t r = 0; r < ni; ++r) {
        const std::int64_t i = i0 + r;
        const T* s = ps + r * nk;  // s[j] = s_ik, k = k0 + j
        const T* om = omega.row(i);
        if (om) om += k0;          // om[j] = ω_ik
        const std::int64_t u0 = L.view(i) * N - k0, u1 = u0 + N;  // the anchor's view, as tile offsets
        // pass 1: the tile's max over W_ik > 0, and the telemetry sums
        T mx = std::numeric_limits<T>::lowest();
        double possum = 0.0, negsum = 0.0, usum = 0.0;
        for_each_run(
            L, i, k0, k1,
            [&](std::int64_t j0, std::int64_t j1) {
              negsum += detail::negatives_max_and_sum(s, om, j0, j1, mx);
              usum += detail::uniformity_sum(s, std::max(j0, u0), std::min(j1, u1));  // same view, k ≠ i
            },
            [&](std::int64_t j, bool diagonal) {
              if (diagonal) return;
              possum += static_cast<double>(s[j]);  // a positive
              if (wp > 0.0) mx = std::max(mx, s[j]);
            });
        sums.pos_sum[i] += possum;
        sums.neg_sum[i] += negsum;
        sums.uniformity[i] += usum;
        if (mx == std::numeric_limits<T>::lowest()) continue;  // no W_ik > 0 in this tile
        // m_i ← max(m_i, tile max);  D̃_i ← D̃_i e^{(m_old − m_i)/τ}  (0 · anything while m_old = −∞)
        const double m_old = run_max[i], m = std::max(m_old, static_cast<double>(mx));
        if (m > m_old && m_old != ninf) {
          const double scale = std::exp((m_old - m) * inv_tau);
          dsum[i] *= scale;
          dsum2[i] *= scale * scale;
        }
        run_max[i] = m;
        // pass 2: e_ik = W_ik e^{Λ_ik − m_i/τ}; D̃_i += Σ e_ik, and Σ e_ik² for ‖Gᴿ‖. The exponent
        // is ≤ 0 wherever W_ik > 0; min(·, 0) keeps unweighted entries from overflowing.
        const T mT = static_cast<T>(m * inv_tau);
        double e1 = 0.0, e2 = 0.0;
        for_each_run(
            L, i, k0, k1,
            [&](std::int64_t j0, std::int64_t j1) {
              double b1s = 0.0, b2s = 0.0;
              if (om) {
#pragma omp simd reduction(+ : b1s, b2s)
                for (std::int64_t j = j0; j < j1; ++j) {
                  const T e = om[j] * detail::fast_exp(std::min(s[j] * itau - mT, T(0)));
                  b1s += static_cast<double>(e);
                  b2s += static_cast<double>(e) * static_cast<double>(e);
                }
              } else {
#pragma omp simd reduction(+ : b1s, b2s)
                for (std::int64_t j = j0; j < j1; ++j) {
                  const T e = detail::fast_exp(std::min(s[j] * itau - mT, T(0)));
                  b1s += static_cast<double>(e);
                  b2s += static_cast<double>(e) * static_cast<double>(e);
                }
              }
              e1 += b1s;
              e2 += b2s;
            },
            [&](std::int64_t j, bool diagonal) {
              if (diagonal) return;
              const T e = wpT * detail::fast_exp(std::min(s[j] * itau - mT, T(0)));
              e1 += static_cast<double>(e);
              e2 += static_cast<double>(e) * static_cast<double>(e);
            });
        dsum[i] += e1;
        dsum2[i] += e2;
      }
    }
  }
  // log D_i = m_i/τ + log D̃_i;   ℓ_i = − w_a/|P| Σ_p Λ_ip + w_r log D_i;
  // ‖Gᴿ_i‖² = (a_i w_r/D̃_i)² Σ_k e_ik²
  for (std::int64_t i = 0; i < M; ++i) {
    if (run_max[i] == ninf) {  // W_i· ≡ 0: D_i = 0
      sums.no_denominator[i] = 1;
      continue;
    }
    sums.log_d[i] = run_max[i] * inv_tau + std::log(dsum[i]);
    sums.ell[i] = -wa / P * sums.pos_sum[i] * inv_tau + wr * sums.log_d[i];
    const double cR = a[i] * wr / dsum[i];
    sums.g_rep2[i] = cR * cR * dsum2[i];
    sums.row_sum[i] = a[i] * (wr - wa);  // closed form; replaced by Σ_k G_ik when G is formed below
  }
  detail::check_denominators(sums, kWhere);
  if (!want_grad) return detail::assemble_output(sums, a, L, p, dt);

  // ---- 3. gradient: recompute S_IK, form G_IK in the tile, dZ̄_I += G_IK Z̄_K/τ, dZ̄_K += G_IKᵀ Z̄_I/τ
  Tensor dz = Tensor::zeros({1, M, D}, dt);  // (M, D) ∂L/∂z̄
  std::vector<double> row_sum(static_cast<size_t>(M), 0.0);
  for (std::int64_t i0 = 0; i0 < M; i0 += TT) {
    const std::int64_t ni = std::min(TT, M - i0);
    for (std::int64_t k0 = 0; k0 < M; k0 += TT) {
      const std::int64_t nk = std::min(TT, M - k0), k1 = k0 + nk;
      const Tensor G = similarity_tile(i0, ni, k0, nk);  // S_IK, overwritten by G_IK
      T* pg = G.data<T>();
#pragma omp parallel for schedule(static) if (ni * nk >= kParallelGrain)
      for (std::int64_t r = 0; r < ni; ++r) {
        const std::int64_t i = i0 + r;
        T* g = pg + r * nk;  // g[j] = s_ik, then G_ik, k = k0 + j
        const T* om = omega.row(i);
        if (om) om += k0;    // om[j] = ω_ik
        // G_ik = c_R W_ik e^{Λ_ik − m_i/τ} − c_A 1[k∈P(i)],  c_R = a_i w_r / D̃_i,  c_A = a_i w_a/|P|
        const T mT = static_cast<T>(run_max[i] * inv_tau), cR = static_cast<T>(a[i] * wr / dsum[i]);
        const double cA = a[i] * wa / P;
        double rs = 0.0;
        for_each_run(
            L, i, k0, k1,
            [&](std::int64_t j0, std::int64_t j1) {
              double bs = 0.0;
              if (om) {
#pragma omp simd reduction(+ : bs)
                for (std::int64_t j = j0; j < j1; ++j) {
                  g[j] = cR * (om[j] * detail::fast_exp(std::min(g[j] * itau - mT, T(0))));
                  bs += static_cast<double>(g[j]);
                }
              } else {
#pragma omp simd reduction(+ : bs)
                for (std::int64_t j = j0; j < j1; ++j) {
                  g[j] = cR * detail::fast_exp(std::min(g[j] * itau - mT, T(0)));
                  bs += static_cast<double>(g[j]);
                }
              }
              rs += bs;
            },
            [&](std::int64_t j, bool diagonal) {
              // G_ii = 0;  G_ip = a_i w_r Q_ip − a_i w_a/|P|
              const T gR = cR * (wpT * detail::fast_exp(std::min(g[j] * itau - mT, T(0))));
              g[j] = diagonal ? T(0) : static_cast<T>(static_cast<double>(gR) - cA);
              rs += static_cast<double>(g[j]);
            });
        row_sum[i] += rs;
      }
      // dZ̄_I += G_IK Z̄_K / τ;   dZ̄_K += G_IKᵀ Z̄_I / τ                          (ni, D), (nk, D)
      be.matmul(G, rows_of(k0, nk), dz.as_strided({1, ni, D}, {M * D, D, 1}, i0 * D), inv_tau, 1.0);
      be.matmul(G.as_strided({1, nk, ni}, {ni * nk, 1, nk}, 0), rows_of(i0, ni),
                dz.as_strided({1, nk, D}, {M * D, D, 1}, k0 * D), inv_tau, 1.0);
    }
  }
  sums.row_sum = row_sum;
  BalancedOutput out = detail::assemble_output(sums, a, L, p, dt);
  detail::finish_gradient<T>(f_in, rows, dz, a, L, p, need_grad, "balanced_loss_blockwise", out);
  return out;
}

}  // namespace

BalancedOutput balanced_loss_blockwise(const Tensor& f, const ViewLayout& L, const BalancedParams& p,
                                       const FusedOptions& o) {
  detail::check_loss_inputs(f, L, p, kWhere);
  CONTRA_CHECK_HINT(!o.keep_logit_grad, kWhere, "use FusedOptions::algorithm = LossAlgorithm::full_matrix",
                    "keep_logit_grad needs the (M, M) logit gradient, which the blockwise loss never stores");
  CONTRA_CHECK(o.tile >= 0, kWhere, "tile must be ≥ 0 (0 = the default ", kDefaultTile, "), got ", o.tile);
  return dispatch_floating(f.dtype(), kWhere, [&](auto t) { return blockwise<decltype(t)>(f, L, p, o); });
}

}  // namespace contra::contrastive
