// test_backend_parity.cpp — the backend-parity harness (issue 11 §1): one table with a row per
// Backend call (shapes, strides and views, broadcast cases, dtypes, tolerance), every row run
//   1. on the CPU with the naive reference kernels (set_reference_kernels): the clean result;
//   2. on the CPU, reference and fast kernels, with every freshly allocated tensor pre-filled
//      with NaN and then with large finite garbage (dlib-style: kernels assign their outputs,
//      never accumulate into them or read them unless documented);
//   3. with CUDA present (cuda_available()), on the CUDA backend, inputs copied over with
//      copy_from_host and results back with copy_to_host; without, one line says so.
// and compared output by output. Error per output tensor: max_i |out_i − ref_i| /
// max(|ref_i|, floor · max_j |ref_j|); a NaN where the reference has none (or the reverse) is
// a failure. `floor` = 1e-6 makes the measure elementwise-relative (elementwise ops), 1 makes
// it relative to the tensor's scale (sums, GEMMs, convolutions: near-zero entries of a large
// tensor are judged against its scale). Each family prints its worst error.
//
// Adding a row: one `add(family, name, tolerance, run)` call, where run(Ctx&) builds its
// inputs with the context's deterministic generator (ctx.in, ctx.pos, ctx.index, ...),
// calls ctx.be's method and returns the outputs to compare. The last test case checks that
// every Backend method appears in some row (kMethods): a new Backend method needs a row.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_isa.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

// ---- tolerances ------------------------------------------------------------------------
struct Tol {
  double f32, f64;     // the largest error accepted per dtype
  double floor = 1.0;  // see the header: 1e-6 elementwise, 1 scaled by the tensor's magnitude
};
constexpr Tol kExact{0.0, 0.0, 1e-6};
constexpr Tol kElementwise{1e-6, 1e-12, 1e-6};
constexpr Tol kSums{1e-5, 1e-12, 1.0};
constexpr Tol kConv{2e-5, 1e-12, 1.0};
constexpr Tol kRows{2e-5, 1e-12, 1e-6};  // contrastive rows: fast_exp vs std::exp, f32 exponents
// CUDA rows accept this multiple of the CPU tolerance (other summation orders, other exp/log).
constexpr double kCudaSlack = 10.0;

// ---- moving tensors between the host and a device (the one way bytes cross: backend.h) ---
Tensor to_device(const Tensor& t, Device d) {
  if (!t.defined() || d == Device::cpu()) return t;
  const Tensor c = t.contiguous();
  Tensor r = Tensor::empty(c.shape(), c.dtype(), d);
  backend_for(d).copy_from_host(c.raw_data(), r);
  return r;
}
Tensor to_host(const Tensor& t) {
  if (!t.defined()) return t;
  if (t.device() == Device::cpu()) return t.contiguous();
  const Tensor c = t.contiguous();
  Tensor h = Tensor::empty(c.shape(), c.dtype());
  backend_for(t).copy_to_host(c, h.raw_data());
  return h;
}

// ---- the context a row runs in ------------------------------------------------------------
struct Ctx {
  Backend& be;
  Device dev;
  DType dt;
  Generator gen;
  Ctx(Backend& b, Device d, DType t, std::uint64_t seed) : be(b), dev(d), dt(t), gen(seed) {}
  // randn · scale + shift in dt, on the device
  Tensor in(const Shape& s, double scale = 1.0, double shift = 0.0) {
    Tensor h = Tensor::randn(s, gen, DType::f64);
    std::vector<double> v = h.to_vector<double>();
    for (double& x : v) x = x * scale + shift;
    return to_device(Tensor::from_vector(v, s).to(dt), dev);
  }
  // |randn| + 0.1: inputs of log, sqrt, pow, reciprocal, variances
  Tensor pos(const Shape& s) {
    std::vector<double> v = Tensor::randn(s, gen, DType::f64).to_vector<double>();
    for (double& x : v) x = std::abs(x) + 0.1;
    return to_device(Tensor::from_vector(v, s).to(dt), dev);
  }
  // ⌊2·randn⌉: small integers (comparisons with ties)
  Tensor ints(const Shape& s) {
    std::vector<double> v = Tensor::randn(s, gen, DType::f64).to_vector<double>();
    for (double& x : v) x = std::round(2.0 * x);
    return to_device(Tensor::from_vector(v, s).to(dt), dev);
  }
  Tensor host(const std::vector<double>& v, const Shape& s, DType t) {
    return to_device(Tensor::from_vector(v, s).to(t), dev);
  }
  Tensor index(const std::vector<std::int64_t>& v, const Shape& s) { return to_device(Tensor::from_vector(v, s), dev); }
  Tensor out(const Shape& s) { return Tensor::empty(s, dt, dev); }
  Tensor out(const Shape& s, DType t) { return Tensor::empty(s, t, dev); }
};

// Views without copies (any device): axes d0 and d1 swapped; every second entry of axis d.
Tensor tr(const Tensor& x, int d0, int d1) {
  Shape s = x.shape();
  Strides st = x.strides();
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  return x.as_strided(s, st, x.offset());
}
Tensor every2(const Tensor& x, int d) {
  Shape s = x.shape();
  Strides st = x.strides();
  s[d] = (s[d] + 1) / 2;
  st[d] *= 2;
  return x.as_strided(s, st, x.offset());
}
// A transposed-storage tensor of shape s: in(s reversed in the last two axes), transposed back.
Tensor in_t(Ctx& c, Shape s) {
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  return tr(c.in(s), static_cast<int>(s.size()) - 1, static_cast<int>(s.size()) - 2);
}

using Outputs = std::vector<Tensor>;
using RunFn = std::function<Outputs(Ctx&)>;

struct Row {
  std::string family;  // the test case that runs it
  std::string method;  // the Backend method it exercises (for the coverage check)
  std::string name;
  Tol tol;
  RunFn run;
  std::vector<DType> dtypes{DType::f32, DType::f64};
};

std::vector<Row>& table() {
  static std::vector<Row> rows;
  return rows;
}
void add(const std::string& family, const std::string& method, const std::string& name, Tol tol, RunFn run,
         std::vector<DType> dtypes = {DType::f32, DType::f64}) {
  table().push_back({family, method, name, tol, std::move(run), std::move(dtypes)});
}

// ---- comparing ----------------------------------------------------------------------------
double error_of(const Tensor& ref_t, const Tensor& out_t, double floor) {
  REQUIRE(ref_t.shape() == out_t.shape());
  const auto a = ref_t.to_vector<double>(), b = out_t.to_vector<double>();
  double mag = 0.0;
  for (double v : a)
    if (std::isfinite(v)) mag = std::max(mag, std::abs(v));
  double err = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i])) continue;
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    const double base = std::max({std::abs(a[i]), floor * mag, 1e-300});
    err = std::max(err, std::abs(a[i] - b[i]) / base);
  }
  return err;
}

