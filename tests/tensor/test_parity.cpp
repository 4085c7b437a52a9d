// Parity: the fast CPU paths (OpenMP loops, OpenBLAS GEMM) against the naive reference
// kernels, in float32, with every output pre-filled with NaN and with garbage (the
// backend's "assigned, never accumulated" contract), over a sweep of shapes: odd sizes, broadcasting, non-contiguous
// views, batch 1. Tolerance: elementwise 1e-6 relative; reductions and GEMM scaled by the
// magnitude of the inputs (|Δ| ≤ 1e-5 · Σ|terms|).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "autograd/ops.h"
#include "autograd/ops/record.h"
#include "tensor/backend.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

Generator gen(99);

Tensor rnd(Shape s) { return Tensor::randn(s, gen, DType::f32); }

// Runs f with the reference kernels (the clean result), then with the reference and the
// fast kernels while every freshly allocated output is pre-filled with NaN and then with
// large finite garbage (dlib-style: a kernel must assign its output, never accumulate into
// it or read it), and compares each element by element. A NaN where the clean result has
// none is a failure (std::max would skip it).
void parity(const char* what, const std::function<Tensor()>& f, double rel, const std::function<Tensor()>& scale = {}) {
  Tensor ref, mag;
  {
    ReferenceKernelsGuard g(true);
    ref = f();
    if (scale) mag = scale();
  }
  const auto a = ref.to_vector<double>();
  const auto m = mag.defined() ? mag.to_vector<double>() : std::vector<double>();
  for (bool reference : {true, false})
    for (cpu::Poison poison : {cpu::Poison::nan, cpu::Poison::garbage}) {
      Tensor out;
      {
        ReferenceKernelsGuard g(reference);
        cpu::PoisonAllocationsGuard p(poison);
        out = f();
      }
      REQUIRE(ref.shape() == out.shape());
      const auto b = out.to_vector<double>();
      double worst = 0;
      std::size_t nans = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) != std::isnan(b[i])) ++nans;
        if (std::isnan(a[i]) || std::isnan(b[i])) continue;
        const double base = m.empty() ? std::max(std::abs(a[i]), 1e-6) : std::max(m[i], 1e-6);
        worst = std::max(worst, std::abs(a[i] - b[i]) / base);
      }
      INFO(what, " shape ", shape_str(ref.shape()), (reference ? " [reference, " : " [fast, "),
           cpu::poison_name(poison), "] worst scaled error ", worst, ", NaN mismatches ", nans);
      CHECK(nans == 0);
      CHECK(worst <= rel);
    }
}

}  // namespace

TEST_CASE("parity: unary ops over contiguous and strided inputs") {
  for (Shape s : {Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 33}, Shape{257, 129}}) {
    Tensor x = rnd(s);
    Tensor t = x.dim() >= 2 ? transpose(x, 0, 1) : x;
    for (UnaryOp op : {UnaryOp::neg, UnaryOp::exp, UnaryOp::abs, UnaryOp::relu, UnaryOp::sigmoid, UnaryOp::tanh,
                       UnaryOp::square, UnaryOp::sign}) {
      parity(unary_name(op), [&] { return raw::unary(op, x); }, 1e-6);
      parity(unary_name(op), [&] { return raw::unary(op, t); }, 1e-6);
    }
    Tensor p = raw::unary(UnaryOp::abs, x) + 0.1;
    parity("log", [&] { return log(p); }, 1e-6);
    parity("sqrt", [&] { return sqrt(p); }, 1e-6);
    parity("pow", [&] { return pow(p, 1.7); }, 1e-6);
    parity("clamp", [&] { return clamp(x, -0.3, 0.4); }, 1e-6);
  }
}

