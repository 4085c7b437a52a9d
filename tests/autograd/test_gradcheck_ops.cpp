// Double-precision finite-difference gradient checks of every differentiable op.
// Inputs are drawn away from kinks (|x| > 0.1 for relu/abs, away from clamp bounds,
// distinct values for max/min). Tolerances: |analytic − numeric| ≤ 1e-7 + 1e-5·|numeric|.
#include <doctest/doctest.h>

#include <cstdio>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/ops/record.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

Generator gen(2026);

Tensor randn(Shape s, double scale = 1.0) {
  Tensor t = Tensor::randn(s, gen, DType::f64);
  if (scale != 1.0) t = (t * scale).detach();
  t.set_requires_grad(true);
  return t;
}

// Values in ±[lo, hi] with random signs: away from the kink at 0.
Tensor away_from_zero(Shape s, double lo = 0.2, double hi = 2.0) {
  Tensor t = Tensor::empty(s, DType::f64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = (gen.bernoulli(0.5) ? 1 : -1) * gen.uniform(lo, hi);
  t.set_requires_grad(true);
  return t;
}

Tensor positive(Shape s, double lo = 0.5, double hi = 2.0) {
  Tensor t = Tensor::empty(s, DType::f64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = gen.uniform(lo, hi);
  t.set_requires_grad(true);
  return t;
}

void check(const char* name, const GradcheckFn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {}) {
  const GradcheckResult r = gradcheck(f, inputs, opt);
  INFO(name, ": ", r.message);
  CHECK(r.ok);
  std::printf("gradcheck %-28s %-18s entries %6lld  max rel err %.3e\n", name, r.mode.c_str(),
              static_cast<long long>(r.checked), r.max_rel_error);
}

}  // namespace

TEST_CASE("gradcheck: arithmetic with broadcasting") {
  check("add", [](auto& x) { return add(x[0], x[1]); }, {randn({3, 4}), randn({4})});
  check("sub", [](auto& x) { return sub(x[0], x[1]); }, {randn({2, 1, 3}), randn({4, 1})});
  check("mul", [](auto& x) { return mul(x[0], x[1]); }, {randn({3, 4}), randn({3, 1})});
  check("div", [](auto& x) { return div(x[0], x[1]); }, {randn({3, 4}), away_from_zero({4}, 0.5, 2.0)});
  check("neg", [](auto& x) { return neg(x[0]); }, {randn({5})});
  check("scale/add_scalar", [](auto& x) { return add_scalar(scale(x[0], -1.5), 0.3); }, {randn({2, 3})});
  check("scalar / tensor", [](auto& x) { return 2.0 / x[0]; }, {away_from_zero({4}, 0.5, 2.0)});
  check("maximum", [](auto& x) { return maximum(x[0], x[1]); }, {randn({3, 4}), randn({3, 4})});
  check("minimum", [](auto& x) { return minimum(x[0], x[1]); }, {randn({3, 4}), randn({4})});
  check("pow (tensor exponent)", [](auto& x) { return pow(x[0], x[1]); }, {positive({3, 2}), randn({3, 2}, 0.5)});
}

TEST_CASE("gradcheck: unary math") {
  check("exp", [](auto& x) { return exp(x[0]); }, {randn({3, 3})});
  check("log", [](auto& x) { return log(x[0]); }, {positive({3, 3})});
  check("sqrt", [](auto& x) { return sqrt(x[0]); }, {positive({3, 3})});
  check("pow (scalar)", [](auto& x) { return pow(x[0], 2.5); }, {positive({3, 3})});
  check("abs", [](auto& x) { return abs(x[0]); }, {away_from_zero({3, 3})});
  check("square", [](auto& x) { return square(x[0]); }, {randn({3, 3})});
  check("clamp", [](auto& x) { return clamp(x[0], -0.1, 0.1); }, {away_from_zero({4, 4}, 0.15, 1.0)});
  Tensor mid = Tensor::from_vector<double>({-0.5, -0.2, 0.1, 0.4, 0.55, -0.35}, {6});
  mid.set_requires_grad(true);
  check("clamp (inside)", [](auto& x) { return clamp(x[0], -0.6, 0.6); }, {mid});
  check("relu", [](auto& x) { return relu(x[0]); }, {away_from_zero({4, 4})});
  check("sigmoid", [](auto& x) { return sigmoid(x[0]); }, {randn({3, 3}, 2.0)});
  check("tanh", [](auto& x) { return tanh(x[0]); }, {randn({3, 3})});
  check("cast f64→f32→f64 path",
        [](auto& x) { return cast(cast(x[0], DType::f32), DType::f64) * 0.0 + x[0] * 2.0; }, {randn({3})});
}

TEST_CASE("gradcheck: reductions") {
  Tensor x = randn({3, 4, 5});
  check("sum all", [](auto& x) { return sum(x[0]); }, {x});
  check("sum axes keepdim", [](auto& x) { return sum(x[0], {0, 2}, true); }, {x});
  check("sum axis", [](auto& x) { return sum(x[0], {-1}); }, {x});
  check("mean axes", [](auto& x) { return mean(x[0], {1}); }, {x});
  check("mean all", [](auto& x) { return mean(x[0]); }, {x});
  check("max axis", [](auto& x) { return max(x[0], {1}); }, {x});
  check("max all", [](auto& x) { return max(x[0]); }, {x});
  check("min axes keepdim", [](auto& x) { return min(x[0], {0, 2}, true); }, {x});
  check("logsumexp axis", [](auto& x) { return logsumexp(x[0], {2}); }, {randn({3, 4, 5}, 3.0)});
  check("logsumexp all", [](auto& x) { return logsumexp(x[0]); }, {randn({4, 5})});
  check("sum_to", [](auto& x) { return sum_to(x[0], {4, 1}); }, {x});
}

TEST_CASE("gradcheck: matmul") {
  check("matmul 2-D", [](auto& x) { return matmul(x[0], x[1]); }, {randn({3, 4}), randn({4, 5})});
  check("matmul Aᵀ B", [](auto& x) { return matmul(transpose(x[0], 0, 1), x[1]); }, {randn({4, 3}), randn({4, 2})});
  check("matmul A Bᵀ", [](auto& x) { return matmul(x[0], transpose(x[1], 0, 1)); }, {randn({3, 4}), randn({2, 4})});
  check("matmul batched", [](auto& x) { return matmul(x[0], x[1]); }, {randn({2, 3, 4}), randn({2, 4, 2})});
  check("matmul broadcast batch", [](auto& x) { return matmul(x[0], x[1]); }, {randn({2, 1, 2, 3}), randn({3, 3, 2})});
  check("matmul self (S = Z Zᵀ)", [](auto& x) { return matmul(x[0], transpose(x[0], 0, 1)); }, {randn({4, 3})});
}

TEST_CASE("gradcheck: shapes and indexing") {
  Tensor x = randn({2, 3, 4});
  check("reshape", [](auto& x) { return reshape(x[0], {6, 4}) * Tensor::arange(4, DType::f64); }, {x});
  check("flatten", [](auto& x) { return flatten(x[0], 1) * 3.0; }, {x});
  check("permute", [](auto& x) { return permute(x[0], {2, 0, 1}) * Tensor::arange(3, DType::f64); }, {x});
  check("transpose+reshape", [](auto& x) { return reshape(transpose(x[0], 0, 2), {-1}); }, {x});
  check("unsqueeze/squeeze", [](auto& x) { return squeeze(unsqueeze(x[0], 1), 1) * x[0]; }, {x});
  const Tensor weights = randn({3, 2, 4}).detach();
  check("expand", [weights](auto& x) { return expand(x[0], {3, 2, 4}) * weights; }, {randn({2, 1})});
  check("slice", [](auto& x) { return slice(x[0], 2, 1, 4, 2); }, {x});
  check("slice negative", [](auto& x) { return slice(x[0], 1, -2, 3); }, {x});
  check("cat", [](auto& x) { return cat({x[0], x[1] * 2.0, x[0]}, 1); }, {randn({2, 3}), randn({2, 1})});
  check("stack", [](auto& x) { return stack({x[0], x[1]}, 1); }, {randn({2, 3}), randn({2, 3})});
  Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2, 1}, {4});
  check("index_select (repeats)", [idx](auto& x) { return index_select(x[0], 1, idx); }, {x});
  Tensor gi = Tensor::from_vector<std::int64_t>({0, 2, 2, 1, 1, 1}, {2, 3});
  check("gather", [gi](auto& x) { return gather(x[0], 1, gi); }, {randn({2, 4})});
  Tensor cond = Tensor::from_vector<double>({1, 0, 0, 1, 1, 0}, {2, 3});
  check("where", [cond](auto& x) { return where(cond, x[0], x[1]); }, {randn({2, 3}), randn({3})});
  check("masked_fill", [cond](auto& x) { return masked_fill(x[0], cond, -3.0) * x[0]; }, {randn({2, 3})});
  check("contiguous", [](auto& x) { return contiguous(transpose(x[0], 0, 1)); }, {randn({3, 2})});
}