std::uint64_t seed_of(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

Outputs run_row(const Row& r, Device dev, DType dt) {
  Ctx c(backend_for(dev), dev, dt, seed_of(r.name));
  Outputs out = r.run(c);
  for (auto& t : out)
    if (t.defined()) t = to_host(t).clone();
  return out;
}

void say_cuda_skipped_once() {
  static bool said = false;
  if (!said && !cuda_available()) {
    std::printf("backend parity: CUDA rows skipped (no CUDA backend or no GPU in this build/machine)\n");
    said = true;
  }
}

// Runs every row of `family`; returns the number of rows run.
int run_family(const std::string& family) {
  say_cuda_skipped_once();
  double worst = 0.0;
  int n = 0;
  for (const Row& r : table()) {
    if (r.family != family) continue;
    ++n;
    for (DType dt : r.dtypes) {
      const double tol = dt == DType::f32 ? r.tol.f32 : r.tol.f64;
      Outputs ref;
      {
        ReferenceKernelsGuard g(true);
        ref = run_row(r, Device::cpu(), dt);
      }
      auto compare = [&](const Outputs& out, const char* how, double limit) {
        REQUIRE(out.size() == ref.size());
        for (size_t i = 0; i < ref.size(); ++i) {
          if (!ref[i].defined()) continue;
          const double e = error_of(ref[i], out[i], r.tol.floor);
          worst = std::max(worst, e);
          INFO(r.method, ": ", r.name, " [", dtype_name(dt), ", ", how, "] output ", i, " shape ",
               shape_str(ref[i].shape()), " error ", e, " (tolerance ", limit, ")");
          CHECK(e <= limit);
        }
      };
      for (bool reference : {true, false})
        for (cpu::Poison poison : {cpu::Poison::nan, cpu::Poison::garbage}) {
          Outputs out;
          {
            ReferenceKernelsGuard g(reference);
            cpu::PoisonAllocationsGuard p(poison);
            out = run_row(r, Device::cpu(), dt);
          }
          const std::string how = std::string(reference ? "cpu reference, " : "cpu fast, ") + cpu::poison_name(poison);
          compare(out, how.c_str(), tol);
        }
      if (cuda_available()) compare(run_row(r, Device::cuda(0), dt), "cuda", std::max(tol, 1e-7) * kCudaSlack);
    }
  }
  std::printf("backend parity %-22s %4d rows, worst error %.3e\n", family.c_str(), n, worst);
  return n;
}

// ---- the table ----------------------------------------------------------------------------
std::string sh(const Shape& s) { return shape_str(s); }

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias;
};
Shape conv_out(const ConvCase& c) {
  const auto o = [](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t pad, std::int64_t dil) {
    return (in + 2 * pad - dil * (k - 1) - 1) / s + 1;
  };
  return {c.x[0], c.w[0], o(c.x[2], c.w[2], c.p.stride_h, c.p.pad_h, c.p.dilation_h),
          o(c.x[3], c.w[3], c.p.stride_w, c.p.pad_w, c.p.dilation_w)};
}
Shape pool_out(const Shape& x, const Pool2dParams& p) {
  return {x[0], x[1], (x[2] + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1,
          (x[3] + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1};
}

// S = Z̄Z̄ᵀ for M random unit rows of width D (f64 on the host, then dt on the device).
Tensor similarities(Ctx& c, std::int64_t M, std::int64_t D) {
  std::vector<double> z = Tensor::randn({M, D}, c.gen, DType::f64).to_vector<double>();
  for (std::int64_t i = 0; i < M; ++i) {
    double n = 0;
    for (std::int64_t d = 0; d < D; ++d) n += z[i * D + d] * z[i * D + d];
    for (std::int64_t d = 0; d < D; ++d) z[i * D + d] /= std::sqrt(n);
  }
  std::vector<double> s(static_cast<size_t>(M * M));
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t k = 0; k < M; ++k) {
      double v = 0;
      for (std::int64_t d = 0; d < D; ++d) v += z[i * D + d] * z[k * D + d];
      s[i * M + k] = v;
    }
  return c.host(s, {M, M}, c.dt);
}

void build_table() {
  if (!table().empty()) return;

  // ---- copy, fill, host transfers
  for (Shape s : {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 33}}) {
    add("copy", "copy", "contiguous " + sh(s), kExact, [s](Ctx& c) {
      Tensor o = c.out(s);
      c.be.copy(c.in(s), o);
      return Outputs{o};
    });
    add("copy", "copy_from_host", sh(s), kExact, [s](Ctx& c) {
      std::vector<double> v = Tensor::randn(s, c.gen, DType::f64).to_vector<double>();
      const Tensor h = Tensor::from_vector(v, s).to(c.dt);
      Tensor o = c.out(s);
      c.be.copy_from_host(h.raw_data(), o);
      return Outputs{o};
    });
    add("copy", "copy_to_host", sh(s), kExact, [s](Ctx& c) {
      const Tensor x = c.in(s);
      Tensor h = Tensor::empty(s, c.dt);
      c.be.copy_to_host(x, h.raw_data());
      return Outputs{h};
    });
    add("copy", "fill", sh(s), kExact, [s](Ctx& c) {
      Tensor o = c.out(s);
      c.be.fill(o, -2.5);
      return Outputs{o};
    });
  }
  add("copy", "copy", "broadcast (3,1) → (3,5) and () → (4,6)", kExact, [](Ctx& c) {
    Tensor a = c.out({3, 5}), b = c.out({4, 6});
    c.be.copy(c.in({3, 1}), a);
    c.be.copy(c.in({}), b);
    return Outputs{a, b};
  });
  add("copy", "copy", "transposed source (33,17)ᵀ, every-2nd-column source", kExact, [](Ctx& c) {
    Tensor a = c.out({17, 33}), b = c.out({9, 8});
    c.be.copy(tr(c.in({33, 17}), 0, 1), a);
    c.be.copy(every2(c.in({9, 15}), 1), b);
    return Outputs{a, b};
  });
  add("copy", "copy", "strided destination (transposed view)", kExact, [](Ctx& c) {
    Tensor o = c.out({20, 30});
    c.be.copy(c.in({30, 20}), tr(o, 0, 1));
    return Outputs{o};
  });
  add("copy", "copy", "dtype conversion f32 ↔ f64 and to/from i64", kExact, [](Ctx& c) {
    const DType other = c.dt == DType::f32 ? DType::f64 : DType::f32;
    Tensor a = c.out({5, 7}, other), i = c.out({5, 7}, DType::i64), b = c.out({5, 7});
    const Tensor x = c.in({5, 7}, 10.0);
    c.be.copy(x, a);
    c.be.copy(x, i);
    c.be.copy(i, b);
    return Outputs{a, i, b};
  });
  add("copy", "fill", "strided view of a filled tensor", kExact, [](Ctx& c) {
    Tensor o = c.out({6, 10});
    c.be.fill(o, 1.0);
    c.be.fill(every2(tr(o, 0, 1), 0), 7.0);
    return Outputs{o};
  });

  // ---- unary
  const std::vector<std::pair<UnaryOp, UnaryParams>> any_x = {
      {UnaryOp::neg, {}},     {UnaryOp::exp, {}},        {UnaryOp::abs, {}},  {UnaryOp::relu, {}},
      {UnaryOp::sigmoid, {}}, {UnaryOp::tanh, {}},       {UnaryOp::sign, {}}, {UnaryOp::square, {}},
      {UnaryOp::clamp, {-0.3, 0.4}}, {UnaryOp::step, {0.1, 0.0}}, {UnaryOp::affine, {1.5, -0.25}}};
  const std::vector<std::pair<UnaryOp, UnaryParams>> pos_x = {
      {UnaryOp::log, {}}, {UnaryOp::sqrt, {}}, {UnaryOp::reciprocal, {}}, {UnaryOp::pow_scalar, {1.7, 0.0}}};
  for (Shape s : {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 33}, Shape{257, 129}}) {
    for (bool positive : {false, true})
      for (const auto& [op, prm] : positive ? pos_x : any_x) {
        const UnaryOp o = op;
        const UnaryParams p = prm;
        add("unary", "unary", std::string(unary_name(o)) + " " + sh(s), kElementwise, [s, o, p, positive](Ctx& c) {
          const Tensor x = positive ? c.pos(s) : c.in(s);
          Tensor y = c.out(s);
          c.be.unary(o, x, y, p);
          Outputs out{y};
          if (s.size() >= 2) {  // the transposed view
            const Tensor xt = tr(x, 0, 1);
            Tensor yt = c.out(xt.shape());
            c.be.unary(o, xt, yt, p);
            out.push_back(yt);
          }
          return out;
        });
      }
  }

  // ---- binary, where
  struct BCase { Shape a, b, out; };
  for (auto bc : {BCase{{5}, {5}, {5}}, BCase{{3, 4}, {4}, {3, 4}}, BCase{{3, 1}, {1, 7}, {3, 7}},
                  BCase{{2, 3, 5}, {3, 1}, {2, 3, 5}}, BCase{{1, 1}, {9, 11}, {9, 11}},
                  BCase{{300, 200}, {200}, {300, 200}}, BCase{{300, 200}, {300, 1}, {300, 200}},
                  BCase{{}, {4, 3}, {4, 3}}}) {
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum,
                        BinaryOp::minimum, BinaryOp::pow, BinaryOp::eq, BinaryOp::ne, BinaryOp::gt, BinaryOp::ge,
                        BinaryOp::lt, BinaryOp::le}) {
      add("binary", "binary", std::string(binary_name(op)) + " " + sh(bc.a) + " ⊙ " + sh(bc.b), kElementwise,
          [bc, op](Ctx& c) {
            const bool positive = op == BinaryOp::pow || op == BinaryOp::div;
            const bool compare = op >= BinaryOp::eq;  // small integers: many equal pairs
            const Tensor a = positive ? c.pos(bc.a) : compare ? c.ints(bc.a) : c.in(bc.a);
            const Tensor b = positive ? c.pos(bc.b) : compare ? c.ints(bc.b) : c.in(bc.b);
            Tensor o = c.out(bc.out);
            c.be.binary(op, a, b, o);
            return Outputs{o};
          });
    }
  }
  add("binary", "binary", "add: transposed ⊕ every-2nd-column views", kElementwise, [](Ctx& c) {
    Tensor o = c.out({48, 64});
    c.be.binary(BinaryOp::add, tr(c.in({64, 48}), 0, 1), every2(c.in({48, 128}), 1), o);
    return Outputs{o};
  });
  add("binary", "binary", "in place: out aliases a (add, mul on a view)", kElementwise, [](Ctx& c) {
    Tensor y = c.out({64, 48});
    c.be.copy(c.in({64, 48}), y);
    c.be.binary(BinaryOp::add, y, c.in({}), y);
    const Tensor v = every2(y, 1);
    c.be.binary(BinaryOp::mul, v, c.in({64, 1}), v);
    return Outputs{y};
  });
  add("binary", "where", "cond (64,48), a (64,48), b () and broadcast cond (1,7)", kElementwise, [](Ctx& c) {
    const Tensor x = c.in({64, 48}), cond = c.out({64, 48});
    c.be.binary(BinaryOp::gt, c.in({64, 48}), c.in({}, 0.0, 0.0), cond);
    Tensor o = c.out({64, 48}), o2 = c.out({3, 7});
    c.be.where(cond, x, c.in({}), o);
    const Tensor cond2 = c.out({1, 7});
    c.be.binary(BinaryOp::lt, c.in({1, 7}), c.in({1, 7}), cond2);
    c.be.where(cond2, c.in({3, 1}), tr(c.in({7, 3}), 0, 1), o2);
    return Outputs{o, o2};
  });

  // ---- reductions, count_non_finite
  for (Shape s : {Shape{1, 1}, Shape{7, 5}, Shape{3, 4, 5}, Shape{2, 33, 17}, Shape{512, 300}}) {
    const int n = static_cast<int>(s.size());
    for (int mask = 1; mask < (1 << n); ++mask) {
      Shape os = s;
      for (int d = 0; d < n; ++d)
        if (mask & (1 << d)) os[d] = 1;
      add("reduce", "reduce", "sum/max/min " + sh(s) + " → " + sh(os), kSums, [s, os](Ctx& c) {
        const Tensor x = c.in(s);
        Tensor a = c.out(os), b = c.out(os), m = c.out(os);
        c.be.reduce(ReduceOp::sum, x, a);
        c.be.reduce(ReduceOp::max, x, b);
        c.be.reduce(ReduceOp::min, x, m);
        Outputs out{a, b, m};
        // over the transposed view (out shape transposed too)
        const Tensor xt = tr(x, 0, 1), ot = tr(c.out(os), 0, 1);
        Tensor t = c.out(ot.shape());
        c.be.reduce(ReduceOp::min, xt, t);
        out.push_back(t);
        return out;
      });
    }
  }
  add("reduce", "count_non_finite", "NaN, ±inf in contiguous, strided, i64 and undefined tensors", kExact,
      [](Ctx& c) {
        std::vector<double> v = Tensor::randn({40, 30}, c.gen, DType::f64).to_vector<double>();
        v[3] = NAN;
        v[100] = INFINITY;
        v[1199] = -INFINITY;
        v[31] = NAN;  // row 1, column 1: skipped by the every-2nd-column view
        const Tensor x = c.host(v, {40, 30}, c.dt);
        const std::int64_t n1 = c.be.count_non_finite({x, Tensor(), c.index({1, 2, 3}, {3}), c.in({5})});
        const std::int64_t n2 = c.be.count_non_finite({every2(x, 1), tr(x, 0, 1)});
        const std::int64_t n3 = c.be.count_non_finite({});
        return Outputs{Tensor::from_vector(std::vector<double>{double(n1), double(n2), double(n3)}, {3})};
      });

  // ---- matmul
  struct MCase { std::int64_t b, m, k, n; };
  for (auto mc : {MCase{1, 1, 1, 1}, MCase{1, 7, 5, 3}, MCase{1, 64, 33, 17}, MCase{3, 9, 13, 11},
                  MCase{1, 128, 256, 64}, MCase{2, 1, 40, 1}}) {
    const std::string dims = "B,M,K,N = " + std::to_string(mc.b) + "," + std::to_string(mc.m) + "," +
                             std::to_string(mc.k) + "," + std::to_string(mc.n);
    add("matmul", "matmul", dims + ": plain, Aᵀ, Bᵀ, strided A", kSums, [mc](Ctx& c) {
      const Shape as{mc.b, mc.m, mc.k}, bs{mc.b, mc.k, mc.n}, os{mc.b, mc.m, mc.n};
      const Tensor a = c.in(as), b = c.in(bs);
      Tensor o1 = c.out(os), o2 = c.out(os), o3 = c.out(os), o4 = c.out(os);
      c.be.matmul(a, b, o1, 1.0, 0.0);
      c.be.matmul(in_t(c, as), b, o2, 1.0, 0.0);
      c.be.matmul(a, in_t(c, bs), o3, 1.0, 0.0);
      c.be.matmul(every2(c.in({mc.b, mc.m, 2 * mc.k}), 2), b, o4, 1.0, 0.0);  // inner stride 2
      return Outputs{o1, o2, o3, o4};
    });
    add("matmul", "matmul", dims + ": alpha 0.5, beta 0.7 (accumulates into out)", kSums, [mc](Ctx& c) {
      Tensor o = c.out({mc.b, mc.m, mc.n});
      c.be.copy(c.in({mc.b, mc.m, mc.n}), o);
      c.be.matmul(c.in({mc.b, mc.m, mc.k}), c.in({mc.b, mc.k, mc.n}), o, 0.5, 0.7);
      return Outputs{o};
    });
  }

  // ---- softmax
  for (Shape s : {Shape{1, 1}, Shape{5, 7}, Shape{3, 4, 129}, Shape{512, 512}}) {
    add("softmax", "softmax", "softmax, log-softmax " + sh(s) + " and its transposed view", kSums, [s](Ctx& c) {
      const Tensor x = c.in(s, 4.0);
      Tensor a = c.out(s), b = c.out(s);
      c.be.softmax(x, a, false);
      c.be.softmax(x, b, true);
      const Tensor xt = tr(x, 0, static_cast<int>(s.size()) - 1);
      Tensor t = c.out(xt.shape());
      c.be.softmax(xt, t, false);
      return Outputs{a, b, t};
    });
  }

  // ---- index ops
  add("index", "index_select", "dims 0 and 1, repeated indices, transposed source", kExact, [](Ctx& c) {
    const Tensor x = c.in({6, 9});
    const Tensor i0 = c.index({5, 0, 0, 3}, {4}), i1 = c.index({8, 1, 1, 0, 7}, {5});
    Tensor a = c.out({4, 9}), b = c.out({6, 5}), t = c.out({4, 6});
    c.be.index_select(x, 0, i0, a);
    c.be.index_select(x, 1, i1, b);
    c.be.index_select(tr(x, 0, 1), 0, i0, t);
    return Outputs{a, b, t};
  });
  add("index", "index_add", "dims 0 and 1, repeated indices (accumulate)", kSums, [](Ctx& c) {
    Tensor a = c.out({6, 9}), b = c.out({6, 9});
    c.be.copy(c.in({6, 9}), a);
    c.be.copy(c.in({6, 9}), b);
    c.be.index_add(a, 0, c.index({5, 0, 0, 3}, {4}), c.in({4, 9}));
    c.be.index_add(b, 1, c.index({8, 1, 1, 0, 7}, {5}), c.in({6, 5}));
    return Outputs{a, b};
  });
  add("index", "gather", "dims 0 and 1", kExact, [](Ctx& c) {
    const Tensor x = c.in({5, 7});
    Tensor a = c.out({3, 7}), b = c.out({5, 2});
    std::vector<std::int64_t> i0, i1;
    for (int j = 0; j < 21; ++j) i0.push_back((j * 3) % 5);
    for (int j = 0; j < 10; ++j) i1.push_back((j * 4) % 7);
    c.be.gather(x, 0, c.index(i0, {3, 7}), a);
    c.be.gather(x, 1, c.index(i1, {5, 2}), b);
    return Outputs{a, b};
  });
  add("index", "scatter_add", "dims 0 and 1, colliding indices (accumulate)", kSums, [](Ctx& c) {
    Tensor a = c.out({5, 7}), b = c.out({5, 7});
    c.be.copy(c.in({5, 7}), a);
    c.be.copy(c.in({5, 7}), b);
    std::vector<std::int64_t> i0, i1;
    for (int j = 0; j < 21; ++j) i0.push_back((j * 3) % 5);
    for (int j = 0; j < 10; ++j) i1.push_back((j * 4) % 7);
    c.be.scatter_add(a, 0, c.index(i0, {3, 7}), c.in({3, 7}));
    c.be.scatter_add(b, 1, c.index(i1, {5, 2}), c.in({5, 2}));
    return Outputs{a, b};
  });

  // ---- convolution
  const std::vector<ConvCase> convs = {
      {{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1, 1, 1}, false},           // blocked channels, ResNet 3×3
      {{2, 16, 9, 9}, {32, 16, 3, 3}, {2, 2, 1, 1}, false},           // stride 2, odd size
      {{2, 16, 8, 8}, {32, 16, 1, 1}, {2, 2, 0, 0}, false},           // 1×1 stride-2 downsample
      {{1, 3, 11, 13}, {16, 3, 3, 3}, {1, 1, 1, 1}, true},            // first layer (3 channels), batch 1
      {{2, 3, 15, 15}, {8, 3, 7, 7}, {2, 2, 3, 3}, false},            // ImageNet stem, odd size
      {{3, 5, 7, 6}, {7, 5, 3, 2}, {1, 2, 2, 0}, true},               // odd channels, asymmetric kernel
      {{2, 8, 9, 9}, {8, 8, 3, 3}, {1, 1, 2, 2, 2, 2}, false},        // dilation 2
      {{2, 8, 8, 8}, {12, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},     // groups 2
      {{2, 16, 7, 7}, {16, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 16}, false},  // depthwise
      {{1, 4, 8, 7}, {6, 4, 3, 3}, {3, 3, 1, 1}, true},               // stride 3, floor drops a row
  };
  for (const ConvCase& cc : convs) {
    const std::string nm = "x " + sh(cc.x) + " w " + sh(cc.w) + (cc.bias ? " bias" : "");
    add("conv2d", "conv2d_forward", nm, kConv, [cc](Ctx& c) {
      Tensor y = c.out(conv_out(cc));
      c.be.conv2d_forward(c.in(cc.x), c.in(cc.w, 0.3), cc.bias ? c.in({cc.w[0]}) : Tensor(), y, cc.p);
      return Outputs{y};
    });
    add("conv2d", "conv2d_backward_data", nm, kConv, [cc](Ctx& c) {
      Tensor dx = c.out(cc.x);
      c.be.conv2d_backward_data(c.in(conv_out(cc)), c.in(cc.w, 0.3), dx, cc.p);
      return Outputs{dx};
    });
    add("conv2d", "conv2d_backward_weight", nm, kConv, [cc](Ctx& c) {
      Tensor dw = c.out(cc.w), db = cc.bias ? c.out({cc.w[0]}) : Tensor();
      c.be.conv2d_backward_weight(c.in(cc.x), c.in(conv_out(cc)), dw, db, cc.p);
      return Outputs{dw, db};
    });
    add("conv2d", "conv2d_backward", nm + " (dx, dw, db together)", kConv, [cc](Ctx& c) {
      Tensor dx = c.out(cc.x), dw = c.out(cc.w), db = cc.bias ? c.out({cc.w[0]}) : Tensor();
      c.be.conv2d_backward(c.in(conv_out(cc)), c.in(cc.x), c.in(cc.w, 0.3), dx, dw, db, cc.p);
      return Outputs{dx, dw, db};
    });
  }

  // ---- batch norm (run for both fast CPU implementations by the test case)
  for (Shape s : {Shape{4, 16, 8, 8}, Shape{2, 3, 5, 7}, Shape{1, 8, 3, 3}, Shape{16, 32}, Shape{5, 3},
                  Shape{3, 4, 17, 19}}) {
    // the last shape sits far from zero (mean 100, std 2): the statistics must not lose the
    // variance to cancellation
    const double shift = s == Shape{3, 4, 17, 19} ? 100.0 : 0.5;
    for (bool affine : {true, false}) {
      const std::string nm = sh(s) + (affine ? " affine" : "");
      add("batch_norm", "batch_norm_forward_training", nm, kConv, [s, shift, affine](Ctx& c) {
        const std::int64_t C = s[1];
        Tensor y = c.out(s), m = c.out({C}), v = c.out({C});
        c.be.batch_norm_forward_training(c.in(s, 2.0, shift), affine ? c.in({C}) : Tensor(),
                                         affine ? c.in({C}) : Tensor(), 1e-5, y, m, v);
        return Outputs{y, m, v};
      });
      add("batch_norm", "batch_norm_forward_inference", nm, kConv, [s, shift, affine](Ctx& c) {
        const std::int64_t C = s[1];
        Tensor y = c.out(s);
        const Tensor x = c.in(s, 2.0, shift), g = affine ? c.in({C}) : Tensor(), b = affine ? c.in({C}) : Tensor();
        c.be.batch_norm_forward_inference(x, g, b, c.in({C}, 0.2, shift), c.pos({C}), 1e-5, y);
        return Outputs{y};
      });
      for (bool batch_stats : {true, false})
        add("batch_norm", "batch_norm_backward", nm + (batch_stats ? " batch statistics" : " running statistics"),
            kConv, [s, shift, affine, batch_stats](Ctx& c) {
              const std::int64_t C = s[1];
              const Tensor x = c.in(s, 2.0, shift), g = affine ? c.in({C}) : Tensor();
              Tensor mean = c.out({C}), var = c.out({C}), y = c.out(s);
              if (batch_stats) {
                c.be.batch_norm_forward_training(x, g, affine ? c.in({C}) : Tensor(), 1e-5, y, mean, var);
              } else {
                mean = c.in({C}, 0.2, shift);
                var = c.pos({C});
              }
              Tensor dx = c.out(s), dg = affine ? c.out({C}) : Tensor(), db = affine ? c.out({C}) : Tensor();
              c.be.batch_norm_backward(c.in(s), x, g, mean, var, 1e-5, batch_stats, dx, dg, db);
              return Outputs{dx, dg, db};
            });
    }
  }

  // ---- pooling
  for (const auto& [s, p] : std::vector<std::pair<Shape, Pool2dParams>>{
           {{2, 16, 16, 16}, {3, 3, 2, 2, 1, 1}},  // ResNet stem pool
           {{1, 3, 7, 9}, {2, 2, 2, 2}},           // odd sizes, batch 1
           {{2, 5, 9, 8}, {3, 2, 1, 2, 1, 1}},     // overlapping, asymmetric
           {{2, 4, 6, 6}, {4, 4, 3, 3, 2, 2}}}) {
    const Shape xs = s;
    const Pool2dParams pp = p;
    add("pooling", "max_pool2d_forward", sh(xs) + " (y, and dx through the workspace)", kExact, [xs, pp](Ctx& c) {
      const Shape ys = pool_out(xs, pp);
      Tensor y = c.out(ys), dx = c.out(xs);
      const Tensor ws = c.be.max_pool2d_forward(c.in(xs), y, pp);
      c.be.max_pool2d_backward(c.in(ys), ws, dx, pp);
      return Outputs{y, dx};
    }, {DType::f32, DType::f64});
    table().back().tol = {1e-6, 1e-13, 1.0};  // dx sums overlapping windows in another order
  }
  for (const auto& [s, oh, ow] : std::vector<std::tuple<Shape, std::int64_t, std::int64_t>>{
           {{4, 64, 4, 4}, 1, 1}, {{2, 16, 8, 6}, 2, 3}, {{1, 3, 7, 9}, 1, 1}, {{2, 5, 7, 9}, 3, 4}}) {
    const Shape xs = s;
    const Shape ys{s[0], s[1], oh, ow};
    add("pooling", "adaptive_avg_pool2d_forward", sh(xs) + " → " + sh(ys), Tol{1e-6, 1e-13, 1.0}, [xs, ys](Ctx& c) {
      Tensor y = c.out(ys);
      c.be.adaptive_avg_pool2d_forward(c.in(xs), y);
      return Outputs{y};
    });
    add("pooling", "adaptive_avg_pool2d_backward", sh(ys) + " → " + sh(xs), Tol{1e-6, 1e-13, 1.0}, [xs, ys](Ctx& c) {
      Tensor dx = c.out(xs);
      c.be.adaptive_avg_pool2d_backward(c.in(ys), dx);
      return Outputs{dx};
    });
  }

  // ---- contrastive row passes
  struct RCase { std::int64_t N, V, D; int omega; double wp; std::int64_t tile; };  // omega: 0 none, 1 (M,), 2 (M, M)
  for (auto rc : {RCase{2, 2, 3, 0, 0.0, 3}, RCase{3, 3, 7, 1, 0.7, 4}, RCase{17, 2, 32, 0, 0.0, 16},
                  RCase{17, 3, 8, 2, 0.7, 20}, RCase{64, 2, 32, 0, 0.0, 48}, RCase{20, 4, 16, 2, 0.0, 33},
                  RCase{40, 2, 16, 1, 1.0, 80}}) {
    const std::string nm = "N " + std::to_string(rc.N) + " V " + std::to_string(rc.V) + " D " +
                           std::to_string(rc.D) + (rc.omega == 0 ? "" : rc.omega == 1 ? " ω (M,)" : " ω (M,M)") +
                           " w_p " + std::to_string(rc.wp).substr(0, 3);
    auto params = [rc] {
      Backend::ContrastiveRowParams p;
      p.N = rc.N;
      p.V = rc.V;
      p.inv_tau = 1.0 / 0.2;
      p.positive_weight = rc.wp;
      p.attract = 0.9;
      p.repel = 1.1;
      return p;
    };
    auto inputs = [rc](Ctx& c, Tensor& s, Tensor& omega, Tensor& a) {
      const std::int64_t M = rc.N * rc.V;
      s = similarities(c, M, rc.D);
      std::vector<double> w = Tensor::rand({rc.omega == 2 ? M * M : M}, c.gen, DType::f64).to_vector<double>();
      for (double& x : w) x = x < 0.1 ? 0.0 : x * 2;  // some ω = 0
      if (rc.omega) omega = c.host(w, rc.omega == 2 ? Shape{M, M} : Shape{M}, c.dt);
      std::vector<double> av = Tensor::rand({M}, c.gen, DType::f64).to_vector<double>();
      double t = 0;
      for (double& x : av) t += (x += 0.5);
      for (double& x : av) x /= t;
      a = c.host(av, {M}, DType::f64);
    };
    add("contrastive", "contrastive_row_pass", nm, kRows, [rc, params, inputs](Ctx& c) {
      Tensor s, omega, a;
      inputs(c, s, omega, a);
      const std::int64_t M = rc.N * rc.V;
      Tensor stats = c.out({M, Backend::row_stat_count}, DType::f64);
      c.be.contrastive_row_pass(s, omega, a, params(), stats);
      return Outputs{s, stats};
    });
    add("contrastive", "contrastive_tile_forward", nm + " tile " + std::to_string(rc.tile) + " (+ tile_gradient)",
        kRows, [rc, params, inputs](Ctx& c) {
          Tensor s, omega, a;
          inputs(c, s, omega, a);
          const std::int64_t M = rc.N * rc.V, T = rc.tile;
          Tensor state = c.out({M, Backend::tile_state_count}, DType::f64), row_sum = c.out({M}, DType::f64);
          c.be.fill(state, 0.0);
          c.be.fill(state.as_strided({M}, {Backend::tile_state_count}, Backend::tile_max),
                    -std::numeric_limits<double>::infinity());
          c.be.fill(row_sum, 0.0);
          Backend::ContrastiveRowParams p = params();
          Tensor G = c.out({M, M});
          for (int pass = 0; pass < 2; ++pass)
            for (std::int64_t i0 = 0; i0 < M; i0 += T)
              for (std::int64_t k0 = 0; k0 < M; k0 += T) {
                const std::int64_t ni = std::min(T, M - i0), nk = std::min(T, M - k0);
                Tensor tile = c.out({ni, nk});
                c.be.copy(s.as_strided({ni, nk}, {M, 1}, i0 * M + k0), tile);
                p.row0 = i0;
                p.col0 = k0;
                if (pass == 0) {
                  c.be.contrastive_tile_forward(tile, omega, p, state);
                } else {
                  c.be.contrastive_tile_gradient(tile, omega, a, state, p, row_sum);
                  c.be.copy(tile, G.as_strided({ni, nk}, {M, 1}, i0 * M + k0));
                }
              }
          return Outputs{state, G, row_sum};
        });
  }
  for (auto [M, D] : {std::pair<std::int64_t, std::int64_t>{4, 3}, {34, 7}, {128, 32}, {256, 130}}) {
    add("contrastive", "contrastive_normalize_rows", sh({M, D}),
        kElementwise, [M, D](Ctx& c) {
          Tensor z = c.out({M, D}), n = c.out({M}, DType::f64);
          c.be.contrastive_normalize_rows(c.in({M, D}, 3.0), z, n);
          return Outputs{z, n};
        });
    add("contrastive", "contrastive_normalize_backward", sh({M, D}),
        Tol{1e-6, 1e-13, 1e-3}, [M, D](Ctx& c) {
          Tensor z = c.out({M, D}), n = c.out({M}, DType::f64);
          c.be.contrastive_normalize_rows(c.in({M, D}, 3.0), z, n);
          std::vector<double> av(static_cast<size_t>(M), 1.0 / static_cast<double>(M));
          Backend::ContrastiveRowParams p;
          p.N = M / 2;
          p.V = 2;
          p.inv_tau = 2.0;
          p.attract = 0.9;
          Tensor df = c.out({M, D}), norms = c.out({M, 3}, DType::f64);
          c.be.contrastive_normalize_backward(z, c.in({M, D}, 0.01), n, c.host(av, {M}, DType::f64), p, df, norms);
          return Outputs{df, norms};
        });
  }

  // ---- fused optimizer updates: one call over a list (a tensor past the OpenMP grain too);
  // the outputs are the updated parameters and state (and LARS's trust ratios).
  const std::vector<Shape> kParamShapes = {Shape{3}, Shape{17, 5}, Shape{2, 3, 3, 3}, Shape{40000}};
  auto tensors = [kParamShapes](Ctx& c, double scale) {
    std::vector<Tensor> ts;
    for (const Shape& s : kParamShapes) ts.push_back(c.in(s, scale));
    return ts;
  };
  auto concat = [](std::vector<Tensor> a, const std::vector<Tensor>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  for (const bool momentum : {false, true})
    for (const bool nesterov : {false, true})
      for (const bool first : {false, true}) {
        if (!momentum && (nesterov || first)) continue;
        const std::string nm = std::string(momentum ? "momentum 0.9" : "no momentum") + (nesterov ? " nesterov" : "") +
                               (first ? " first step" : "");
        add("optimizer", "sgd_update", nm, kElementwise, [=](Ctx& c) {
          std::vector<Tensor> params = tensors(c, 1.0), grads = tensors(c, 0.1);
          std::vector<Tensor> buffers = momentum ? tensors(c, 0.1) : std::vector<Tensor>{};
          const std::vector<std::uint8_t> first_step(params.size(), first ? 1 : 0);
          SgdHyper h;
          h.lr = 0.3;
          h.weight_decay = 1e-4;
          h.momentum = momentum ? 0.9 : 0.0;
          h.dampening = 0.1;
          h.nesterov = nesterov;
          c.be.sgd_update(params, grads, buffers, first_step, h);
          return concat(params, buffers);
        });
      }
  for (const bool adapt : {false, true})
    for (const bool nesterov : {false, true}) {
      add("optimizer", "lars_update", std::string(adapt ? "trust ratio" : "no adaptation") + (nesterov ? " nesterov" : ""),
          kElementwise, [=](Ctx& c) {
            std::vector<Tensor> params = tensors(c, 1.0), grads = tensors(c, 0.1), buffers = tensors(c, 0.1);
            Tensor ratios = c.out({static_cast<std::int64_t>(params.size())}, DType::f64);
            LarsHyper h;
            h.lr = 0.3;
            h.weight_decay = 1e-6;
            h.momentum = 0.9;
            h.nesterov = nesterov;
            h.adapt = adapt;
            c.be.lars_update(params, grads, buffers, h, ratios);
            std::vector<Tensor> out = concat(params, buffers);
            out.push_back(ratios);
            return out;
          });
    }
  for (const double step : {1.0, 7.0})
    add("optimizer", "adamw_update", "step " + std::to_string(static_cast<int>(step)), kElementwise, [=](Ctx& c) {
      std::vector<Tensor> params = tensors(c, 1.0), grads = tensors(c, 0.1), m = tensors(c, 0.01);
      std::vector<Tensor> v;
      for (const Shape& s : kParamShapes) v.push_back(c.pos(s));
      AdamWHyper h;
      h.lr = 1e-2;
      h.weight_decay = 0.05;
      c.be.adamw_update(params, grads, m, v, std::vector<double>(params.size(), step), h);
      return concat(concat(params, m), v);
    });
}

// Every Backend method; a method without a row fails the coverage test case below.
const char* const kMethods[] = {
    "copy", "fill", "copy_from_host", "copy_to_host", "unary", "binary", "where", "reduce", "count_non_finite",
    "matmul", "softmax", "index_select", "index_add", "gather", "scatter_add", "conv2d_forward",
    "conv2d_backward_data", "conv2d_backward_weight", "conv2d_backward", "batch_norm_forward_training",
    "batch_norm_forward_inference", "batch_norm_backward", "max_pool2d_forward", "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward", "contrastive_row_pass", "contrastive_tile_forward",
    "contrastive_normalize_rows", "contrastive_normalize_backward", "sgd_update", "lars_update", "adamw_update",
    // covered inside other rows: max_pool2d_backward (max_pool2d_forward's row), contrastive_tile_gradient
    // (contrastive_tile_forward's row); allocate/deallocate by every row.
};

}  // namespace

