// Forward values of conv2d, batch_norm, max_pool2d, adaptive_avg_pool2d and linear against
// small hand-computed cases, on both the reference and the oneDNN/BLAS paths (f32), plus the
// batch-norm running-statistics rule (PyTorch: unbiased running variance) and the errors
// for bad shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"

using namespace contra;

namespace {

Tensor f32(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector<float>(v, s); }

void check_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-5) {
  const auto got = t.to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element ", i, ": got ", got[i], " want ", want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i])));
  }
}

// Runs `body` once with the reference kernels and once with the fast ones.
template <typename F>
void both_paths(F&& body) {
  for (bool ref : {true, false}) {
    ReferenceKernelsGuard g(ref);
    INFO("reference kernels: ", ref);
    body();
  }
}

std::vector<float> iota(int n, float start = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i);
  return v;
}

}  // namespace

TEST_CASE("conv2d: hand-computed values") {
  both_paths([] {
    const Tensor x = f32(iota(9), {1, 1, 3, 3});  // [[1,2,3],[4,5,6],[7,8,9]]
    // w = [[1, 0], [0, −1]] ⇒ y[i,j] = x[i,j] − x[i+1,j+1] = −4, plus bias 0.5
    const Tensor w = f32({1, 0, 0, -1}, {1, 1, 2, 2});
    check_values(conv2d(x, w, f32({0.5f}, {1}), {}), {-3.5, -3.5, -3.5, -3.5});
    // 3×3 ones, padding 1: every output sums its in-image 3×3 neighbourhood.
    const Tensor ones = Tensor::ones({1, 1, 3, 3});
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    check_values(conv2d(x, ones, Tensor(), p), {12, 21, 16, 27, 45, 33, 24, 39, 28});
    // stride 2 with padding 1: the corners of the map above.
    p.stride_h = p.stride_w = 2;
    check_values(conv2d(x, ones, Tensor(), p), {12, 16, 24, 28});
    // dilation 2 on a 3×3 kernel over a 5×5 input: y = Σ of x at rows/cols {0, 2, 4}.
    const Tensor x5 = f32(iota(25), {1, 1, 5, 5});
    Conv2dParams d;
    d.dilation_h = d.dilation_w = 2;
    check_values(conv2d(x5, Tensor::ones({1, 1, 3, 3}), Tensor(), d), {1 + 3 + 5 + 11 + 13 + 15 + 21 + 23 + 25});
    // groups 2: each output channel sees only its own input channel (1×1 kernels 2 and 3).
    const Tensor x2 = f32({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
    Conv2dParams g;
    g.groups = 2;
    check_values(conv2d(x2, f32({2, 3}, {2, 1, 1, 1}), Tensor(), g), {2, 4, 6, 8, 30, 60, 90, 120});
  });
}

TEST_CASE("conv2d: output size follows PyTorch's floor formula and shapes are checked") {
  const Tensor x = Tensor::zeros({2, 3, 8, 7});
  Conv2dParams p;
  p.stride_h = 3;
  p.stride_w = 2;
  p.pad_h = 1;
  const Tensor y = conv2d(x, Tensor::zeros({5, 3, 3, 3}), Tensor::zeros({5}), p);
  CHECK(y.shape() == Shape{2, 5, 3, 3});  // ⌊(8 + 2 − 3)/3⌋ + 1 = 3, ⌊(7 − 3)/2⌋ + 1 = 3
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({5, 2, 3, 3}), Tensor(), {}), Error);     // channel mismatch
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({5, 3, 9, 3}), Tensor(), {}), Error);     // kernel too large
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({5, 3, 3, 3}), Tensor::zeros({4}), {}), Error);  // bias size
  Conv2dParams g;
  g.groups = 2;
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), g), Error);      // 3 channels, 2 groups
}

