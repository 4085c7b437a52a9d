// Forward values of the CPU kernels against hand-computed results, in both the reference
// and the fast mode (each case runs twice).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "autograd/ops.h"
#include "autograd/ops/record.h"
#include "tensor/backend.h"

using namespace contra;

namespace {
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

void check_close(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-6) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(tol));
}

template <typename F>
void both_modes(F&& f) {
  for (bool ref : {true, false}) {
    CAPTURE(ref);
    ReferenceKernelsGuard g(ref);
    f();
  }
}
}  // namespace

TEST_CASE("elementwise unary values") {
  both_modes([] {
    Tensor x = Tensor::from_vector<double>({-2, -0.5, 0, 1, 3}, {5});
    check_close(vals(neg(x)), {2, 0.5, 0, -1, -3});
    check_close(vals(relu(x)), {0, 0, 0, 1, 3});
    check_close(vals(abs(x)), {2, 0.5, 0, 1, 3});
    check_close(vals(clamp(x, -1, 1)), {-1, -0.5, 0, 1, 1});
    check_close(vals(sigmoid(x)), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-1.0)),
                                   1 / (1 + std::exp(-3.0))});
    check_close(vals(tanh(x)), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(1.0), std::tanh(3.0)});
    Tensor p = Tensor::from_vector<double>({0.25, 1, 4}, {3});
    check_close(vals(sqrt(p)), {0.5, 1, 2});
    check_close(vals(log(p)), {std::log(0.25), 0, std::log(4.0)});
    check_close(vals(exp(p)), {std::exp(0.25), std::exp(1.0), std::exp(4.0)});
    check_close(vals(pow(p, 1.5)), {0.125, 1, 8});
    // σ stays finite at the extremes.
    Tensor big = Tensor::from_vector<float>({-1000, 1000}, {2});
    check_close(vals(sigmoid(big)), {0, 1});
  });
}

TEST_CASE("binary ops broadcast and compare") {
  both_modes([] {
    Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
    Tensor c = Tensor::from_vector<float>({100, 200}, {2, 1});
    check_close(vals(a + b), {11, 22, 33, 14, 25, 36});
    check_close(vals(a * c), {100, 200, 300, 800, 1000, 1200});
    check_close(vals(b - a), {9, 18, 27, 6, 15, 24});
    check_close(vals(a / 2.0), {0.5, 1, 1.5, 2, 2.5, 3});
    check_close(vals(2.0 / a), {2, 1, 2.0 / 3, 0.5, 0.4, 2.0 / 6});
    check_close(vals(maximum(a, Tensor::scalar(3.5))), {3.5, 3.5, 3.5, 4, 5, 6});
    check_close(vals(compare(a, Tensor::scalar(3.0), BinaryOp::ge)), {0, 0, 1, 1, 1, 1});
    // mixed dtypes promote to f64
    Tensor d = Tensor::from_vector<double>({0.5}, {1});
    CHECK((a * d).dtype() == DType::f64);
    // non-contiguous operands
    Tensor t = transpose(a, 0, 1);  // (3, 2)
    check_close(vals(t + Tensor::from_vector<float>({1, 2}, {2})), {2, 6, 3, 7, 4, 8});
    check_close(vals(where(compare(a, Tensor::scalar(3.0), BinaryOp::gt), a, -a)), {-1, -2, -3, 4, 5, 6});
    check_close(vals(masked_fill(a, compare(a, Tensor::scalar(2.0), BinaryOp::eq), -7)), {1, -7, 3, 4, 5, 6});
  });
}

TEST_CASE("reductions over axes with keepdim") {
  both_modes([] {
    Tensor x = Tensor::from_vector<double>({1, 5, 3, 4, 2, 6, 0, 8}, {2, 2, 2});
    check_close(vals(sum(x)), {29});
    CHECK(sum(x).dim() == 0);
    check_close(vals(sum(x, {0})), {3, 11, 3, 12});
    check_close(vals(sum(x, {1, 2})), {13, 16});
    CHECK(sum(x, {1}, true).shape() == Shape{2, 1, 2});
    check_close(vals(sum(x, {-1}, true)), {6, 7, 8, 8});
    check_close(vals(mean(x, {0, 2})), {3.5, 3.75});
    check_close(vals(max(x, {2})), {5, 4, 6, 8});
    check_close(vals(min(x, {0, 1})), {0, 4});
    check_close(vals(max(x)), {8});
    Tensor r = Tensor::from_vector<double>({1, 2, 3, 1000, 1000, -1000}, {2, 3});
    check_close(vals(logsumexp(r, {1})),
                {std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1000 + std::log(2.0)});
    // a large full reduction takes the parallel path in fast mode
    Tensor big = Tensor::ones({300, 300}, DType::f32);
    check_close(vals(sum(big)), {90000});
    check_close(vals(sum(transpose(big, 0, 1), {0})), std::vector<double>(300, 300.0));
  });
}

