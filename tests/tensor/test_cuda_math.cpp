// test_cuda_math.cpp — the arithmetic of the CUDA row-pass and optimizer kernels, run on the
// CPU. The CONTRA_HD functions of src/tensor/cuda/contrastive_rows_math.cuh and
// optimizer_math.cuh are the code the kernels (contrastive_rows.cu, optimizer_updates.cu)
// execute per thread; here each kernel's grid is emulated with loops — one anchor row (or one
// chunk) after another, threads t = 0 … step−1 each calling the *_partial function, their
// partials combined with the headers' combine() — and the results compared with the CPU
// backend's reference kernels (set_reference_kernels). The emulation's few lines per kernel
// mirror the kernel bodies; the block reduction order differs (sequential here, a tree on
// the device), which the tolerances allow. Thread counts 1, 7, 32 and 256 walk the columns
// with strides below and above N (ColumnWalk's k mod N by addition).
//
// This is the only check of the kernels' arithmetic on a machine without a GPU; the kernels
// themselves are checked by test_backend_parity's CUDA rows, on a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cuda/contrastive_rows_math.cuh"
#include "tensor/cuda/optimizer_math.cuh"
#include "tensor/cpu/reference_optimizer.h"
#include "tensor/generator.h"

using namespace contra;
namespace rows = contra::cuda::rows;
namespace optim = contra::cuda::optim;

namespace {

Backend& cpu_be() { return backend_for(Device::cpu()); }

// max_i |x_i − r_i| / max(|r_i|, floor·max_j |r_j|); NaN against non-NaN is infinite.
double rel_error(const std::vector<double>& x, const std::vector<double>& r, double floor = 1e-6) {
  REQUIRE(x.size() == r.size());
  double mag = 0.0, err = 0.0;
  for (double v : r) mag = std::max(mag, std::abs(v));
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(r[i])) return INFINITY;
    if (std::isnan(r[i])) continue;
    err = std::max(err, std::abs(x[i] - r[i]) / std::max({std::abs(r[i]), floor * mag, 1e-300}));
  }
  return err;
}

template <typename T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Tolerances: the kernels' exponent is the reference's (double), exponentiated in T; sums
// in double in another order.
template <typename T>
double tol() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-13;
}

constexpr std::int64_t kSteps[] = {1, 7, 32, 256};

// Columns holding sums of mixed sign (ℓ, log D, Σ s, Σ G, m): judged against the column's
// scale (floor 1), since summing in another order moves a near-zero sum by ~1e-16 of its
// terms; the sums of positive terms elementwise.
bool signed_stat(int c) {
  return c == rows::stat_ell || c == rows::stat_log_d || c == rows::stat_pos_sum || c == rows::stat_neg_sum ||
         c == rows::stat_row_sum;
}
bool signed_state(int c) { return c == rows::st_pos_sum || c == rows::st_neg_sum || c == rows::st_max; }

// ---- inputs of the contrastive cases (as test_backend_parity's rows) ------------------------
struct RCase {
  std::int64_t N, V, D;
  int omega;  // 0 none, 1 (M,), 2 (M, M)
  double wp;
  std::int64_t tile;
};
const RCase kCases[] = {{2, 2, 3, 0, 0.0, 3},   {3, 3, 7, 1, 0.7, 4},  {17, 2, 32, 0, 0.0, 16}, {17, 3, 8, 2, 0.7, 20},
                        {64, 2, 32, 0, 0.0, 48}, {20, 4, 16, 2, 0.0, 33}, {40, 2, 16, 1, 1.0, 80}};

template <typename T>
struct Inputs {
  rows::Geom g;
  std::vector<T> s, omega;  // S (M, M); ω (M,) or (M, M) or empty
  std::vector<double> a;    // (M,), Σ a = 1
  std::int64_t M;
  int omega_dim;
  const T* om(std::int64_t i, std::int64_t col0) const {
    return omega.empty() ? nullptr : omega.data() + (omega_dim == 2 ? i * M : 0) + col0;
  }
};

