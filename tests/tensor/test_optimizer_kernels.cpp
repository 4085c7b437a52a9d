// The fused multi-tensor optimizer updates (Backend::sgd_update, lars_update, adamw_update):
// the fast CPU kernels (cpu/optimizer_kernels.cpp) against their naive reference twins
// (cpu/reference_optimizer.h), in float32 and float64, with tensors small and large enough
// to take the OpenMP path (> 65,536 elements), and a hand-computed element of each formula.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

// Parameter shapes of one fused call: scalars, a bias, a matrix, one past the OpenMP threshold.
const std::vector<Shape> kShapes{{1}, {7}, {33, 17}, {300, 241}};

struct Lists {
  std::vector<Tensor> params, grads, s1, s2;
};

Lists make_lists(DType dt, std::uint64_t seed) {
  Generator gen(seed);
  Lists l;
  for (const auto& s : kShapes) {
    l.params.push_back(Tensor::randn(s, gen, dt));
    l.grads.push_back(Tensor::randn(s, gen, dt));
    l.s1.push_back(Tensor::randn(s, gen, dt));
    l.s2.push_back(Tensor::rand(s, gen, dt));  // second moments are ≥ 0
  }
  return l;
}

Lists clone(const Lists& a) {
  Lists b;
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    b.params.push_back(a.params[i].clone());
    b.grads.push_back(a.grads[i].clone());
    b.s1.push_back(a.s1[i].clone());
    b.s2.push_back(a.s2[i].clone());
  }
  return b;
}

// max |a − b| / (1 + |b|) over every tensor of two lists.
double max_rel(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = a[i].to_vector<double>(), y = b[i].to_vector<double>();
    for (std::size_t j = 0; j < x.size(); ++j) m = std::max(m, std::abs(x[j] - y[j]) / (1 + std::abs(y[j])));
  }
  return m;
}

double tol(DType dt) { return dt == DType::f32 ? 1e-6 : 1e-14; }

// Runs `f(lists)` twice from the same start, fast and reference, and compares every list.
template <typename F>
void check_parity(DType dt, F&& f) {
  const Lists start = make_lists(dt, 7);
  Lists fast = clone(start), ref = clone(start);
  f(fast);
  {
    ReferenceKernelsGuard guard(true);
    f(ref);
  }
  CHECK(max_rel(fast.params, ref.params) < tol(dt));
  CHECK(max_rel(fast.s1, ref.s1) < tol(dt));
  CHECK(max_rel(fast.s2, ref.s2) < tol(dt));
  CHECK(max_rel(fast.params, start.params) > 0);  // it did update
}

}  // namespace

TEST_CASE("optimizer kernels: sgd_update fast = reference (momentum, Nesterov, first step, plain)") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    const std::vector<std::uint8_t> first{1, 0, 1, 0};
    check_parity(dt, [&](Lists& l) {
      backend_for(Device::cpu()).sgd_update(l.params, l.grads, l.s1, first, {0.1, 1e-4, 0.9, 0.1, false});
    });
    check_parity(dt, [&](Lists& l) {
      backend_for(Device::cpu()).sgd_update(l.params, l.grads, l.s1, first, {0.05, 1e-3, 0.9, 0.0, true});
    });
    check_parity(dt, [&](Lists& l) { backend_for(Device::cpu()).sgd_update(l.params, l.grads, {}, {}, {0.1, 0.01, 0, 0, false}); });
  }
}

TEST_CASE("optimizer kernels: lars_update fast = reference, trust ratios included") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool adapt : {true, false})
      for (bool nesterov : {false, true}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(adapt);
        CAPTURE(nesterov);
        std::vector<Tensor> ratios;
        check_parity(dt, [&](Lists& l) {
          const Tensor r = Tensor::empty({static_cast<std::int64_t>(l.params.size())}, DType::f64);
          backend_for(Device::cpu()).lars_update(l.params, l.grads, l.s1, {0.3, 1e-6, 0.9, 0.001, nesterov, adapt}, r);
          ratios.push_back(r);
        });
        REQUIRE(ratios.size() == 2);
        const auto fast = ratios[0].to_vector<double>(), ref = ratios[1].to_vector<double>();
        for (std::size_t i = 0; i < fast.size(); ++i) {
          CHECK(fast[i] == doctest::Approx(ref[i]).epsilon(1e-12));
          if (!adapt) CHECK(fast[i] == 1.0);
        }
      }
  }
}

