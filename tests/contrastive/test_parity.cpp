// test_parity.cpp — parity with PyTorch (fixtures from scripts/make_contrastive_fixture.py,
// PyTorch 1.13, float64) and fused f32 kernels against the f64 reference over a sweep of
// shapes (suite: parity). No Python is needed: the fixtures are .npy files in the repo. The
// kernels under the losses (row passes, GEMMs, with outputs pre-filled with NaN and garbage)
// are checked against their reference twins by the backend-parity harness (tests/tensor).
#include <doctest/doctest.h>

#include "common.h"
#include "tensor/npy.h"

using namespace contra_test;

namespace {
Tensor fixture(const std::string& name) {
  return load_npy(source_root() + "/tests/contrastive/fixtures/" + name + ".npy");
}
Tensor grad_of(const Tensor& f, const std::function<Tensor(const Tensor&)>& fn) {
  const Tensor x = requires_grad_copy(f);
  return contra::grad(fn(x), {x})[0];
}
double rel_diff(const Tensor& a, const Tensor& b) { return max_abs_diff(a, b) / std::max(1e-12, max_abs(b)); }

}  // namespace

TEST_CASE("parity with PyTorch: NT-Xent (SimCLR) value and gradient") {
  {
    const Tensor f = fixture("nt_xent_f");
    const auto prm = fixture("nt_xent_params").to_vector<double>();
    const ViewLayout L = ViewLayout::for_rows(f.size(0), static_cast<std::int64_t>(prm[1]), "parity");
    REQUIRE(L.N == static_cast<std::int64_t>(prm[0]));
    const double tau = prm[2];
    const double expect = fixture("nt_xent_loss").to_vector<double>()[0];
    const Tensor g = fixture("nt_xent_grad");
    CHECK(nt_xent(f, L, tau).item() == doctest::Approx(expect).epsilon(1e-13));
    CHECK(rel_diff(grad_of(f, [&](const Tensor& x) { return nt_xent(x, L, tau); }), g) < 1e-12);
    BalancedParams p;  // defaults = NT-Xent
    p.temperature = tau;
    CHECK(balanced_loss(f, L, p).loss.item() == doctest::Approx(expect).epsilon(1e-13));
    CHECK(rel_diff(grad_of(f, [&](const Tensor& x) { return balanced_loss(x, L, p).loss; }), g) < 1e-12);
    // float32 fused against the float64 PyTorch values
    const Tensor f32 = f.to(DType::f32);
    CHECK(balanced_loss(f32, L, p).loss.item() == doctest::Approx(expect).epsilon(1e-5));
    CHECK(rel_diff(grad_of(f32, [&](const Tensor& x) { return balanced_loss(x, L, p).loss; }), g) < 1e-4);
  }
}

TEST_CASE("parity with PyTorch: SupCon L_out (SupContrast, contrast_mode='all'), V = 2 and V = 3") {
  {
    for (int v : {2, 3}) {
      const std::string pre = "supcon_v" + std::to_string(v) + "_";
      const Tensor f = fixture(pre + "f");
      const Tensor y = fixture(pre + "labels");
      const auto prm = fixture(pre + "params").to_vector<double>();
      const ViewLayout L = ViewLayout::for_rows(f.size(0), static_cast<std::int64_t>(prm[1]), "parity");
      const double tau = prm[2];
      const double expect = fixture(pre + "loss").to_vector<double>()[0];
      CHECK(supcon_loss(f, L, y, tau).item() == doctest::Approx(expect).epsilon(1e-13));
      CHECK(rel_diff(grad_of(f, [&](const Tensor& x) { return supcon_loss(x, L, y, tau); }), fixture(pre + "grad")) <
            1e-12);
    }
  }
}

TEST_CASE("parity with PyTorch: balanced loss (V = 3, ω, α) — fused and step-by-step") {
  {
    const Tensor f = fixture("balanced_f");
    const auto prm = fixture("balanced_params").to_vector<double>();
    const ViewLayout L = ViewLayout::for_rows(f.size(0), static_cast<std::int64_t>(prm[1]), "parity");
    BalancedParams p;
    p.temperature = prm[2];
    p.attract = prm[3];
    p.repel = prm[4];
    p.positive_weight = prm[5];
    p.pair_weights = fixture("balanced_omega");
    p.anchor_weights = fixture("balanced_alpha");
    const double expect = fixture("balanced_loss").to_vector<double>()[0];
    const Tensor g = fixture("balanced_grad");
    CHECK(balanced_loss(f, L, p).loss.item() == doctest::Approx(expect).epsilon(1e-13));
    CHECK(balanced_loss_reference(f, L, p).item() == doctest::Approx(expect).epsilon(1e-13));
    CHECK(rel_diff(grad_of(f, [&](const Tensor& x) { return balanced_loss(x, L, p).loss; }), g) < 1e-12);
    CHECK(rel_diff(grad_of(f, [&](const Tensor& x) { return balanced_loss_reference(x, L, p); }), g) < 1e-12);
  }
}

TEST_CASE("parity: fused f32 and f64 against the f64 step-by-step reference over a sweep of shapes") {
  {
    int cases = 0;
    for (std::int64_t V : {2, 3, 4})
      for (std::int64_t N : {2, 3, 17, 64})
        for (std::int64_t D : {2, 7, 32}) {
          const ViewLayout L = ViewLayout::for_rows(N * V, V, "sweep");
          const Tensor f = random_embeddings(N * V, D, static_cast<std::uint64_t>(1000 + 100 * V + 10 * N + D));
          BalancedParams p;
          p.temperature = 0.2;
          p.attract = 0.9;
          p.repel = 1.1;
          p.positive_weight = N % 2 ? 0.0 : 0.7;
          const double ref = balanced_loss_reference(f, L, p).item();
          const Tensor gref = grad_of(f, [&](const Tensor& x) { return balanced_loss_reference(x, L, p); });
          for (DType dt : {DType::f64, DType::f32}) {
            const Tensor fx = f.to(dt);
            const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
            CHECK_MESSAGE(balanced_loss(fx, L, p).loss.item() == doctest::Approx(ref).epsilon(tol),
                          "V=" << V << " N=" << N << " D=" << D << " " << std::string(dtype_name(dt)));
            const Tensor g = grad_of(fx, [&](const Tensor& x) { return balanced_loss(x, L, p).loss; });
            CHECK_MESSAGE(rel_diff(g, gref) < (dt == DType::f64 ? 1e-11 : 2e-4),
                          "V=" << V << " N=" << N << " D=" << D << " " << std::string(dtype_name(dt)) << " " << rel_diff(g, gref));
          }
          ++cases;
        }
    CHECK(cases == 36);
  }
}

TEST_CASE("parity: D = 1 — every z̄ is ±1, the loss is flat in f and both paths give a zero gradient") {
  {
    const ViewLayout L = ViewLayout::for_rows(12, 3, "sweep");
    const Tensor f = random_embeddings(12, 1, 7);
    BalancedParams p;
    for (DType dt : {DType::f64, DType::f32}) {
      const Tensor g = grad_of(f.to(dt), [&](const Tensor& x) { return balanced_loss(x, L, p).loss; });
      CHECK(max_abs(g) < (dt == DType::f64 ? 1e-14 : 1e-6));
      CHECK(balanced_loss(f.to(dt), L, p).loss.item() ==
            doctest::Approx(balanced_loss_reference(f, L, p).item()).epsilon(dt == DType::f64 ? 1e-13 : 1e-5));
    }
  }
}