template <typename T>
Inputs<T> make_inputs(const RCase& rc, std::uint64_t seed) {
  Generator gen(seed);
  Inputs<T> in;
  in.M = rc.N * rc.V;
  in.omega_dim = rc.omega;
  const std::int64_t M = in.M, D = rc.D;
  in.g.N = rc.N;
  in.g.V = rc.V;
  in.g.inv_tau = 1.0 / 0.2;
  in.g.wp = rc.wp;
  in.g.wa = 0.9;
  in.g.wr = 1.1;
  std::vector<double> z = Tensor::randn({M, D}, gen, DType::f64).to_vector<double>();
  for (std::int64_t i = 0; i < M; ++i) {
    double n = 0;
    for (std::int64_t d = 0; d < D; ++d) n += z[i * D + d] * z[i * D + d];
    for (std::int64_t d = 0; d < D; ++d) z[i * D + d] /= std::sqrt(n);
  }
  in.s.resize(static_cast<std::size_t>(M * M));
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t k = 0; k < M; ++k) {
      double v = 0;
      for (std::int64_t d = 0; d < D; ++d) v += z[i * D + d] * z[k * D + d];
      in.s[i * M + k] = static_cast<T>(v);
    }
  if (rc.omega) {
    const std::vector<double> w = Tensor::rand({rc.omega == 2 ? M * M : M}, gen, DType::f64).to_vector<double>();
    for (double x : w) in.omega.push_back(static_cast<T>(x < 0.1 ? 0.0 : x * 2));  // some ω = 0
  }
  in.a = Tensor::rand({M}, gen, DType::f64).to_vector<double>();
  double t = 0;
  for (double& x : in.a) t += (x += 0.5);
  for (double& x : in.a) x /= t;
  return in;
}

template <typename T>
Tensor tensor_of(const std::vector<T>& v, const Shape& s) {
  return Tensor::from_vector(v, s);
}
template <typename T>
Tensor omega_tensor(const Inputs<T>& in) {
  if (in.omega.empty()) return Tensor();
  return tensor_of(in.omega, in.omega_dim == 2 ? Shape{in.M, in.M} : Shape{in.M});
}
Backend::ContrastiveRowParams params_of(const rows::Geom& g) {
  Backend::ContrastiveRowParams p;
  p.N = g.N;
  p.V = g.V;
  p.inv_tau = g.inv_tau;
  p.positive_weight = g.wp;
  p.attract = g.wa;
  p.repel = g.wr;
  p.row0 = g.row0;
  p.col0 = g.col0;
  return p;
}

// Thread partials of one row, combined in thread order.
template <typename A, typename F>
A over_threads(std::int64_t step, A init, F&& partial) {
  A r = init;
  for (std::int64_t t = 0; t < step; ++t) r = rows::combine(r, partial(t));
  return r;
}

// ---- the kernels, emulated (bodies as contrastive_rows.cu) ----------------------------------
template <typename T>
void row_pass_emulated(Inputs<T>& in, std::vector<double>& stats, std::int64_t step) {
  const rows::Geom& g = in.g;
  const std::int64_t M = in.M;
  stats.assign(static_cast<std::size_t>(M * rows::stat_count), -1.0);
  for (std::int64_t i = 0; i < M; ++i) {
    T* s = in.s.data() + i * M;
    const T* om = in.om(i, 0);
    const rows::Scan sc = over_threads(step, rows::scan_identity(),
                                       [&](std::int64_t t) { return rows::scan_partial(s, om, M, i, 0, t, step, g); });
    if (sc.max == -INFINITY) {
      rows::row_stats(sc, 0.0, rows::GSums{0.0, 0.0}, g, stats.data() + i * rows::stat_count);
      continue;
    }
    const double mt = sc.max * g.inv_tau;
    const rows::ESums e = over_threads(step, rows::ESums{0.0, 0.0}, [&](std::int64_t t) {
      return rows::esum_partial(s, om, M, i, 0, t, step, g, mt);
    });
    const double cR = in.a[i] * g.wr / e.e1, cA = in.a[i] * g.wa / rows::positives(g);
    const rows::GSums gs = over_threads(step, rows::GSums{0.0, 0.0}, [&](std::int64_t t) {
      return rows::gradient_partial(s, om, M, i, 0, t, step, g, mt, cR, cA);
    });
    rows::row_stats(sc, e.e1, gs, g, stats.data() + i * rows::stat_count);
  }
}