TEST_CASE("batch_norm: training values and PyTorch running-statistics update") {
  both_paths([] {
    // One channel, values 1..4: μ = 2.5, σ² = 1.25 (biased), unbiased 5/3.
    const Tensor x = f32({1, 2, 3, 4}, {4, 1});
    const Tensor rm = Tensor::zeros({1}), rv = Tensor::ones({1});
    const Tensor y = batch_norm(x, f32({2}, {1}), f32({1}, {1}), rm, rv, true, 0.1, 1e-5);
    const double r = 1.0 / std::sqrt(1.25 + 1e-5);
    check_values(y, {2 * -1.5 * r + 1, 2 * -0.5 * r + 1, 2 * 0.5 * r + 1, 2 * 1.5 * r + 1});
    check_values(rm, {0.1 * 2.5});                    // (1 − m)·0 + m·μ
    check_values(rv, {0.9 * 1.0 + 0.1 * (5.0 / 3.0)});  // (1 − m)·1 + m·σ²·M/(M − 1)
    // 4-D: statistics over N, H, W per channel; channel 1 is channel 0 + 10 (same σ²).
    const Tensor x4 = f32({1, 2, 11, 12, 3, 4, 13, 14}, {2, 2, 1, 2});
    const Tensor rm4 = Tensor::zeros({2}), rv4 = Tensor::zeros({2});
    const Tensor y4 = batch_norm(x4, Tensor(), Tensor(), rm4, rv4, true, 0.5, 1e-5);
    check_values(y4, {-1.5 * r, -0.5 * r, -1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r, 0.5 * r, 1.5 * r});
    check_values(rm4, {0.5 * 2.5, 0.5 * 12.5});
    check_values(rv4, {0.5 * 5.0 / 3.0, 0.5 * 5.0 / 3.0});
  });
}

TEST_CASE("batch_norm: eval uses the running statistics and does not update them") {
  both_paths([] {
    const Tensor x = f32({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 1, 2});
    const Tensor rm = f32({1, 2}, {2}), rv = f32({4, 0.25f}, {2});
    const Tensor y = batch_norm(x, f32({1, 2}, {2}), f32({0, -1}, {2}), rm, rv, false, 0.1, 0.0 + 1e-12);
    // channel 0: (x − 1)/2;  channel 1: 2·(x − 2)/0.5 − 1 = 4·(x − 2) − 1
    check_values(y, {0, 0.5, 3, 7, 2, 2.5, 19, 23}, 1e-4);
    check_values(rm, {1, 2});
    check_values(rv, {4, 0.25});
  });
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({2, 3}), Tensor::ones({4}), Tensor(), Tensor(), Tensor(), true), Error);
}

TEST_CASE("max_pool2d: values, padding as −inf, gradient to the argmax") {
  both_paths([] {
    const Tensor x = f32(iota(16), {1, 1, 4, 4});
    check_values(max_pool2d(x, {2, 2, 2, 2}), {6, 8, 14, 16});
    // kernel 3, stride 2, padding 1 over all-negative values: padding never wins.
    const Tensor neg = f32(iota(16, -20.0f), {1, 1, 4, 4});  // −20 … −5
    check_values(max_pool2d(neg, {3, 3, 2, 2, 1, 1}), {-15, -13, -7, -5});
    Tensor xg = x.clone();
    xg.set_requires_grad(true);
    backward(sum(max_pool2d(xg, {2, 2, 2, 2})));
    check_values(xg.grad(), {0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1});
  });
  CHECK_THROWS_AS(max_pool2d(Tensor::zeros({1, 1, 4, 4}), {2, 2, 2, 2, 2, 0}), Error);  // pad > kernel/2
}

TEST_CASE("adaptive_avg_pool2d: PyTorch's start/end windows") {
  both_paths([] {
    // width 5 → 3: windows [0,2), [1,4), [3,5)
    check_values(adaptive_avg_pool2d(f32(iota(5), {1, 1, 1, 5}), 1, 3), {1.5, 3, 4.5});
    // global average and a uniform 2×2 window
    const Tensor x = f32(iota(16), {1, 1, 4, 4});
    check_values(adaptive_avg_pool2d(x, 1, 1), {8.5});
    check_values(adaptive_avg_pool2d(x, 2, 2), {3.5, 5.5, 11.5, 13.5});
    Tensor xg = f32(iota(5), {1, 1, 1, 5});
    xg.set_requires_grad(true);
    backward(sum(adaptive_avg_pool2d(xg, 1, 3)));
    check_values(xg.grad(), {0.5, 0.5 + 1.0 / 3, 1.0 / 3, 1.0 / 3 + 0.5, 0.5});
  });
}

TEST_CASE("linear: y = x·Wᵀ + b and its gradients") {
  const Tensor x = f32({1, 2, 3, 4}, {2, 2});
  const Tensor w = f32({1, 0, 0, 1, 1, 1}, {3, 2});
  const Tensor b = f32({0, 1, 2}, {3});
  check_values(linear(x, w, b), {1, 3, 5, 3, 5, 9});
  check_values(linear(x, w, Tensor()), {1, 2, 3, 3, 4, 7});
  Tensor xg = x.clone(), wg = w.clone(), bg = b.clone();
  for (auto& t : {xg, wg, bg}) t.set_requires_grad(true);
  backward(sum(linear(xg, wg, bg)));
  check_values(xg.grad(), {2, 2, 2, 2});        // dx = 1·W: column sums of W
  check_values(wg.grad(), {4, 6, 4, 6, 4, 6});  // dW = 1ᵀ·x: column sums of x per row
  check_values(bg.grad(), {2, 2, 2});           // db = N
  CHECK_THROWS_AS(linear(x, Tensor::zeros({3, 3}), Tensor()), Error);
}

