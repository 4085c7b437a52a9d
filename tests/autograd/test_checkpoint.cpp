// autograd::checkpoint: same values and gradients as the plain graph, only the input saved,
// recomputation flagged, gradcheck in double precision.
#include <doctest/doctest.h>

#include "autograd/checkpoint.h"
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/generator.h"

using namespace contra;

namespace {
// f(x) = tanh(x·w)·w' + relu(x·w): x feeds two paths, w is used twice.
Tensor f(const Tensor& x, const Tensor& w) {
  const Tensor h = matmul(x, w);                                // (N, K)
  return matmul(tanh(h), transpose(w, 0, 1)) + relu(matmul(h, transpose(w, 0, 1)));  // (N, D)
}

Tensor leaf_randn(const Shape& s, Generator& gen) {
  Tensor t = Tensor::randn(s, gen, DType::f64);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("checkpoint gives the plain graph's output and gradients, bit for bit") {
  Generator gen(7);
  const Tensor x = leaf_randn({5, 4}, gen), w = leaf_randn({4, 3}, gen);
  const Tensor y_plain = f(x, w);
  backward(sum(y_plain * y_plain));
  const auto dx_plain = x.grad().to_vector<double>(), dw_plain = w.grad().to_vector<double>();
  x.set_grad(Tensor());
  w.set_grad(Tensor());

  int calls = 0, recomputing_calls = 0;
  const Tensor y_ck = autograd::checkpoint(
      [&](const Tensor& in) {
        ++calls;
        recomputing_calls += autograd::is_recomputing() ? 1 : 0;
        return f(in, w);
      },
      x, {w});
  CHECK(y_ck.to_vector<double>() == y_plain.to_vector<double>());
  CHECK(calls == 1);
  CHECK_FALSE(autograd::is_recomputing());
  backward(sum(y_ck * y_ck));
  CHECK(calls == 2);
  CHECK(recomputing_calls == 1);
  CHECK(x.grad().to_vector<double>() == dx_plain);
  CHECK(w.grad().to_vector<double>() == dw_plain);
}

TEST_CASE("checkpoint saves only its input during the forward") {
  Generator gen(8);
  const Tensor x = leaf_randn({64, 32}, gen), w = leaf_randn({32, 32}, gen);
  const std::size_t before = autograd::saved_activation_bytes();
  const Tensor y = autograd::checkpoint([&](const Tensor& in) { return f(in, w); }, x, {w});
  // x is a leaf that requires a gradient, so it is not counted as an activation; nothing
  // inside f was saved.
  CHECK(autograd::saved_activation_bytes() == before);
  const Tensor z = autograd::checkpoint([&](const Tensor& in) { return f(in, w); }, y, {w});
  CHECK(autograd::saved_activation_bytes() == before + 64 * 32 * sizeof(double));  // y only
  backward(sum(z));
  CHECK(autograd::saved_activation_bytes() == before);
}

TEST_CASE("backward formulas save nothing: the activation peak is what the graph holds") {
  // relu's backward computes g · 1[y > 0] under no-grad; its operands must not be counted
  // (or kept) as saved activations, or the memory report's peak over a step overstates
  // what the graph holds (it did: by two layer-sized tensors in every checkpointed block).
  Generator gen(10);
  const Tensor x = leaf_randn({64, 32}, gen), w = leaf_randn({32, 32}, gen);
  const Tensor h = matmul(x, w);  // saves x and w: leaves, not counted
  const Tensor y = relu(h);       // saves y (64·32 doubles)
  const Tensor z = sum(y * y);    // saves y again: the same storage, counted once
  const std::size_t held = autograd::saved_activation_bytes();
  CHECK(held >= 64 * 32 * sizeof(double));
  autograd::reset_peak_saved_activation_bytes();
  backward(z);
  CHECK(autograd::peak_saved_activation_bytes() == held);
  {
    autograd::NoGradGuard no_grad;
    const Tensor t = leaf_randn({64, 32}, gen);
    autograd::reset_peak_saved_activation_bytes();
    const std::size_t before = autograd::saved_activation_bytes();
    const Tensor u = relu(t) * t;  // no node is made, so nothing may be saved, even for a moment
    CHECK(autograd::peak_saved_activation_bytes() == before);
  }
}

TEST_CASE("checkpoint: the output needs a gradient when only the parameters do") {
  Generator gen(9);
  const Tensor x = Tensor::randn({3, 4}, gen, DType::f64);  // no gradient
  const Tensor w = leaf_randn({4, 2}, gen);
  const Tensor y = autograd::checkpoint([&](const Tensor& in) { return f(in, w); }, x, {w});
  REQUIRE(y.requires_grad());
  backward(sum(y));
  const Tensor dw = w.grad();
  w.set_grad(Tensor());
  backward(sum(f(x, w)));
  CHECK(dw.to_vector<double>() == w.grad().to_vector<double>());
}

TEST_CASE("checkpoint: an in-place change of the saved input throws at backward") {
  Generator gen(10);
  const Tensor w = leaf_randn({4, 4}, gen);
  const Tensor x = matmul(leaf_randn({2, 4}, gen), w);
  const Tensor y = autograd::checkpoint([&](const Tensor& in) { return f(in, w); }, x, {w});
  {
    autograd::NoGradGuard no_grad;
    x.fill_(1.0);
  }
  CHECK_THROWS_WITH_AS(backward(sum(y)), doctest::Contains("modified in place"), Error);
}

TEST_CASE("gradcheck (f64): checkpointed function") {
  Generator gen(11);
  const Tensor x = leaf_randn({3, 4}, gen), w = leaf_randn({4, 3}, gen);
  const auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return autograd::checkpoint([w = in[1]](const Tensor& t) { return f(t, w); }, in[0], {in[1]});
      },
      {x, w});
  CHECK_MESSAGE(r.ok, r.message);
}