TEST_CASE("gradcheck: softmax family, cross-entropy, normalisation") {
  check("softmax last", [](auto& x) { return softmax(x[0]); }, {randn({3, 5})});
  check("softmax dim 0", [](auto& x) { return softmax(x[0], 0); }, {randn({3, 4})});
  check("log_softmax last", [](auto& x) { return log_softmax(x[0]); }, {randn({3, 5}, 2.0)});
  check("log_softmax dim 1 of 3-D", [](auto& x) { return log_softmax(x[0], 1); }, {randn({2, 3, 2})});
  Tensor y = Tensor::from_vector<std::int64_t>({1, 0, 3, 3}, {4});
  check("cross_entropy", [y](auto& x) { return cross_entropy(x[0], y); }, {randn({4, 5})});
  Tensor w = Tensor::from_vector<double>({0.5, 2.0, 1.0, 3.0, 1.0}, {5});
  check("cross_entropy weighted", [y, w](auto& x) { return cross_entropy(x[0], y, w); }, {randn({4, 5})});
  check("l2_normalize rows", [](auto& x) { return l2_normalize(x[0]); }, {randn({4, 3})});
  check("l2_normalize dim 0", [](auto& x) { return l2_normalize(x[0], 0); }, {randn({4, 3})});
}

TEST_CASE("gradcheck: composite expression in projection mode over a larger input") {
  GradcheckOptions opt;
  opt.mode = GradcheckOptions::Mode::projection;
  // A small NT-Xent-like expression: rows normalised, similarity, log-softmax, pick a diagonal.
  check("composite (projection)",
        [](auto& x) {
          Tensor z = l2_normalize(x[0]);
          Tensor s = matmul(z, transpose(z, 0, 1)) / 0.5;
          return mean(logsumexp(s, {1}) - sum(s * Tensor::ones({1}, DType::f64), {1}) / 8.0);
        },
        {randn({8, 6})}, opt);
}

TEST_CASE("gradcheck detects a wrong gradient") {
  // A deliberately wrong backward must fail the check, or the check proves nothing.
  auto wrong = [](const std::vector<Tensor>& x) {
    return autograd::record("wrong_square", {x[0]}, raw::unary(UnaryOp::square, x[0]),
                            [x0 = autograd::save(x[0], "wrong")](const Tensor& g) {
                              return autograd::grads({g * x0.get() * 3.0});  // should be 2x
                            });
  };
  const GradcheckResult r = gradcheck(wrong, {randn({3})});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("FAILED") != std::string::npos);
}