// Every tile of S, forward over all tiles and then gradient over all tiles (as the blockwise loss).
template <typename T>
void tiles_emulated(Inputs<T>& in, std::int64_t tile, std::vector<double>& state, std::vector<double>& row_sum,
                    std::int64_t step) {
  const std::int64_t M = in.M;
  state.assign(static_cast<std::size_t>(M * rows::st_count), 0.0);
  for (std::int64_t i = 0; i < M; ++i) state[i * rows::st_count + rows::st_max] = -INFINITY;
  row_sum.assign(static_cast<std::size_t>(M), 0.0);
  for (int pass = 0; pass < 2; ++pass)
    for (std::int64_t i0 = 0; i0 < M; i0 += tile)
      for (std::int64_t k0 = 0; k0 < M; k0 += tile) {
        const std::int64_t ni = std::min(tile, M - i0), nk = std::min(tile, M - k0);
        std::vector<T> s(static_cast<std::size_t>(ni * nk));  // the tile, contiguous
        for (std::int64_t r = 0; r < ni; ++r)
          for (std::int64_t j = 0; j < nk; ++j) s[r * nk + j] = in.s[(i0 + r) * M + k0 + j];
        rows::Geom g = in.g;
        g.row0 = i0;
        g.col0 = k0;
        for (std::int64_t r = 0; r < ni; ++r) {
          const std::int64_t i = i0 + r;
          T* sr = s.data() + r * nk;
          const T* om = in.om(i, k0);
          double* st = state.data() + i * rows::st_count;
          if (pass == 0) {
            const rows::Scan sc = over_threads(step, rows::scan_identity(), [&](std::int64_t t) {
              return rows::scan_partial<T>(sr, om, nk, i, k0, t, step, g);
            });
            if (!rows::tile_fold_scan(st, sc, g.inv_tau)) continue;
            const double mt = st[rows::st_max] * g.inv_tau;
            rows::tile_fold_sums(st, over_threads(step, rows::ESums{0.0, 0.0}, [&](std::int64_t t) {
                                   return rows::esum_partial<T>(sr, om, nk, i, k0, t, step, g, mt);
                                 }));
          } else {
            const double mt = st[rows::st_max] * g.inv_tau;
            const double cR = in.a[i] * g.wr / st[rows::st_dsum], cA = in.a[i] * g.wa / rows::positives(g);
            row_sum[i] += over_threads(step, rows::GSums{0.0, 0.0}, [&](std::int64_t t) {
                            return rows::gradient_partial(sr, om, nk, i, k0, t, step, g, mt, cR, cA);
                          }).row_sum;
          }
        }
        if (pass == 1)
          for (std::int64_t r = 0; r < ni; ++r)
            for (std::int64_t j = 0; j < nk; ++j) in.s[(i0 + r) * M + k0 + j] = s[r * nk + j];  // G's tile
      }
}

}  // namespace

TEST_CASE_TEMPLATE("cuda math: the row pass kernel's arithmetic = the CPU reference row pass", T, float, double) {
  for (const RCase& rc : kCases)
    for (std::int64_t step : kSteps) {
      CAPTURE(rc.N);
      CAPTURE(rc.V);
      CAPTURE(rc.omega);
      CAPTURE(step);
      Inputs<T> in = make_inputs<T>(rc, 11 + rc.N);
      Tensor s_ref = tensor_of(in.s, {in.M, in.M});
      Tensor stats_ref = Tensor::empty({in.M, Backend::row_stat_count}, DType::f64);
      {
        ReferenceKernelsGuard g(true);
        cpu_be().contrastive_row_pass(s_ref, omega_tensor(in), tensor_of(in.a, {in.M}), params_of(in.g), stats_ref);
      }
      std::vector<double> stats;
      row_pass_emulated(in, stats, step);
      CHECK(rel_error(as_double(in.s), s_ref.to_vector<double>()) <= tol<T>());
      // per column of stats (each its own scale)
      const std::vector<double> sr = stats_ref.to_vector<double>();
      for (int c = 0; c < rows::stat_count; ++c) {
        std::vector<double> x, r;
        for (std::int64_t i = 0; i < in.M; ++i) {
          x.push_back(stats[i * rows::stat_count + c]);
          r.push_back(sr[i * rows::stat_count + c]);
        }
        CAPTURE(c);
        CHECK(rel_error(x, r, signed_stat(c) ? 1.0 : 1e-9) <= tol<T>());
      }
    }
}