TEST_CASE("backend parity: copy, fill, copy_from_host, copy_to_host") {
  build_table();
  CHECK(run_family("copy") > 0);
}
TEST_CASE("backend parity: unary") {
  build_table();
  CHECK(run_family("unary") > 0);
}
TEST_CASE("backend parity: binary and where, broadcasting, views, in place") {
  build_table();
  CHECK(run_family("binary") > 0);
}
TEST_CASE("backend parity: reduce over every axis subset, count_non_finite") {
  build_table();
  CHECK(run_family("reduce") > 0);
}
TEST_CASE("backend parity: matmul (odd sizes, transposes, batches, alpha/beta)") {
  build_table();
  CHECK(run_family("matmul") > 0);
}
TEST_CASE("backend parity: softmax and log-softmax") {
  build_table();
  CHECK(run_family("softmax") > 0);
}
TEST_CASE("backend parity: index_select, index_add, gather, scatter_add") {
  build_table();
  CHECK(run_family("index") > 0);
}
TEST_CASE("backend parity: conv2d forward, backward data, backward weights and bias") {
  build_table();
  CHECK(run_family("conv2d") > 0);
}
TEST_CASE("backend parity: batch_norm training and eval, forward and backward, both fast CPU implementations") {
  build_table();
  const cpu::BatchNormImpl saved = cpu::batch_norm_impl();
  for (cpu::BatchNormImpl impl : {cpu::BatchNormImpl::openmp, cpu::BatchNormImpl::onednn}) {
    cpu::set_batch_norm_impl(impl);
    INFO((impl == cpu::BatchNormImpl::openmp ? "[openmp]" : "[onednn]"));
    CHECK(run_family("batch_norm") > 0);
  }
  cpu::set_batch_norm_impl(saved);
}
TEST_CASE("backend parity: max_pool2d and adaptive_avg_pool2d") {
  build_table();
  CHECK(run_family("pooling") > 0);
}
TEST_CASE("backend parity: contrastive row passes") {
  build_table();
  CHECK(run_family("contrastive") > 0);
}