TEST_CASE("parity: binary ops with broadcasting and views") {
  struct Case { Shape a, b; };
  for (auto c : {Case{{5}, {5}}, Case{{3, 4}, {4}}, Case{{3, 1}, {1, 7}}, Case{{2, 3, 5}, {3, 1}},
                 Case{{1, 1}, {9, 11}}, Case{{300, 200}, {200}}, Case{{300, 200}, {300, 1}}}) {
    Tensor a = rnd(c.a), b = rnd(c.b);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum,
                        BinaryOp::minimum, BinaryOp::gt, BinaryOp::eq})
      parity(binary_name(op), [&] { return raw::binary(op, a, b); }, 1e-6);
  }
  Tensor x = rnd({64, 48});
  Tensor wide = rnd({48, 128});
  parity("add strided", [&] { return transpose(x, 0, 1) + slice(wide, 1, 0, 128, 2); }, 1e-6);
  Tensor cond = compare(rnd({64, 48}), Tensor::scalar(0.0), BinaryOp::gt);
  parity("where", [&] { return where(cond, x, Tensor::scalar(-1.0)); }, 1e-6);
  // in-place update through the backend (out aliases a)
  parity("in-place add", [&] {
    Tensor y = x.clone();
    backend_for(y).binary(BinaryOp::add, y, Tensor::scalar(1.5f), y);
    return y;
  }, 1e-6);
}

TEST_CASE("parity: reductions over every axis subset") {
  for (Shape s : {Shape{1, 1}, Shape{7, 5}, Shape{3, 4, 5}, Shape{2, 33, 17}, Shape{512, 300}}) {
    Tensor x = rnd(s);
    Tensor absx = raw::unary(UnaryOp::abs, x);
    const int n = static_cast<int>(s.size());
    for (int mask = 1; mask < (1 << n); ++mask) {
      std::vector<std::int64_t> axes;
      for (int d = 0; d < n; ++d)
        if (mask & (1 << d)) axes.push_back(d);
      parity("sum", [&] { return sum(x, axes, true); }, 1e-5, [&] { return sum(absx, axes, true); });
      parity("max", [&] { return max(x, axes, true); }, 0.0);
      parity("min", [&] { return min(transpose(x, 0, 1), axes, true); }, 0.0);
    }
  }
}

TEST_CASE("parity: matmul sweep (odd sizes, transposes, batches)") {
  struct Case { std::int64_t b, m, k, n; };
  for (auto c : {Case{1, 1, 1, 1}, Case{1, 7, 5, 3}, Case{1, 64, 33, 17}, Case{3, 9, 13, 11}, Case{1, 128, 256, 64},
                 Case{2, 1, 40, 1}}) {
    Tensor a = rnd({c.b, c.m, c.k}), b = rnd({c.b, c.k, c.n});
    auto mag = [&] { return matmul(raw::unary(UnaryOp::abs, a), raw::unary(UnaryOp::abs, b)); };
    parity("matmul", [&] { return matmul(a, b); }, 1e-5, mag);
    Tensor at = transpose(rnd({c.b, c.k, c.m}), 1, 2), bt = transpose(rnd({c.b, c.n, c.k}), 1, 2);
    parity("matmul Aᵀ", [&] { return matmul(at, b); }, 1e-5,
           [&] { return matmul(raw::unary(UnaryOp::abs, at), raw::unary(UnaryOp::abs, b)); });
    parity("matmul Bᵀ", [&] { return matmul(a, bt); }, 1e-5,
           [&] { return matmul(raw::unary(UnaryOp::abs, a), raw::unary(UnaryOp::abs, bt)); });
    Tensor sliced = slice(rnd({c.b, c.m, 2 * c.k}), 2, 0, 2 * c.k, 2);  // non-unit inner stride: copied
    parity("matmul strided", [&] { return matmul(sliced, b); }, 1e-5,
           [&] { return matmul(raw::unary(UnaryOp::abs, sliced), raw::unary(UnaryOp::abs, b)); });
  }
}

TEST_CASE("parity: softmax and log-softmax rows") {
  for (Shape s : {Shape{1, 1}, Shape{5, 7}, Shape{3, 4, 129}, Shape{512, 512}}) {
    Tensor x = rnd(s) * 4.0;
    parity("softmax", [&] { return softmax(x); }, 1e-5);
    parity("log_softmax", [&] { return log_softmax(x); }, 1e-5, [&] { return raw::unary(UnaryOp::abs, log_softmax(x)) + 1.0; });
    parity("softmax strided", [&] { return softmax(transpose(x, 0, -1)); }, 1e-5);
  }
}