TEST_CASE_TEMPLATE("cuda math: a row with no W_ik > 0 gets stats (0, …, 0, 1)", T, float, double) {
  // ω (M, M) zero on row 0 and w_p = 0: row 0 has no denominator; the others are compared too.
  Inputs<T> in = make_inputs<T>(RCase{5, 2, 4, 2, 0.0, 4}, 3);
  std::fill(in.omega.begin(), in.omega.begin() + in.M, T(0));
  Tensor s_ref = tensor_of(in.s, {in.M, in.M});
  Tensor stats_ref = Tensor::empty({in.M, Backend::row_stat_count}, DType::f64);
  {
    ReferenceKernelsGuard g(true);
    cpu_be().contrastive_row_pass(s_ref, omega_tensor(in), tensor_of(in.a, {in.M}), params_of(in.g), stats_ref);
  }
  std::vector<double> stats;
  row_pass_emulated(in, stats, 32);
  for (int c = 0; c < rows::stat_count; ++c) CHECK(stats[c] == (c == rows::stat_no_denominator ? 1.0 : 0.0));
  const std::vector<double> sr = stats_ref.to_vector<double>();
  CHECK(std::vector<double>(sr.begin(), sr.begin() + rows::stat_count) ==
        std::vector<double>(stats.begin(), stats.begin() + rows::stat_count));
  for (std::int64_t i = 1; i < in.M; ++i) CHECK(stats[i * rows::stat_count + rows::stat_no_denominator] == 0.0);
}

TEST_CASE_TEMPLATE("cuda math: the tile kernels' arithmetic = the CPU reference tile passes", T, float, double) {
  for (const RCase& rc : kCases)
    for (std::int64_t step : {std::int64_t{7}, std::int64_t{32}}) {
      CAPTURE(rc.N);
      CAPTURE(rc.V);
      CAPTURE(rc.omega);
      CAPTURE(rc.tile);
      CAPTURE(step);
      Inputs<T> in = make_inputs<T>(rc, 23 + rc.N);
      // the reference: the same tiles, through the CPU backend
      const std::int64_t M = in.M;
      Tensor S = tensor_of(in.s, {M, M}), omega = omega_tensor(in), a = tensor_of(in.a, {M});
      Tensor state_ref = Tensor::zeros({M, Backend::tile_state_count}, DType::f64);
      Tensor row_sum_ref = Tensor::zeros({M}, DType::f64);
      for (std::int64_t i = 0; i < M; ++i)
        state_ref.data<double>()[i * Backend::tile_state_count + Backend::tile_max] = -INFINITY;
      Tensor G_ref = Tensor::empty({M, M}, S.dtype());
      {
        ReferenceKernelsGuard g(true);
        Backend::ContrastiveRowParams p = params_of(in.g);
        for (int pass = 0; pass < 2; ++pass)
          for (std::int64_t i0 = 0; i0 < M; i0 += rc.tile)
            for (std::int64_t k0 = 0; k0 < M; k0 += rc.tile) {
              const std::int64_t ni = std::min(rc.tile, M - i0), nk = std::min(rc.tile, M - k0);
              Tensor tile = S.as_strided({ni, nk}, {M, 1}, i0 * M + k0).contiguous();
              p.row0 = i0;
              p.col0 = k0;
              if (pass == 0) {
                cpu_be().contrastive_tile_forward(tile, omega, p, state_ref);
              } else {
                cpu_be().contrastive_tile_gradient(tile, omega, a, state_ref, p, row_sum_ref);
                cpu_be().copy(tile, G_ref.as_strided({ni, nk}, {M, 1}, i0 * M + k0));
              }
            }
      }
      std::vector<double> state, row_sum;
      tiles_emulated(in, rc.tile, state, row_sum, step);
      CHECK(rel_error(as_double(in.s), G_ref.to_vector<double>()) <= tol<T>());
      CHECK(rel_error(row_sum, row_sum_ref.to_vector<double>(), 1.0) <= tol<T>());
      const std::vector<double> sr = state_ref.to_vector<double>();
      for (int c = 0; c < rows::st_count; ++c) {
        std::vector<double> x, r;
        for (std::int64_t i = 0; i < M; ++i) {
          x.push_back(state[i * rows::st_count + c]);
          r.push_back(sr[i * rows::st_count + c]);
        }
        CAPTURE(c);
        CHECK(rel_error(x, r, signed_state(c) ? 1.0 : 1e-9) <= tol<T>());
      }
    }
}

