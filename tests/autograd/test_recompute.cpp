// Recomputable saved values (autograd/node.h: mark_recomputable): a batch norm's output and
// a ReLU of it are saved as recipes, not storages; the backward gets the same bits, and the
// storage is gone after the forward.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/generator.h"

using namespace contra;

namespace {

struct Result {
  std::vector<double> loss, dw1, dw2, dgamma, dbeta;
  std::size_t saved_after_forward = 0;  // activation bytes the graph holds after the forward
  bool relu_output_alive = false;       // the ReLU output's storage after the forward's handles went
};

// x → conv1 → BN (batch statistics) → ReLU → conv2 → L = Σ y², the BasicBlock's first half.
// x (N, C, H, W) needs no gradient: conv1 saves it; BN saves its input; the ReLU output
// (ReLU's mask and conv2's input) is the value a recipe may replace.
Result run(bool recompute, DType dt) {
  autograd::set_recompute_saved(recompute);
  Generator gen(3);
  const std::int64_t N = 4, C = 3, P = 5, H = 6, W = 6;
  const Tensor x = Tensor::randn({N, C, H, W}, gen, dt);
  Tensor w1 = Tensor::randn({P, C, 3, 3}, gen, dt), w2 = Tensor::randn({P, P, 3, 3}, gen, dt);
  Tensor gamma = Tensor::rand({P}, gen, dt) + 0.5, beta = Tensor::randn({P}, gen, dt);
  for (Tensor* t : {&w1, &w2, &gamma, &beta}) t->set_requires_grad(true);
  const Tensor rm = Tensor::zeros({P}, dt), rv = Tensor::ones({P}, dt);
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};

  const std::size_t before = autograd::saved_activation_bytes();
  Result r;
  Tensor loss;
  std::weak_ptr<Storage> relu_storage;
  {
    const Tensor z = relu(batch_norm(conv2d(x, w1, Tensor(), p), gamma, beta, rm, rv, true));  // (N, P, H, W)
    relu_storage = z.storage();
    const Tensor y = conv2d(z, w2, Tensor(), p);
    loss = sum(y * y);
  }
  r.saved_after_forward = autograd::saved_activation_bytes() - before;
  r.relu_output_alive = !relu_storage.expired();
  backward(loss);
  r.loss = loss.to(DType::f64).to_vector<double>();
  r.dw1 = w1.grad().to(DType::f64).to_vector<double>();
  r.dw2 = w2.grad().to(DType::f64).to_vector<double>();
  r.dgamma = gamma.grad().to(DType::f64).to_vector<double>();
  r.dbeta = beta.grad().to(DType::f64).to_vector<double>();
  autograd::set_recompute_saved(true);
  return r;
}

}  // namespace

TEST_CASE("recomputed BN + ReLU outputs give the kept graph's gradients bit for bit, without keeping them") {
  for (DType dt : {DType::f32, DType::f64}) {  // f32: the fast CPU kernels; f64: the reference ones
    CAPTURE(std::string(dtype_name(dt)));
    const Result kept = run(false, dt), recomputed = run(true, dt);
    CAPTURE(kept.saved_after_forward);
    CAPTURE(recomputed.saved_after_forward);
    CHECK(recomputed.loss == kept.loss);
    CHECK(recomputed.dw1 == kept.dw1);
    CHECK(recomputed.dw2 == kept.dw2);
    CHECK(recomputed.dgamma == kept.dgamma);
    CHECK(recomputed.dbeta == kept.dbeta);
    // Kept: x, the conv1 output and the ReLU output; recomputed: x and the conv1 output.
    const std::size_t relu_bytes = 4 * 5 * 6 * 6 * dtype_size(dt);
    CHECK(kept.saved_after_forward == recomputed.saved_after_forward + relu_bytes);
    CHECK(kept.relu_output_alive);
    CHECK_FALSE(recomputed.relu_output_alive);
  }
}

TEST_CASE("only the marked tensor itself, unmodified, is saved as a recipe") {
  Generator gen(4);
  const Tensor t = Tensor::randn({2, 3}, gen);
  auto fn = std::make_shared<const autograd::RecomputeFn>([t] { return t.clone(); });
  autograd::mark_recomputable(t, fn);
  CHECK(autograd::recompute_of(t) == fn);
  CHECK(autograd::recompute_of(t.view({3, 2})) == nullptr);           // another shape of the storage
  CHECK(autograd::recompute_of(t.as_strided({3}, {1}, 1)) == nullptr);  // part of it
  t.bump_version();                                                     // modified in place since
  CHECK(autograd::recompute_of(t) == nullptr);

  const Tensor u = Tensor::randn({2, 3}, gen);
  autograd::set_recompute_saved(false);
  autograd::mark_recomputable(u, fn);
  CHECK(autograd::recompute_of(u) == nullptr);  // switched off: nothing is marked
  autograd::set_recompute_saved(true);
  CHECK(autograd::recompute_of(u) == nullptr);
}

TEST_CASE("eval-mode batch norm and no-grad forwards mark nothing") {
  Generator gen(5);
  const Tensor x = Tensor::randn({4, 3, 2, 2}, gen);
  Tensor gamma = Tensor::ones({3}), beta = Tensor::zeros({3});
  gamma.set_requires_grad(true);
  beta.set_requires_grad(true);
  const Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK(autograd::recompute_of(batch_norm(x, gamma, beta, rm, rv, /*training=*/false)) == nullptr);
  CHECK(autograd::recompute_of(batch_norm(x, gamma, beta, rm, rv, true)) != nullptr);
  CHECK(autograd::recompute_of(batch_norm(x, gamma.detach(), beta.detach(), rm, rv, true)) == nullptr);
}