TEST_CASE("strided inputs give the same results as contiguous copies") {
  both_paths([] {
    const Tensor base = f32(iota(2 * 4 * 5 * 5), {2, 4, 5, 5});
    const Tensor view = transpose(base, 2, 3);  // non-contiguous (N, C, W, H)
    const Tensor w = f32(iota(3 * 4 * 3 * 3, -50.0f), {3, 4, 3, 3});
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    check_values(conv2d(view, w, Tensor(), p), conv2d(view.contiguous(), w, Tensor(), p).to_vector<double>());
    check_values(max_pool2d(view, {2, 2, 2, 2}), max_pool2d(view.contiguous(), {2, 2, 2, 2}).to_vector<double>());
    check_values(batch_norm(view, Tensor(), Tensor(), Tensor(), Tensor(), true),
                 batch_norm(view.contiguous(), Tensor(), Tensor(), Tensor(), Tensor(), true).to_vector<double>());
  });
}

TEST_CASE("batch_norm: an eval graph survives a later training step's running-stat update") {
  const Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  x.set_requires_grad(true);
  const Tensor y_eval = batch_norm(x, Tensor(), Tensor(), rm, rv, false);
  batch_norm(x, Tensor(), Tensor(), rm, rv, true);  // updates rm, rv in place
  CHECK(rm.to_vector<double>()[0] != 0.0);
  backward(sum(y_eval));
  check_values(x.grad(), std::vector<double>(6, 1.0 / std::sqrt(1.0 + 1e-5)));  // dx = γ·r·dy, r from old rv = 1
}

TEST_CASE("max_pool2d: ties send the gradient to the first maximum (PyTorch), on both paths") {
  both_paths([] {
    // All zeros (as after a ReLU): every window ties; each sends its gradient to its first
    // in-image element in row-major order.
    Tensor x = Tensor::zeros({1, 1, 4, 4});
    x.set_requires_grad(true);
    backward(sum(max_pool2d(x, {3, 3, 2, 2, 1, 1})));
    check_values(x.grad(), {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  });
}

TEST_CASE("conv2d on an empty batch: empty output, zero weight gradients") {
  both_paths([] {
    Tensor x = Tensor::zeros({0, 3, 8, 8});
    Tensor w = Tensor::ones({4, 3, 3, 3}), b = Tensor::ones({4});
    for (auto& t : {x, w, b}) t.set_requires_grad(true);
    const Tensor y = conv2d(x, w, b, {});
    CHECK(y.shape() == Shape{0, 4, 6, 6});
    backward(sum(y));
    check_values(w.grad(), std::vector<double>(4 * 3 * 3 * 3, 0.0));
    check_values(b.grad(), {0, 0, 0, 0});
  });
}

TEST_CASE("max_pool2d: a NaN in the window wins, reference and oneDNN alike (issue 13.7)") {
  for (bool ref : {true, false}) {
    CAPTURE(ref);
    ReferenceKernelsGuard g(ref);
    for (DType dt : {DType::f32, DType::f64}) {
      std::vector<double> v(2 * 3 * 6 * 6);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * static_cast<double>(i));
      v[7] = NAN;          // image 0, channel 0, row 1, column 1: in output (0, 0) with a 2×2/2 pool
      v[36 + 35] = NAN;    // channel 1, the last pixel: output (2, 2)
      const Tensor x = Tensor::from_vector<double>(v, {2, 3, 6, 6}).to(dt);
      const auto y = max_pool2d(x, Pool2dParams{2, 2, 2, 2}).to_vector<double>();  // (2, 3, 3, 3)
      CHECK(std::isnan(y[0]));
      CHECK(std::isnan(y[9 + 8]));
      int nans = 0;
      for (double a : y) nans += std::isnan(a);
      CHECK(nans == 2);
      // The ImageNet stem's 3×3/2 pool with padding.
      const auto z = max_pool2d(x, Pool2dParams{3, 3, 2, 2, 1, 1}).to_vector<double>();
      CHECK(std::isnan(z[0]));
    }
  }
}