TEST_CASE_TEMPLATE("cuda math: the normalisation kernels' arithmetic = the CPU reference", T, float, double) {
  for (auto [M, D] : {std::pair<std::int64_t, std::int64_t>{4, 3}, {34, 7}, {128, 32}, {60, 130}})
    for (std::int64_t step : {std::int64_t{1}, std::int64_t{32}, std::int64_t{256}}) {
      CAPTURE(M);
      CAPTURE(D);
      CAPTURE(step);
      Generator gen(static_cast<std::uint64_t>(M * 131 + D));
      const DType dt = std::is_same_v<T, float> ? DType::f32 : DType::f64;
      Tensor f = Tensor::randn({M, D}, gen, dt), dz = Tensor::randn({M, D}, gen, dt);
      std::vector<double> a(static_cast<std::size_t>(M));
      for (std::int64_t i = 0; i < M; ++i) a[i] = (1.0 + 0.01 * static_cast<double>(i % 7)) / static_cast<double>(M);
      rows::Geom g;
      g.N = M / 2;
      g.V = 2;
      g.inv_tau = 2.0;
      g.wa = 0.9;
      // the reference
      Tensor z_ref = Tensor::empty({M, D}, dt), n_ref = Tensor::empty({M}, DType::f64);
      Tensor df_ref = Tensor::empty({M, D}, dt), norms_ref = Tensor::empty({M, 3}, DType::f64);
      {
        ReferenceKernelsGuard guard(true);
        cpu_be().contrastive_normalize_rows(f, z_ref, n_ref);
        cpu_be().contrastive_normalize_backward(z_ref, dz, n_ref, tensor_of(a, {M}), params_of(g), df_ref, norms_ref);
      }
      // the kernels' arithmetic (normalize_rows_kernel, then normalize_backward_kernel on its z)
      const T* pf = f.data<T>();
      const T* pdz = dz.data<T>();
      std::vector<T> z(static_cast<std::size_t>(M * D)), df(static_cast<std::size_t>(M * D));
      std::vector<double> norm(static_cast<std::size_t>(M)), norms(static_cast<std::size_t>(M * 3));
      for (std::int64_t i = 0; i < M; ++i) {
        const double n2 =
            over_threads(step, 0.0, [&](std::int64_t t) { return rows::norm2_partial(pf + i * D, D, t, step); });
        norm[i] = std::sqrt(n2);
        for (std::int64_t t = 0; t < step; ++t)
          rows::normalize_partial(pf + i * D, z.data() + i * D, D, t, step, 1.0 / norm[i]);
      }
      for (std::int64_t i = 0; i < M; ++i) {
        const rows::Dots dots = over_threads(step, rows::Dots{0.0, 0.0}, [&](std::int64_t t) {
          return rows::dots_partial(z.data(), pdz, a.data(), i, D, t, step, g);
        });
        const rows::NormSums ns = over_threads(step, rows::NormSums{0.0, 0.0, 0.0}, [&](std::int64_t t) {
          return rows::backward_partial(z.data(), pdz, a.data(), i, D, t, step, g, dots, 1.0 / norm[i], df.data());
        });
        rows::norms_row(ns, norms.data() + i * 3);
      }
      CHECK(rel_error(as_double(z), z_ref.to_vector<double>()) <= tol<T>());
      CHECK(rel_error(norm, n_ref.to_vector<double>()) <= 1e-14);
      CHECK(rel_error(as_double(df), df_ref.to_vector<double>(), 1e-3) <= tol<T>());
      CHECK(rel_error(norms, norms_ref.to_vector<double>(), 1e-3) <= tol<T>());
    }
}

