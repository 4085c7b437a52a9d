// Optimizers and LR schedules against PyTorch (SGD, AdamW) and SimCLR's LARS formulas.
// Golden trajectories: scripts/make_optimizer_fixture.py → tests/nn/fixtures/optimizer/.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/adamw.h"
#include "nn/lars.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"
#include "nn_test_util.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::nn;
using contra::nn_test::load_fixture;
using contra::nn_test::max_abs_diff;

namespace {

struct Run {
  Tensor p0, p1;
};

// Three steps of `opt` on the fixture's parameters and gradients, with the fixture's LRs.
template <typename MakeOpt>
Run run_fixture(MakeOpt make, bool split_groups = false) {
  Tensor p0 = load_fixture("optimizer/p0.npy").clone();
  Tensor p1 = load_fixture("optimizer/p1.npy").clone();
  p0.set_requires_grad(true);
  p1.set_requires_grad(true);
  std::vector<ParamGroup> groups;
  if (split_groups) {
    groups = split_decay_groups({{"w", p0}, {"b", p1}}, 0.1, 0.0);
  } else {
    groups = {make_group({{"w", p0}, {"b", p1}}, 0.1, 0.0)};
  }
  auto opt = make(std::move(groups));
  const auto lrs = load_fixture("optimizer/lrs.npy").to_vector<double>();
  for (int t = 0; t < 3; ++t) {
    opt->set_lr(lrs[t]);
    p0.set_grad(load_fixture("optimizer/g0_" + std::to_string(t) + ".npy"));
    p1.set_grad(load_fixture("optimizer/g1_" + std::to_string(t) + ".npy"));
    opt->step();
  }
  return {p0, p1};
}

void check_against(const Run& r, const std::string& name, double tol = 1e-12) {
  CHECK(max_abs_diff(r.p0, load_fixture("optimizer/" + name + "_p0.npy")) < tol);
  CHECK(max_abs_diff(r.p1, load_fixture("optimizer/" + name + "_p1.npy")) < tol);
}

template <typename Opt, typename Options>
auto factory(Options o, double wd) {
  return [o, wd](std::vector<ParamGroup> groups) {
    for (auto& g : groups)
      if (g.adapt) g.weight_decay = wd;
    return std::make_unique<Opt>(std::move(groups), o);
  };
}

}  // namespace

TEST_CASE("SGD matches torch.optim.SGD over three steps (plain, momentum + wd, Nesterov + wd, dampening)") {
  check_against(run_fixture(factory<SGD>(SGDOptions{}, 0.0)), "sgd_plain");
  check_against(run_fixture(factory<SGD>(SGDOptions{0.9, 0.0, false}, 5e-4)), "sgd_momentum_wd");
  check_against(run_fixture(factory<SGD>(SGDOptions{0.9, 0.0, true}, 1e-2)), "sgd_nesterov_wd");
  check_against(run_fixture(factory<SGD>(SGDOptions{0.8, 0.3, false}, 0.0)), "sgd_dampening");
}

TEST_CASE("AdamW matches torch.optim.AdamW over three steps") {
  check_against(run_fixture(factory<AdamW>(AdamWOptions{0.9, 0.999, 1e-8}, 0.05)), "adamw");
  check_against(run_fixture(factory<AdamW>(AdamWOptions{0.5, 0.9, 1e-3}, 0.0)), "adamw_betas");
}

TEST_CASE("LARS follows SimCLR's lars_optimizer.py; rank-1 parameters skip decay and adaptation") {
  check_against(run_fixture(factory<LARS>(LARSOptions{0.9, 0.001, false}, 1e-4), true), "lars");
  check_against(run_fixture(factory<LARS>(LARSOptions{0.9, 0.01, true}, 1e-2), true), "lars_nesterov");
}

TEST_CASE("LARS one step by hand") {
  // p = (3, 4): ‖p‖ = 5; g = (0.6, 0.8) + λp with λ = 0.1 → d = (0.9, 1.2), ‖d‖ = 1.5;
  // r = 0.001 · 5 / 1.5 = 1/300; v = η r d = 0.5/300 · d; p' = p − v.
  Tensor p = Tensor::from_vector<double>({3, 4}, {1, 2});
  Tensor b = Tensor::from_vector<double>({1, -1}, {2});
  p.set_requires_grad(true);
  b.set_requires_grad(true);
  LARS opt(split_decay_groups({{"w", p}, {"bias", b}}, 0.5, 0.1), LARSOptions{});
  CHECK(opt.param_groups()[0].names == std::vector<std::string>{"w"});
  CHECK(opt.param_groups()[1].names == std::vector<std::string>{"bias"});
  p.set_grad(Tensor::from_vector<double>({0.6, 0.8}, {1, 2}));
  b.set_grad(Tensor::from_vector<double>({2, 2}, {2}));
  const auto v0 = p.version();
  opt.step();
  CHECK(p.version() > v0);
  CHECK(opt.last_trust_ratio(0) == doctest::Approx(1.0 / 300).epsilon(1e-12));
  CHECK(opt.last_trust_ratio(1) == 1.0);
  CHECK(p.at({0, 0}) == doctest::Approx(3 - 0.5 / 300 * 0.9).epsilon(1e-14));
  CHECK(p.at({0, 1}) == doctest::Approx(4 - 0.5 / 300 * 1.2).epsilon(1e-14));
  // Excluded: no decay, no adaptation: b' = b − η g.
  CHECK(b.at({0}) == doctest::Approx(1 - 0.5 * 2).epsilon(1e-14));
  CHECK(b.at({1}) == doctest::Approx(-1 - 0.5 * 2).epsilon(1e-14));
}

