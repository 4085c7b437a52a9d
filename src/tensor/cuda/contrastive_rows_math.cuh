// contrastive_rows_math.cuh — the per-row arithmetic of the CUDA contrastive row passes
// (contrastive_rows.cu), as CONTRA_HD functions over plain pointers: the kernels call them,
// and tests/tensor/test_cuda_math.cpp runs the same functions on the CPU, emulating the grid
// with loops, against the CPU reference kernels. What is computed is Backend's contract
// (backend.h, "contrastive row passes"); the notation is its:
//   W_ik = 0 (k = i), w_p (k ∈ P(i)), ω_ik / ω_k / 1 (k ∈ N(i));  m_i = max{s_ik : W_ik > 0};
//   e_ik = W_ik · exp(min(Λ_ik − m_i/τ, 0)),  Λ_ik = s_ik/τ;  D̃_i = Σ_k e_ik;
//   G_ik = a_i (w_r e_ik/D̃_i − w_a 1[k∈P(i)]/|P|).
//
// Work split: a kernel gives one block to each anchor row; thread t of `step` threads takes
// the row's columns j = t, t + step, … and calls a *_partial function; the block combines
// the partials (combine(), every sum in double) and one thread finishes (the functions that
// write stats or state). Exponents are formed in double, as the reference twins do, and
// exponentiated in T (expf for float, exp for double).
#pragma once

#include <math.h>

#include <cstdint>

#include "tensor/cuda/host_device.cuh"