TEST_CASE("backend parity: fused optimizer updates (SGD, LARS, AdamW)") {
  build_table();
  CHECK(run_family("optimizer") > 0);
}

TEST_CASE("backend parity: every Backend method has a row") {
  build_table();
  std::set<std::string> covered;
  for (const Row& r : table()) covered.insert(r.method);
  for (const char* m : kMethods) {
    INFO("Backend::", m, " has no row in the parity table");
    CHECK(covered.count(m) == 1);
  }
}

// ---- bf16 convolutions (CPU only; not a reference-vs-fast comparison: the fast kernel reads
// bf16-rounded inputs, so it is checked against the reference on rounded inputs) ------------
namespace {
Generator bf16_gen(4242);
Tensor rnd_f32(Shape s, double scale = 1.0) {
  Tensor t = Tensor::randn(s, bf16_gen, DType::f32);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] *= static_cast<float>(scale);
  return t;
}
// x rounded to the nearest bfloat16 (ties to even), kept in f32: the value a bf16 kernel reads.
Tensor round_to_bf16(const Tensor& t) {
  Tensor r = t.clone();
  float* p = r.data<float>();
  for (std::int64_t i = 0; i < r.numel(); ++i) {
    std::uint32_t u;
    std::memcpy(&u, &p[i], 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(&p[i], &u, 4);
  }
  return r;
}
}  // namespace