TEST_CASE("optimizers work on float32 parameters updated by backward, and skip parameters without gradients") {
  Generator gen(3);
  Tensor w = Tensor::randn({4, 3}, gen);
  Tensor unused = Tensor::randn({2}, gen);
  w.set_requires_grad(true);
  unused.set_requires_grad(true);
  const auto before = unused.to_vector<float>();
  const double initial = sum(square(w)).item();
  SGD opt({make_group({{"w", w}, {"unused", unused}}, 0.1, 0.0)}, SGDOptions{0.9});
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    Tensor loss = sum(square(w));  // L = Σ w², dL/dw = 2w
    backward(loss);
    opt.step();
  }
  CHECK(unused.to_vector<float>() == before);
  // 1-d check of the same recursion: w₅/w₀ = −0.58 (w ← w − 0.1·b, b ← 0.9·b + 2w).
  CHECK(sum(square(w)).item() == doctest::Approx(initial * 0.58042 * 0.58042).epsilon(1e-4));
  CHECK(opt.steps_taken() == 5);
  CHECK(opt.state_tensors().size() == 1);  // only w has a momentum buffer
}

TEST_CASE("optimizer state save and restore continues bit-identically") {
  auto make_params = [] {
    Tensor p0 = load_fixture("optimizer/p0.npy").clone();
    Tensor p1 = load_fixture("optimizer/p1.npy").clone();
    p0.set_requires_grad(true);
    p1.set_requires_grad(true);
    return std::pair{p0, p1};
  };
  auto grads_at = [](int t) {
    return std::pair{load_fixture("optimizer/g0_" + std::to_string(t % 3) + ".npy"),
                     load_fixture("optimizer/g1_" + std::to_string(t % 3) + ".npy")};
  };
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    auto make = [&](Tensor a, Tensor b) -> std::unique_ptr<Optimizer> {
      auto groups = split_decay_groups({{"w", a}, {"b", b}}, 0.05, 1e-3);
      if (kind == 0) return std::make_unique<SGD>(groups, SGDOptions{0.9, 0, true});
      if (kind == 1) return std::make_unique<LARS>(groups, LARSOptions{});
      return std::make_unique<AdamW>(groups, AdamWOptions{});
    };
    auto [a, b] = make_params();
    auto opt = make(a, b);
    auto [c, d] = make_params();
    auto opt2 = make(c, d);
    for (int t = 0; t < 6; ++t) {
      auto [g0, g1] = grads_at(t);
      a.set_grad(g0);
      b.set_grad(g1);
      opt->step();
      if (t == 2) {  // copy params and optimizer state into the second run
        c.copy_(a);
        d.copy_(b);
        opt2->restore_state(opt->state_json(), opt->state_tensors());
      }
      if (t > 2) {
        c.set_grad(g0);
        d.set_grad(g1);
        opt2->step();
      }
    }
    CHECK(a.to_vector<double>() == c.to_vector<double>());
    CHECK(b.to_vector<double>() == d.to_vector<double>());
    CHECK(opt2->steps_taken() == 6);
  }
}

TEST_CASE("optimizer restore refuses a mismatched state") {
  Tensor a = Tensor::zeros({2, 2}, DType::f64);
  a.set_requires_grad(true);
  SGD sgd({make_group({{"a", a}}, 0.1, 0)}, SGDOptions{0.9});
  a.set_grad(Tensor::ones({2, 2}, DType::f64));
  sgd.step();
  Tensor b = Tensor::zeros({3}, DType::f64);
  b.set_requires_grad(true);
  SGD other({make_group({{"b", b}}, 0.1, 0)}, SGDOptions{0.9});
  CHECK_THROWS_WITH_AS(other.restore_state(sgd.state_json(), sgd.state_tensors()), doctest::Contains("shape"), Error);
  AdamW adam({make_group({{"a", a}}, 0.1, 0)}, AdamWOptions{});
  CHECK_THROWS_WITH_AS(adam.restore_state(sgd.state_json(), sgd.state_tensors()), doctest::Contains("'SGD'"), Error);
}

TEST_CASE("warm-up + cosine schedule values") {
  WarmupCosineSchedule s(1.0, 10, 110, 0.01);
  CHECK(s(0) == 0.0);
  CHECK(s(5) == doctest::Approx(0.5));
  CHECK(s(10) == doctest::Approx(1.0));
  CHECK(s(60) == doctest::Approx(0.01 + 0.99 * 0.5));
  CHECK(s(35) == doctest::Approx(0.01 + 0.99 * 0.5 * (1 + std::cos(std::numbers::pi * 0.25))));
  CHECK(s(110) == doctest::Approx(0.01));
  CHECK(s(1000) == doctest::Approx(0.01));
  double prev = 2;
  for (int i = 10; i <= 110; ++i) {
    CHECK(s(i) <= prev);
    prev = s(i);
  }
  WarmupCosineSchedule no_warmup(0.3, 0, 100);
  CHECK(no_warmup(0) == doctest::Approx(0.3));
  CHECK(no_warmup(100) == 0.0);
  CHECK_THROWS_AS(WarmupCosineSchedule(1.0, 20, 10), Error);
  CHECK_THROWS_AS(WarmupCosineSchedule(0.1, 0, 10, 0.5), Error);
}