TEST_CASE("optimizer kernels: adamw_update fast = reference at several steps") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    check_parity(dt, [&](Lists& l) {
      backend_for(Device::cpu()).adamw_update(l.params, l.grads, l.s1, l.s2, {1, 2, 10, 1000}, {1e-3, 0.05, 0.9, 0.999, 1e-8});
    });
  }
}

TEST_CASE("optimizer kernels: one element of each formula by hand") {
  Backend& be = backend_for(Device::cpu());
  SUBCASE("sgd: d = g + λp, b = μb + (1 − τ)d, p = p − ηd") {
    Tensor p = Tensor::full({1}, 2.0, DType::f64), g = Tensor::full({1}, 0.5, DType::f64),
           b = Tensor::full({1}, 1.0, DType::f64);
    be.sgd_update({p}, {g}, {b}, {0}, {0.1, 0.25, 0.9, 0.5, false});
    const double d = 0.5 + 0.25 * 2.0, bb = 0.9 * 1.0 + 0.5 * d;
    CHECK(b.item() == doctest::Approx(bb).epsilon(1e-15));
    CHECK(p.item() == doctest::Approx(2.0 - 0.1 * bb).epsilon(1e-15));
  }
  SUBCASE("lars: r = e‖p‖/‖d‖, v = ηr·d, p = p − v") {
    Tensor p = Tensor::from_vector<double>({3, 4}, {2}), g = Tensor::from_vector<double>({0.6, 0.8}, {2}),
           v = Tensor::zeros({2}, DType::f64), r = Tensor::empty({1}, DType::f64);
    be.lars_update({p}, {g}, {v}, {1.0, 0.0, 0.9, 0.001, false, true}, r);
    CHECK(r.item() == doctest::Approx(0.001 * 5.0 / 1.0).epsilon(1e-15));
    CHECK(p.at({0}) == doctest::Approx(3 - 0.005 * 0.6).epsilon(1e-15));
  }
  SUBCASE("adamw, t = 1: p = p(1 − ηλ) − η·g/(|g| + ε)") {
    Tensor p = Tensor::full({1}, 1.0, DType::f64), g = Tensor::full({1}, -2.0, DType::f64),
           m = Tensor::zeros({1}, DType::f64), v = Tensor::zeros({1}, DType::f64);
    be.adamw_update({p}, {g}, {m}, {v}, {1.0}, {0.01, 0.1, 0.9, 0.999, 1e-8});
    CHECK(p.item() == doctest::Approx(1.0 * (1 - 0.001) + 0.01 * 2.0 / (2.0 + 1e-8)).epsilon(1e-12));
    CHECK(m.item() == doctest::Approx(-0.2).epsilon(1e-15));
  }
}

TEST_CASE("optimizer kernels: mismatched lists are refused, naming what and where") {
  Backend& be = backend_for(Device::cpu());
  Tensor p = Tensor::zeros({3}), g = Tensor::zeros({4}), b = Tensor::zeros({3});
  CHECK_THROWS_WITH_AS(be.sgd_update({p}, {g}, {b}, {1}, {}), doctest::Contains("gradient 0"), Error);
  CHECK_THROWS_WITH_AS(be.sgd_update({p}, {p.clone()}, {b}, {}, {}), doctest::Contains("first_step"), Error);
  CHECK_THROWS_WITH_AS(be.adamw_update({p}, {p.clone()}, {b}, {b.clone()}, {0.0}, {}), doctest::Contains("1-based"), Error);
  CHECK_THROWS_WITH_AS(be.lars_update({p}, {p.clone()}, {b}, {}, Tensor::empty({2}, DType::f64)),
                       doctest::Contains("trust_ratios"), Error);
}