// ---- the optimizer updates ------------------------------------------------------------------------
namespace {

const std::vector<std::int64_t> kNumels = {3, 85, 0, 54, 40000};

template <typename T>
struct OptLists {
  std::vector<std::vector<T>> p, g, s1, s2;
};
template <typename T>
OptLists<T> make_opt_lists(std::uint64_t seed) {
  Generator gen(seed);
  const DType dt = std::is_same_v<T, float> ? DType::f32 : DType::f64;
  OptLists<T> l;
  for (std::int64_t n : kNumels) {
    l.p.push_back(Tensor::randn({n}, gen, dt).to_vector<T>());
    l.g.push_back(Tensor::randn({n}, gen, dt).to_vector<T>());
    l.s1.push_back(Tensor::randn({n}, gen, dt).to_vector<T>());
    l.s2.push_back(Tensor::rand({n}, gen, dt).to_vector<T>());
  }
  return l;
}
template <typename T>
std::vector<optim::Slot> slots_of(OptLists<T>& l) {
  std::vector<optim::Slot> s;
  for (std::size_t i = 0; i < l.p.size(); ++i) {
    optim::Slot sl;
    sl.p = l.p[i].data();
    sl.g = l.g[i].data();
    sl.s1 = l.s1[i].data();
    sl.s2 = l.s2[i].data();
    sl.numel = static_cast<std::int64_t>(l.p[i].size());
    sl.index = static_cast<std::int64_t>(i);
    s.push_back(sl);
  }
  return s;
}
// Chunk c of the table, threads t = 0 … 255 (the kernels' grid, one chunk after another).
template <typename F>
void over_chunks(const std::vector<optim::Chunk>& chunks, F&& f) {
  for (const optim::Chunk& c : chunks)
    for (std::int64_t t = 0; t < 256; ++t) f(c, t, std::int64_t{256});
}
constexpr std::int64_t kSmallChunk = 4096;  // several chunks for the 40,000-element tensor

}  // namespace

TEST_CASE("cuda math: make_chunks covers every tensor once, in order") {
  std::vector<optim::Slot> slots(kNumels.size());
  for (std::size_t i = 0; i < kNumels.size(); ++i) slots[i].numel = kNumels[i];
  const std::vector<optim::Chunk> chunks = optim::make_chunks(slots, kSmallChunk);
  std::int64_t total = 0;
  for (std::size_t s = 0; s < slots.size(); ++s) {
    std::int64_t next = 0;
    for (std::int64_t c = slots[s].first_chunk; c < slots[s].first_chunk + slots[s].chunks; ++c) {
      CHECK(chunks[c].slot == static_cast<std::int64_t>(s));
      CHECK(chunks[c].begin == next);
      CHECK(chunks[c].end - chunks[c].begin <= kSmallChunk);
      CHECK(chunks[c].end > chunks[c].begin);
      next = chunks[c].end;
    }
    CHECK(next == slots[s].numel);
    total += slots[s].chunks;
  }
  CHECK(total == static_cast<std::int64_t>(chunks.size()));
  CHECK(slots[2].chunks == 0);          // an empty tensor has no chunk
  CHECK(slots[4].chunks == 10);         // ⌈40000/4096⌉
}

TEST_CASE_TEMPLATE("cuda math: sgd_chunk = the reference SGD, bit for bit", T, float, double) {
  for (const bool momentum : {false, true})
    for (const bool nesterov : {false, true})
      for (const bool first : {false, true}) {
        CAPTURE(momentum);
        CAPTURE(nesterov);
        CAPTURE(first);
        OptLists<T> k = make_opt_lists<T>(5), r = k;
        SgdHyper h;
        h.lr = 0.3;
        h.weight_decay = 1e-4;
        h.momentum = momentum ? 0.9 : 0.0;
        h.dampening = 0.1;
        h.nesterov = nesterov;
        optim::SgdArgs args{h.lr, h.weight_decay, h.momentum, h.dampening, h.nesterov, momentum};
        std::vector<optim::Slot> slots = slots_of(k);
        for (auto& s : slots) s.c[0] = first ? 1.0 : 0.0;
        const auto chunks = optim::make_chunks(slots, kSmallChunk);
        over_chunks(chunks, [&](const optim::Chunk& c, std::int64_t t, std::int64_t step) {
          optim::sgd_chunk<T>(slots[c.slot], c, t, step, args);
        });
        for (std::size_t i = 0; i < r.p.size(); ++i)
          cpu::reference::sgd_update<T>(r.p[i].data(), r.g[i].data(), momentum ? r.s1[i].data() : nullptr,
                                        static_cast<std::int64_t>(r.p[i].size()), first, h);
        CHECK(k.p == r.p);
        CHECK(k.s1 == r.s1);
      }
}