TEST_CASE("matmul: plain, transposed views, batched with broadcasting") {
  both_modes([] {
    Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor b = Tensor::from_vector<float>({1, 0, 0, 1, 1, 1}, {3, 2});
    check_close(vals(matmul(a, b)), {4, 5, 10, 11});
    check_close(vals(matmul(transpose(a, 0, 1), a)), {17, 22, 27, 22, 29, 36, 27, 36, 45});
    check_close(vals(matmul(a, transpose(a, 0, 1))), {14, 32, 32, 77});
    Tensor batch = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
    Tensor eye = Tensor::from_vector<float>({1, 0, 0, 1}, {2, 2});
    check_close(vals(matmul(batch, eye)), vals(batch));
    CHECK(matmul(Tensor::ones({3, 1, 2, 4}), Tensor::ones({5, 4, 6})).shape() == Shape{3, 5, 2, 6});
    check_close(vals(matmul(Tensor::ones({2, 1, 2, 4}), Tensor::ones({3, 4, 2}))), std::vector<double>(24, 4.0));
    CHECK_THROWS_AS(matmul(a, a), Error);
  });
}

TEST_CASE("softmax, log_softmax and cross-entropy") {
  both_modes([] {
    Tensor x = Tensor::from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    check_close(vals(softmax(x)), {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1. / 3, 1. / 3, 1. / 3});
    check_close(vals(log_softmax(x)), {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0),
                                       -std::log(3.0), -std::log(3.0)});
    check_close(vals(softmax(x, 0)), {std::exp(1.0) / (std::exp(1.0) + 1), std::exp(2.0) / (std::exp(2.0) + 1),
                                      std::exp(3.0) / (std::exp(3.0) + 1), 1 / (std::exp(1.0) + 1),
                                      1 / (std::exp(2.0) + 1), 1 / (std::exp(3.0) + 1)});
    Tensor y = Tensor::from_vector<std::int64_t>({2, 0}, {2});
    const double l0 = std::log(z) - 3, l1 = std::log(3.0);
    check_close(vals(cross_entropy(x, y)), {(l0 + l1) / 2});
    Tensor w = Tensor::from_vector<double>({3, 1, 1}, {3});
    check_close(vals(cross_entropy(x, y, w)), {(1 * l0 + 3 * l1) / 4});
    CHECK_THROWS_WITH_AS(cross_entropy(x, Tensor::from_vector<std::int64_t>({3, 0}, {2})),
                         doctest::Contains("out of range"), Error);
  });
}

TEST_CASE("l2_normalize, cat, stack, index_select, gather") {
  both_modes([] {
    Tensor x = Tensor::from_vector<double>({3, 4, 0, 0}, {2, 2});
    check_close(vals(l2_normalize(x)), {0.6, 0.8, 0, 0});  // a zero row stays zero (norm clamped at ε)
    Tensor a = Tensor::from_vector<float>({1, 2}, {1, 2}), b = Tensor::from_vector<float>({3, 4, 5, 6}, {2, 2});
    check_close(vals(cat({a, b}, 0)), {1, 2, 3, 4, 5, 6});
    check_close(vals(cat({b, b}, 1)), {3, 4, 3, 4, 5, 6, 5, 6});
    CHECK(stack({a, a}, 0).shape() == Shape{2, 1, 2});
    check_close(vals(stack({b, b}, 2)), {3, 3, 4, 4, 5, 5, 6, 6});
    Tensor idx = Tensor::from_vector<std::int64_t>({1, 1, 0}, {3});
    check_close(vals(index_select(b, 0, idx)), {5, 6, 5, 6, 3, 4});
    check_close(vals(index_select(b, 1, idx)), {4, 4, 3, 6, 6, 5});
    Tensor gi = Tensor::from_vector<std::int64_t>({1, 0, 0, 0}, {2, 2});
    check_close(vals(gather(b, 1, gi)), {4, 3, 5, 5});
    CHECK_THROWS_WITH_AS(index_select(b, 0, Tensor::from_vector<std::int64_t>({2}, {1})),
                         doctest::Contains("out of range"), Error);
    CHECK_THROWS_AS(cat({a, Tensor::zeros({2, 3})}, 0), Error);
  });
}