namespace contra::cuda::rows {

// Backend::ContrastiveRowParams in plain types (nvcc does not see backend.h).
struct Geom {
  std::int64_t N = 0, V = 0;  // images, views: M = N·V
  double inv_tau = 1.0, wp = 0.0, wa = 1.0, wr = 1.0;
  std::int64_t row0 = 0, col0 = 0;
};

// Columns of Backend::TileState and Backend::RowStat (the glue static_asserts they agree).
enum TileCol : int { st_pos_sum, st_neg_sum, st_uniformity, st_max, st_dsum, st_dsum2, st_count };
enum StatCol : int { stat_ell, stat_log_d, stat_pos_sum, stat_neg_sum, stat_uniformity, stat_g_rep2, stat_row_sum,
                     stat_no_denominator, stat_count };

CONTRA_HD float exp_t(float x) { return expf(x); }
CONTRA_HD double exp_t(double x) { return exp(x); }

// One thread's columns of anchor row i: j = t, t + step, … (offsets into the row or tile),
// k = k0 + j, with k mod N kept by addition (no division per column).
struct ColumnWalk {
  std::int64_t j, k, kmod, step, dmod, N;
  CONTRA_HD ColumnWalk(std::int64_t k0, std::int64_t t, std::int64_t step_, std::int64_t N_)
      : j(t), k(k0 + t), kmod((k0 + t) % N_), step(step_), dmod(step_ % N_), N(N_) {}
  CONTRA_HD void next() {
    j += step;
    k += step;
    kmod += dmod;
    if (kmod >= N) kmod -= N;
  }
};

// W_ik of the walk's column: img = i mod N; om[j] = ω_ik or null (no ω: 1).
template <typename T>
CONTRA_HD double weight(const ColumnWalk& c, std::int64_t i, std::int64_t img, const T* om, double wp) {
  if (c.kmod != img) return om ? static_cast<double>(om[c.j]) : 1.0;  // a negative
  return c.k == i ? 0.0 : wp;                                          // the anchor, a positive
}

// e_ik = W_ik · exp(min(s_ik/τ − m_i/τ, 0)); mt = m_i/τ. (NaN exponents propagate, as std::min's.)
template <typename T>
CONTRA_HD double e_of(T s, double w, double inv_tau, double mt) {
  const double x = static_cast<double>(s) * inv_tau - mt;
  return w * static_cast<double>(exp_t(static_cast<T>(0.0 < x ? 0.0 : x)));
}

// ---- pass 1: max over W_ik > 0 and the telemetry sums -------------------------------------
struct Scan {
  double max, pos, neg, unif;  // max_{W_ik>0} s_ik (−∞: none), Σ_P s, Σ_N s, Σ_{k≠i, view u_i} e^{4s−4}
};
CONTRA_HD Scan scan_identity() { return Scan{-INFINITY, 0.0, 0.0, 0.0}; }
CONTRA_HD Scan combine(const Scan& a, const Scan& b) {
  return Scan{a.max < b.max ? b.max : a.max, a.pos + b.pos, a.neg + b.neg, a.unif + b.unif};
}

// s[j] = s_ik, om[j] = ω_ik (or null) for k = k0 + j, j < n.
template <typename T>
CONTRA_HD Scan scan_partial(const T* s, const T* om, std::int64_t n, std::int64_t i, std::int64_t k0, std::int64_t t,
                            std::int64_t step, const Geom& g) {
  const std::int64_t img = i % g.N, u0 = i - img, u1 = u0 + g.N;  // the anchor's view: columns [u0, u1)
  Scan r = scan_identity();
  for (ColumnWalk c(k0, t, step, g.N); c.j < n; c.next()) {
    const double x = static_cast<double>(s[c.j]);
    if (c.kmod == img) {
      if (c.k == i) continue;  // the anchor: W = 0, no telemetry
      r.pos += x;              // a positive
      if (g.wp > 0.0 && r.max < x) r.max = x;
    } else {
      r.neg += x;  // a negative
      if ((!om || om[c.j] > T(0)) && r.max < x) r.max = x;
      if (c.k >= u0 && c.k < u1) r.unif += static_cast<double>(exp_t(static_cast<T>(4.0 * x - 4.0)));
    }
  }
  return r;
}

// ---- pass 2: D̃_i = Σ e_ik and Σ e_ik² ------------------------------------------------------
struct ESums {
  double e1, e2;
};
CONTRA_HD ESums combine(const ESums& a, const ESums& b) { return ESums{a.e1 + b.e1, a.e2 + b.e2}; }

template <typename T>
CONTRA_HD ESums esum_partial(const T* s, const T* om, std::int64_t n, std::int64_t i, std::int64_t k0, std::int64_t t,
                             std::int64_t step, const Geom& g, double mt) {
  const std::int64_t img = i % g.N;
  ESums r{0.0, 0.0};
  for (ColumnWalk c(k0, t, step, g.N); c.j < n; c.next()) {
    const double e = e_of(s[c.j], weight(c, i, img, om, g.wp), g.inv_tau, mt);
    r.e1 += e;
    r.e2 += e * e;
  }
  return r;
}

// ---- pass 3: G_ik written over s_ik --------------------------------------------------------
struct GSums {
  double g_rep2, row_sum;  // Σ (c_R e_ik)², Σ G_ik
};
CONTRA_HD GSums combine(const GSums& a, const GSums& b) { return GSums{a.g_rep2 + b.g_rep2, a.row_sum + b.row_sum}; }

// cR = a_i w_r / D̃_i, cA = a_i w_a / |P|:  G_ik = cR·e_ik − cA·1[k∈P(i)].
template <typename T>
CONTRA_HD GSums gradient_partial(T* s, const T* om, std::int64_t n, std::int64_t i, std::int64_t k0, std::int64_t t,
                                 std::int64_t step, const Geom& g, double mt, double cR, double cA) {
  const std::int64_t img = i % g.N;
  GSums r{0.0, 0.0};
  for (ColumnWalk c(k0, t, step, g.N); c.j < n; c.next()) {
    const double gR = cR * e_of(s[c.j], weight(c, i, img, om, g.wp), g.inv_tau, mt);
    const double gv = c.kmod == img && c.k != i ? gR - cA : gR;
    s[c.j] = static_cast<T>(gv);
    r.g_rep2 += gR * gR;
    r.row_sum += gv;
  }
  return r;
}

// ---- finishing a row -------------------------------------------------------------------------
// |P| = V − 1 as a double.
CONTRA_HD double positives(const Geom& g) { return static_cast<double>(g.V - 1); }

// The full-matrix row pass's stats row (out: row_stat_count values). A row without W_ik > 0
// (sc.max = −∞) gets (0, …, 0, 1).
CONTRA_HD void row_stats(const Scan& sc, double Dt, const GSums& gs, const Geom& g, double* out) {
  for (int c = 0; c < stat_count; ++c) out[c] = 0.0;
  if (sc.max == -INFINITY) {
    out[stat_no_denominator] = 1.0;
    return;
  }
  const double logD = sc.max * g.inv_tau + log(Dt);  // log D_i = m_i/τ + log D̃_i
  out[stat_ell] = -g.wa / positives(g) * sc.pos * g.inv_tau + g.wr * logD;
  out[stat_log_d] = logD;
  out[stat_pos_sum] = sc.pos;
  out[stat_neg_sum] = sc.neg;
  out[stat_uniformity] = sc.unif;
  out[stat_g_rep2] = gs.g_rep2;
  out[stat_row_sum] = gs.row_sum;
}

// Blockwise forward, first half: folds one tile's scan into row i's state (st: tile_state_count
// values): the telemetry sums, then m_i ← max(m_i, tile max) with D̃_i and Σe² rescaled by
// e^{(m_old − m_i)/τ} (squared) when m_i grows. Returns false when the tile holds no W_ik > 0
// (then the e-sums are not folded either).
CONTRA_HD bool tile_fold_scan(double* st, const Scan& sc, double inv_tau) {
  st[st_pos_sum] += sc.pos;
  st[st_neg_sum] += sc.neg;
  st[st_uniformity] += sc.unif;
  if (sc.max == -INFINITY) return false;
  const double m_old = st[st_max], m = m_old < sc.max ? sc.max : m_old;
  if (m > m_old && m_old != -INFINITY) {
    const double scale = exp((m_old - m) * inv_tau);
    st[st_dsum] *= scale;
    st[st_dsum2] *= scale * scale;
  }
  st[st_max] = m;
  return true;
}
// Second half: D̃_i += Σ e_ik, Σe² += Σ e_ik² over the tile (e with the new m_i).
CONTRA_HD void tile_fold_sums(double* st, const ESums& e) {
  st[st_dsum] += e.e1;
  st[st_dsum2] += e.e2;
}

// ---- row normalisation and its backward (rows of D features) -----------------------------------
CONTRA_HD double combine(double a, double b) { return a + b; }

// Σ_d f_id² over the thread's features.
template <typename T>
CONTRA_HD double norm2_partial(const T* f, std::int64_t D, std::int64_t t, std::int64_t step) {
  double r = 0.0;
  for (std::int64_t d = t; d < D; d += step) r += static_cast<double>(f[d]) * static_cast<double>(f[d]);
  return r;
}
// z̄_id = f_id · (1/‖f_i‖).
template <typename T>
CONTRA_HD void normalize_partial(const T* f, T* z, std::int64_t D, std::int64_t t, std::int64_t step, double inv_norm) {
  for (std::int64_t d = t; d < D; d += step) z[d] = static_cast<T>(static_cast<double>(f[d]) * inv_norm);
}

// dz̄ᴬ_id = Σ_{p∈P(i)} −(a_i + a_p) w_a/|P|/τ · z̄_pd   (z: the (M, D) matrix; V − 1 terms).
template <typename T>
CONTRA_HD double attraction(const T* z, const double* a, std::int64_t i, std::int64_t d, std::int64_t D,
                            const Geom& g) {
  const double P = positives(g);
  double r = 0.0;
  for (std::int64_t v = 0; v < g.V; ++v) {
    const std::int64_t k = v * g.N + i % g.N;
    if (k == i) continue;
    const double c = -(a[i] + a[k]) * g.wa / P * g.inv_tau;
    r += c * static_cast<double>(z[k * D + d]);
  }
  return r;
}

struct Dots {
  double dot, dotA;  // ⟨z̄_i, dz_i⟩, ⟨z̄_i, dz̄ᴬ_i⟩
};
CONTRA_HD Dots combine(const Dots& a, const Dots& b) { return Dots{a.dot + b.dot, a.dotA + b.dotA}; }

template <typename T>
CONTRA_HD Dots dots_partial(const T* z, const T* dz, const double* a, std::int64_t i, std::int64_t D, std::int64_t t,
                            std::int64_t step, const Geom& g) {
  const T* zi = z + i * D;
  const T* gi = dz + i * D;
  Dots r{0.0, 0.0};
  for (std::int64_t d = t; d < D; d += step) {
    r.dot += static_cast<double>(zi[d]) * static_cast<double>(gi[d]);
    r.dotA += static_cast<double>(zi[d]) * attraction(z, a, i, d, D, g);
  }
  return r;
}

struct NormSums {
  double sa, sr, st;  // ‖dfᴬ_i‖², ‖df_i − dfᴬ_i‖², ‖df_i‖²
};
CONTRA_HD NormSums combine(const NormSums& a, const NormSums& b) {
  return NormSums{a.sa + b.sa, a.sr + b.sr, a.st + b.st};
}

// df_i = (dz_i − z̄_i⟨z̄_i, dz_i⟩)/‖f_i‖ written to df (row i), and the norms' partial sums.
template <typename T>
CONTRA_HD NormSums backward_partial(const T* z, const T* dz, const double* a, std::int64_t i, std::int64_t D,
                                    std::int64_t t, std::int64_t step, const Geom& g, const Dots& dots, double inv_norm,
                                    T* df) {
  const T* zi = z + i * D;
  const T* gi = dz + i * D;
  NormSums r{0.0, 0.0, 0.0};
  for (std::int64_t d = t; d < D; d += step) {
    const double zd = static_cast<double>(zi[d]);
    const double gd = (static_cast<double>(gi[d]) - zd * dots.dot) * inv_norm;                // ∂L/∂f
    const double gAd = (attraction(z, a, i, d, D, g) - zd * dots.dotA) * inv_norm;           // ∂attraction/∂f
    df[i * D + d] = static_cast<T>(gd);
    r.st += gd * gd;
    r.sa += gAd * gAd;
    r.sr += (gd - gAd) * (gd - gAd);
  }
  return r;
}
CONTRA_HD void norms_row(const NormSums& s, double* out) {
  out[0] = s.sa;
  out[1] = s.sr;
  out[2] = s.st;
}

}  // namespace contra::cuda::rows