TEST_CASE_TEMPLATE("cuda math: the LARS kernels' arithmetic = the reference LARS", T, float, double) {
  for (const bool adapt : {false, true})
    for (const bool nesterov : {false, true}) {
      CAPTURE(adapt);
      CAPTURE(nesterov);
      OptLists<T> k = make_opt_lists<T>(9), r = k;
      LarsHyper h;
      h.lr = 0.3;
      h.weight_decay = 1e-6;
      h.momentum = 0.9;
      h.nesterov = nesterov;
      h.adapt = adapt;
      optim::LarsArgs args{h.lr, h.weight_decay, h.momentum, h.trust_coefficient, h.nesterov, h.adapt};
      std::vector<optim::Slot> slots = slots_of(k);
      const auto chunks = optim::make_chunks(slots, kSmallChunk);
      // launch 1: per-chunk partial norms; launch 2: one ratio per tensor; launch 3: the update
      std::vector<optim::Norms2> partials(chunks.size(), optim::Norms2{0.0, 0.0});
      for (std::size_t c = 0; c < chunks.size(); ++c)
        for (std::int64_t t = 0; t < 256; ++t)
          partials[c] = optim::combine(partials[c],
                                       optim::lars_norms_partial<T>(slots[chunks[c].slot], chunks[c], t, 256, args));
      std::vector<double> ratios(slots.size());
      for (const auto& s : slots) ratios[s.index] = optim::lars_ratio(s, partials.data(), args);
      over_chunks(chunks, [&](const optim::Chunk& c, std::int64_t t, std::int64_t step) {
        optim::lars_chunk<T>(slots[c.slot], c, t, step, args, ratios[slots[c.slot].index]);
      });
      std::vector<double> ratios_ref;
      for (std::size_t i = 0; i < r.p.size(); ++i)
        ratios_ref.push_back(cpu::reference::lars_update<T>(r.p[i].data(), r.g[i].data(), r.s1[i].data(),
                                                            static_cast<std::int64_t>(r.p[i].size()), h));
      CHECK(rel_error(ratios, ratios_ref) <= 1e-14);  // norms summed in another order
      CHECK(ratios[2] == 1.0);                        // the empty tensor
      // η·r differs from the reference's in its last bit at most: judged against each tensor's
      // scale (p = p − v cancels near 0)
      for (std::size_t i = 0; i < r.p.size(); ++i) {
        CHECK(rel_error(as_double(k.p[i]), as_double(r.p[i]), 1.0) <= tol<T>());
        CHECK(rel_error(as_double(k.s1[i]), as_double(r.s1[i]), 1.0) <= tol<T>());
      }
    }
}

TEST_CASE_TEMPLATE("cuda math: adamw_chunk = the reference AdamW, bit for bit", T, float, double) {
  for (const double step : {1.0, 7.0}) {
    CAPTURE(step);
    OptLists<T> k = make_opt_lists<T>(13), r = k;
    AdamWHyper h;
    h.lr = 1e-2;
    h.weight_decay = 0.05;
    optim::AdamWArgs args{h.beta1, h.beta2, h.eps};
    std::vector<optim::Slot> slots = slots_of(k);
    for (auto& s : slots) optim::adamw_scalars(h.lr, h.weight_decay, h.beta1, h.beta2, step, s.c);
    const auto chunks = optim::make_chunks(slots, kSmallChunk);
    over_chunks(chunks, [&](const optim::Chunk& c, std::int64_t t, std::int64_t st) {
      optim::adamw_chunk<T>(slots[c.slot], c, t, st, args);
    });
    for (std::size_t i = 0; i < r.p.size(); ++i)
      cpu::reference::adamw_update<T>(r.p[i].data(), r.g[i].data(), r.s1[i].data(), r.s2[i].data(),
                                      static_cast<std::int64_t>(r.p[i].size()), step, h);
    CHECK(k.p == r.p);
    CHECK(k.s1 == r.s1);
    CHECK(k.s2 == r.s2);
  }
}