TEST_CASE("NaN propagates through relu, sign, maximum, minimum and max, as in PyTorch (issue 13.7)") {
  // A comparison alone (x > 0 ? x : 0) turns NaN into a number: embed once wrote finite
  // features from a NaN weight that way.
  both_modes([] {
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(std::string(dtype_name(dt)));
      // 40 elements: the fast kernels' vector bodies and their scalar tails both see NaN.
      std::vector<double> v(40, -1.5);
      v[3] = NAN;
      v[37] = NAN;
      v[5] = 2.0;
      const Tensor x = Tensor::from_vector<double>(v, {40}).to(dt);
      const Tensor one = Tensor::full({40}, 1.0, dt);
      const std::vector<Tensor> outs = {relu(x), raw::unary(UnaryOp::sign, x), maximum(x, one), maximum(one, x),
                                        minimum(x, one), minimum(one, x)};
      for (const Tensor& y : outs) {
        const auto r = vals(y);
        CHECK(std::isnan(r[3]));
        CHECK(std::isnan(r[37]));
        CHECK(!std::isnan(r[5]));
        CHECK(!std::isnan(r[0]));
      }
      CHECK(vals(relu(x))[0] == 0.0);
      CHECK(vals(relu(x))[5] == 2.0);
      CHECK(std::isnan(vals(max(x, {0}))[0]));
      CHECK(std::isnan(vals(min(x, {0}))[0]));
      CHECK(vals(clamp(x, -1.0, 1.0))[0] == -1.0);
      CHECK(std::isnan(vals(clamp(x, -1.0, 1.0))[3]));
    }
  });
}

TEST_CASE("count_non_finite: one count over a list of tensors, any layout and dtype") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  Backend& be = backend_for(Device::cpu());
  const Tensor a = Tensor::from_vector<float>({1, static_cast<float>(nan), 3, static_cast<float>(-inf)}, {2, 2});
  const Tensor b = transpose(Tensor::from_vector<double>({0, 1, 2, inf, 4, 5}, {2, 3}), 0, 1);  // strided
  const Tensor finite = Tensor::ones({1000}, DType::f64);
  const Tensor labels = Tensor::arange(5);  // integers hold no non-finite value
  CHECK(be.count_non_finite({a}) == 2);
  CHECK(be.count_non_finite({b}) == 1);
  CHECK(be.count_non_finite({finite, labels, Tensor()}) == 0);
  CHECK(be.count_non_finite({a, b, finite}) == 3);
  // A large contiguous tensor takes the parallel path; one bad element in the middle.
  Tensor big = Tensor::zeros({1 << 20}, DType::f32);
  big.data<float>()[(1 << 19) + 7] = static_cast<float>(nan);
  CHECK(be.count_non_finite({big}) == 1);
}

// The row passes' argument contract is one shared check (tensor/contrastive_row_checks.h),
// so every backend refuses the same calls with the same words. These calls were accepted by
// the CPU backend before (ω of the wrong length was read past its end).
TEST_CASE("contrastive row passes: malformed arguments are refused with one message") {
  Backend& be = backend_for(Device::cpu());
  Backend::ContrastiveRowParams p;
  p.N = 2;
  p.V = 2;  // M = 4
  const Tensor s = Tensor::zeros({4, 4}, DType::f32);
  const Tensor a = Tensor::zeros({4}, DType::f64);
  const Tensor stats = Tensor::zeros({4 * Backend::row_stat_count}, DType::f64);
  const Tensor state = Tensor::zeros({4 * Backend::tile_state_count}, DType::f64);
  const Tensor row_sum = Tensor::zeros({4}, DType::f64);
  auto refused = [](auto&& call, const char* needle) {
    try {
      call();
      FAIL_CHECK("accepted; expected: " << std::string(needle));
    } catch (const Error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  const Tensor short_omega = Tensor::zeros({3}, DType::f32);  // (M,) needs 4
  refused([&] { be.contrastive_row_pass(s, short_omega, a, p, stats); }, "ω must be (M,) or (M, M) with M = 4");
  refused([&] { be.contrastive_tile_forward(s, short_omega, p, state); }, "ω must be (M,) or (M, M) with M = 4");
  refused([&] { be.contrastive_tile_gradient(s, Tensor::zeros({4, 3}, DType::f32), a, state, p, row_sum); },
          "ω must be (M,) or (M, M) with M = 4");
  refused([&] { be.contrastive_row_pass(s, Tensor(), Tensor::zeros({4}, DType::f32), p, stats); },
          "row statistics must be f64");
  refused([&] { be.contrastive_row_pass(Tensor::zeros({4, 4}, DType::i64), Tensor(), a, p, stats); },
          "contrastive_row_pass");
  Backend::ContrastiveRowParams outside = p;
  outside.row0 = 2;  // rows 2..5 of a 4-row matrix
  refused([&] { be.contrastive_tile_forward(s, Tensor(), outside, state); }, "needs a tile s inside (M, M)");
  Backend::ContrastiveRowParams empty = p;
  empty.N = 0;
  refused([&] { be.contrastive_row_pass(s, Tensor(), a, empty, stats); }, "N and V must be ≥ 1");
  refused([&] { be.contrastive_normalize_rows(Tensor::zeros({4, 3}, DType::f32), Tensor::zeros({4, 2}, DType::f32),
                                              a); },
          "needs f, z (M, D) contiguous of one dtype");
  refused([&] { be.contrastive_normalize_backward(s, s, a, a, p, s, Tensor::zeros({4}, DType::f64)); },
          "needs norm, a (M,), norms (M, 3)");
}