TEST_CASE("parity: conv2d in bf16 precision: y and dx equal f32 on bf16-rounded inputs, dw and db stay f32") {
  if (!bf16_supported()) {
    MESSAGE("SKIPPED: this CPU has neither AVX512-BF16 nor AMX-BF16; set_conv_precision(bf16) must refuse");
    CHECK_THROWS_WITH_AS(set_conv_precision(ConvPrecision::bf16), doctest::Contains("AVX512-BF16"), Error);
    return;
  }
  const std::vector<ConvCase> cases = {
      {{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1, 1, 1}, false},        // blocked channels, ResNet 3×3
      {{2, 16, 9, 9}, {32, 16, 3, 3}, {2, 2, 1, 1}, true},         // stride 2, odd size, bias
      {{2, 64, 8, 8}, {64, 64, 3, 3}, {1, 1, 1, 1}, false},        // a ResNet-18 stage-1 layer
      {{1, 3, 11, 13}, {16, 3, 3, 3}, {1, 1, 1, 1}, true},         // first layer (3 channels, plain layout)
      {{2, 8, 8, 8}, {12, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},  // groups 2
  };
  double worst_rounded = 0, least_unrounded = INFINITY, worst_f32 = 0;
  for (const auto& c : cases) {
    const Tensor x = rnd_f32(c.x), w = rnd_f32(c.w, 0.3), b = c.bias ? rnd_f32({c.w[0]}) : Tensor();
    const Tensor dy = rnd_f32(conv_out(c));
    const auto run = [&](const Tensor& xv, const Tensor& wv, const Tensor& dyv) {
      Backend& be = backend_for(Device::cpu());
      Tensor y = Tensor::empty(conv_out(c)), dx = Tensor::empty(c.x), dw = Tensor::empty(c.w);
      Tensor db = c.bias ? Tensor::empty({c.w[0]}) : Tensor();
      be.conv2d_forward(xv, wv, b, y, c.p);
      be.conv2d_backward(dyv, xv, wv, dx, dw, db, c.p);
      return std::vector<Tensor>{y, dx, dw, db};
    };
    std::vector<Tensor> exact, rounded, fast;
    {
      ReferenceKernelsGuard g(true);
      exact = run(x, w, dy);
      rounded = run(round_to_bf16(x), round_to_bf16(w), round_to_bf16(dy));
    }
    {
      ConvPrecisionGuard g(ConvPrecision::bf16);
      fast = run(x, w, dy);
    }
    for (size_t i = 0; i < fast.size(); ++i) {  // outputs: y, dx, dw, db
      if (!fast[i].defined()) continue;
      const double e_rounded = error_of(rounded[i], fast[i], 1.0), e_exact = error_of(exact[i], fast[i], 1.0);
      INFO("conv2d bf16 x ", shape_str(c.x), " w ", shape_str(c.w), " output ", i, ": vs rounded ", e_rounded,
           ", vs unrounded ", e_exact);
      if (i < 2) {  // y, dx: read in bf16
        CHECK(e_rounded <= 2e-5);
        CHECK(e_exact > 1e-4);
        worst_rounded = std::max(worst_rounded, e_rounded);
        least_unrounded = std::min(least_unrounded, e_exact);
      } else {  // dw, db: f32
        CHECK(e_exact <= 2e-5);
        worst_f32 = std::max(worst_f32, e_exact);
      }
    }
  }
  CHECK(conv_precision() == ConvPrecision::f32);  // the guard restored it
  std::printf("parity conv2d bf16: y, dx worst error vs bf16-rounded reference %.3e (tolerance 2e-5), "
              "least vs unrounded %.3e (must exceed 1e-4); dw, db worst vs f32 reference %.3e\n",
              worst_rounded, least_unrounded, worst_f32);
}

namespace {
Tensor as_f64(const Tensor& t) {
  Tensor r = Tensor::empty(t.shape(), DType::f64);
  const std::vector<double> v = t.to_vector<double>();
  std::copy(v.begin(), v.end(), r.data<double>());
  return r;
}
}  // namespace

TEST_CASE("parity: conv2d winograd F(4x4,3x3) equals the float64 reference within float32 rounding; others stay direct") {
  struct WinoCase {
    ConvCase c;
    bool candidate;  // 3×3, stride 1, dilation 1, ungrouped, ≥ 32 channels in and out: winograd is tried
  };
  const std::vector<WinoCase> cases = {
      {{{2, 64, 8, 8}, {64, 64, 3, 3}, {1, 1, 1, 1}, false}, true},     // a ResNet-18 stage-1 layer
      {{{2, 128, 4, 4}, {128, 128, 3, 3}, {1, 1, 1, 1}, false}, true},  // stage 2 at a small size
      {{{1, 512, 4, 4}, {512, 512, 3, 3}, {1, 1, 1, 1}, false}, true},  // stage 4: the longest sums
      {{{3, 32, 9, 7}, {48, 32, 3, 3}, {1, 1, 1, 1}, true}, true},      // partial 4×4 tiles, bias
      {{{2, 16, 8, 8}, {32, 16, 3, 3}, {1, 1, 1, 1}, false}, false},    // 16 input channels: direct (faster there)
      {{{2, 64, 9, 9}, {128, 64, 3, 3}, {2, 2, 1, 1}, false}, false},   // stride 2: direct
      {{{2, 64, 8, 8}, {128, 64, 1, 1}, {1, 1, 0, 0}, false}, false},   // 1×1 shortcut: direct
      {{{2, 3, 11, 13}, {16, 3, 3, 3}, {1, 1, 1, 1}, true}, false},     // 3-channel stem (plain layout): direct
  };
  double worst = 0, worst_direct = 0;
  for (const auto& wc : cases) {
    const ConvCase& c = wc.c;
    const Tensor x = rnd_f32(c.x), w = rnd_f32(c.w, 0.3), b = c.bias ? rnd_f32({c.w[0]}) : Tensor();
    const Tensor dy = rnd_f32(conv_out(c));
    const auto run = [&](const Tensor& xv, const Tensor& wv, const Tensor& bv, const Tensor& dyv) {
      Backend& be = backend_for(Device::cpu());
      const DType t = xv.dtype();
      Tensor y = Tensor::empty(conv_out(c), t), dx = Tensor::empty(c.x, t), dw = Tensor::empty(c.w, t);
      Tensor db = c.bias ? Tensor::empty({c.w[0]}, t) : Tensor();
      be.conv2d_forward(xv, wv, bv, y, c.p);
      be.conv2d_backward(dyv, xv, wv, dx, dw, db, c.p);
      return std::vector<Tensor>{y, dx, dw, db};
    };
    // float64 on the same float32 values: the reference kernels, exact to ~1e-16
    const std::vector<Tensor> exact = run(as_f64(x), as_f64(w), c.bias ? as_f64(b) : Tensor(), as_f64(dy));
    const std::vector<Tensor> direct = run(x, w, b, dy);
    std::vector<Tensor> wino;
    std::string names;
    {
      ConvAlgorithmGuard g(ConvAlgorithm::winograd);
      wino = run(x, w, b, dy);
      names = cpu::conv2d_kernel_names(c.x, c.w, conv_out(c), c.bias, c.p);
    }
    INFO("conv2d x ", shape_str(c.x), " w ", shape_str(c.w), " kernels with winograd on: ", names);
    const bool avx512 = cpu::cpu_isa().os_avx512 && cpu::cpu_isa().avx512f;
    CHECK((names.find("wino") != std::string::npos) == (wc.candidate && avx512));
    for (size_t i = 0; i < wino.size(); ++i) {  // y, dx, dw, db
      if (!wino[i].defined()) continue;
      if (!wc.candidate) {  // not a winograd shape: the very same direct kernels
        CHECK(wino[i].to_vector<float>() == direct[i].to_vector<float>());
        continue;
      }
      const double e_wino = error_of(exact[i], wino[i], 1.0), e_direct = error_of(exact[i], direct[i], 1.0);
      INFO("output ", i, ": winograd error ", e_wino, ", direct error ", e_direct);
      CHECK(e_wino <= 1e-5);
      worst = std::max(worst, e_wino);
      worst_direct = std::max(worst_direct, e_direct);
    }
  }
  CHECK(conv_algorithm() == ConvAlgorithm::direct);  // the guard restored it
  CHECK_THROWS_WITH_AS(parse_conv_algorithm("fft"), doctest::Contains("choose direct or winograd"), Error);
  std::printf("parity conv2d winograd: worst error of y, dx, dw, db vs the float64 reference %.3e (tolerance 1e-5; "
              "direct %.3e)\n", worst, worst_direct);
}
