// Backward contracts of the engine: accumulation, saved-tensor versions, no-grad, long
// chains, retained graphs, explicit output gradients.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"

using namespace contra;

namespace {
Tensor leaf(std::vector<double> v, Shape s) {
  Tensor t = Tensor::from_vector<double>(v, s);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("scalar backward fills leaf gradients") {
  Tensor x = leaf({1, -2, 3}, {3});
  Tensor y = sum(x * x);  // dy/dx = 2x
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  backward(y);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, -4, 6});
}

TEST_CASE("a diamond graph accumulates both paths") {
  Tensor x = leaf({0.5, 2}, {2});
  Tensor u = x * 3.0;             // shared intermediate
  Tensor y = sum(u * u + u);      // dy/du = 2u + 1 ⇒ dy/dx = 3(2u + 1) = 18x + 3
  backward(y);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{12, 39});
  // the same leaf used twice in one op
  Tensor z = leaf({4}, {1});
  backward(sum(z * z));
  CHECK(z.grad().item() == 8);
}

TEST_CASE("gradients accumulate across backward calls into .grad") {
  Tensor x = leaf({1, 2}, {2});
  backward(sum(x * 2.0));
  backward(sum(x * 3.0));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 5});
  x.grad().zero_();
  backward(sum(x));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE(".grad never aliases a gradient shared with another leaf") {
  Tensor a = leaf({1}, {1}), b = leaf({2}, {1});
  backward(sum(a + b));  // add returns the same g for both
  a.grad().fill_(100);
  CHECK(b.grad().item() == 1);
}

TEST_CASE("an in-place change of a saved tensor throws at backward") {
  Tensor x = leaf({1, 2}, {2});
  Tensor w = Tensor::from_vector<double>({3, 4}, {2});
  Tensor y = sum(x * w);  // saves w
  w.fill_(0.0);
  try {
    backward(y);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("modified in place") != std::string::npos);
    CHECK(m.find("mul backward") != std::string::npos);
  }
}

TEST_CASE("no-grad mode records nothing") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y;
  {
    autograd::NoGradGuard guard;
    y = x * 2.0;
  }
  CHECK_FALSE(y.requires_grad());
  CHECK(y.grad_fn() == nullptr);
  CHECK_THROWS_WITH_AS(backward(sum(y)), doctest::Contains("requires a gradient"), Error);
  CHECK(autograd::GradMode::is_enabled());
}

TEST_CASE("a 10,000-node chain runs backward and is destroyed without stack overflow") {
  Tensor x = leaf({1.0}, {1});
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  backward(sum(y));
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
  // Destroying a longer chain whose backward never ran.
  Tensor z = x;
  for (int i = 0; i < 200000; ++i) z = z + 1.0;
  z = Tensor();
  CHECK(true);
}

TEST_CASE("second backward needs retain_graph") {
  Tensor x = leaf({2}, {1});
  Tensor y = sum(exp(x));
  backward(y, Tensor(), /*retain_graph=*/true);
  backward(y);
  CHECK(x.grad().item() == doctest::Approx(2 * std::exp(2.0)));
  CHECK_THROWS_WITH_AS(backward(y), doctest::Contains("second time"), Error);
}

TEST_CASE("non-scalar outputs need an explicit gradient") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = x * 3.0;
  CHECK_THROWS_WITH_AS(backward(y), doctest::Contains("explicit output gradient"), Error);
  backward(y, Tensor::from_vector<double>({1, 10}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 30});
}

TEST_CASE("grad() returns gradients without touching .grad, also for non-leaves") {
  Tensor x = leaf({1, 2}, {2});
  Tensor u = x * x;
  Tensor y = sum(u * 3.0);
  auto g = grad(y, {x, u});
  CHECK(g[0].to_vector<double>() == std::vector<double>{6, 12});
  CHECK(g[1].to_vector<double>() == std::vector<double>{3, 3});
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("leaf rules: only leaves take requires_grad; detach cuts the graph") {
  Tensor x = leaf({1}, {1});
  Tensor y = x * 2.0;
  CHECK_THROWS_AS(y.set_requires_grad(true), Error);
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.storage() == y.storage());
  CHECK_THROWS_AS(Tensor::arange(3).set_requires_grad(true), Error);
}

TEST_CASE("gradients flow through views and mixed dtypes") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = sum(slice(transpose(x, 0, 1), 0, 1, 3) * Tensor::from_vector<float>({1, 2}, {2}));
  backward(y);
  CHECK(x.grad().dtype() == DType::f64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 1, 0, 2, 2});
}

TEST_CASE("kinks have defined gradients") {
  Tensor x = leaf({0, -1, 1}, {3});
  backward(sum(relu(x)) + sum(abs(x)));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, -1, 2});  // relu'(0) = 0, |·|'(0) = 0
  Tensor m = leaf({2, 5, 5}, {3});
  backward(max(m));  // ties share the gradient evenly
  CHECK(m.grad().to_vector<double>() == std::vector<double>{0, 0.5, 0.5});
  Tensor a = leaf({1}, {1}), b = leaf({1}, {1});
  backward(sum(maximum(a, b)));
  CHECK(a.grad().item() == 0.5);
  CHECK(b.grad().item() == 0.5);
  Tensor c = leaf({-1, 1, 0.5}, {3});
  backward(sum(clamp(c, -1, 0.7)));
  CHECK(c.grad().to_vector<double>() == std::vector<double>{1, 0, 1});
  Tensor z = leaf({0, 0, 3, 4}, {2, 2});
  backward(sum(l2_normalize(z) * Tensor::from_vector<double>({1, 2}, {2})));
  for (double v : z.grad().to_vector<double>()) CHECK(std::isfinite(v));
}

TEST_CASE("the saved-tensor census counts each saved storage once and is empty after backward") {
  const auto census_bytes = [](const std::vector<Tensor>& exclude = {}) {
    std::size_t total = 0;
    for (const auto& s : autograd::saved_tensor_census(exclude)) total += s.bytes;
    return total;
  };
  const std::size_t before = census_bytes();
  Tensor x = leaf({1, -2, 3, -4, 5, -6}, {2, 3});   // (2, 3) f64: 48 bytes
  Tensor w = leaf({1, 2, 3, 4, 5, 6}, {3, 2});      // (3, 2)
  Tensor loss;
  {
    const Tensor r = relu(x);      // saves r (48 bytes)
    const Tensor m = matmul(r, w);  // saves r (same storage) and w
    loss = sum(m * m);              // saves m twice (one storage, 32 bytes)
  }
  // r, m and w: each storage once; without w when the parameters are excluded.
  CHECK(census_bytes() - before == 48 + 32 + 48);
  CHECK(census_bytes({w}) - before == 48 + 32);
  const auto census = autograd::saved_tensor_census({w});
  bool has_relu_or_matmul = false;
  for (const auto& s : census) has_relu_or_matmul = has_relu_or_matmul || s.op == "relu" || s.op == "matmul";
  CHECK(has_relu_or_matmul);
  backward(loss);
  CHECK(census_bytes() == before);  // the engine released every saved tensor of this graph
}
