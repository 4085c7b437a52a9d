// sync_batch_norm.cpp — BN with global-batch statistics. See sync_batch_norm.h.
#include "dist/sync_batch_norm.h"

#include <algorithm>

#include "autograd/checkpoint.h"
#include "autograd/grad_mode.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "dist/differentiable_collectives.h"
#include "nn/batch_norm.h"
#include "tensor/error.h"

namespace contra::dist {

namespace {

// The BN kernels' per-channel sums, all-reduced over the communicator's ranks: one
// all_reduce_sum of a host f64 buffer per call. Rank 0 holds the global batch's first
// sample (every rank's shard starts at r·n: dist_test_util.h, train/data_parallel.h).
class CommunicatorReduction final : public BatchNormReduction {
 public:
  explicit CommunicatorReduction(Communicator& comm) : comm_(comm) {}
  void sum(double* values, std::int64_t n) override {
    const Tensor buffer = Tensor::empty({n}, DType::f64);
    std::copy(values, values + n, buffer.data<double>());
    comm_.all_reduce_sum(buffer);
    std::copy(buffer.data<double>(), buffer.data<double>() + n, values);
  }
  bool holds_first_sample() const override { return comm_.rank() == 0; }

 private:
  Communicator& comm_;
};

}  // namespace

Tensor sync_batch_norm(Communicator& comm, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double momentum, double eps) {
  CONTRA_CHECK(x.dim() == 2 || x.dim() == 4, "sync_batch_norm", "expects (N, C) or (N, C, H, W), got ",
               shape_str(x.shape()));
  if (!backend_for(x).supports_batch_norm_reduction(x))
    return sync_batch_norm_composed(comm, x, weight, bias, running_mean, running_var, momentum, eps);
  return batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true, momentum, eps,
                    std::make_shared<CommunicatorReduction>(comm));
}

Tensor sync_batch_norm_composed(Communicator& comm, const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const Tensor& running_mean, const Tensor& running_var, double momentum,
                                double eps) {
  const char* where = "sync_batch_norm_composed";
  CONTRA_CHECK(x.dim() == 2 || x.dim() == 4, where, "expects (N, C) or (N, C, H, W), got ", shape_str(x.shape()));
  const std::int64_t C = x.size(1);
  const std::vector<std::int64_t> axes = x.dim() == 2 ? std::vector<std::int64_t>{0}
                                                      : std::vector<std::int64_t>{0, 2, 3};
  const Shape channel = x.dim() == 2 ? Shape{1, C} : Shape{1, C, 1, 1};  // broadcast shape of (C,)
  // n = Σ_r n_r
  const Tensor count = Tensor::full({1}, static_cast<double>(x.numel() / C), DType::f64);
  comm.all_reduce_sum(count);
  const double n = count.item();
  CONTRA_CHECK(n > 1, where, "training needs more than one value per channel over the global batch, got n = ", n);
  // μ = (1/n) Σ_global x                                                       (C,)
  const Tensor mu = scale(all_reduce_sum(comm, sum(x, axes)), 1.0 / n);
  const Tensor centred = x - reshape(mu, channel);                              // x − μ
  // σ² = (1/n) Σ_global (x − μ)²                                               (C,)
  const Tensor var = scale(all_reduce_sum(comm, sum(square(centred), axes)), 1.0 / n);
  const Tensor x_hat = centred / reshape(sqrt(add_scalar(var, eps)), channel);  // (x − μ)/√(σ² + ε)
  Tensor y = x_hat;
  if (weight.defined()) y = y * reshape(weight, channel);  // γ x̂
  if (bias.defined()) y = y + reshape(bias, channel);      // + β
  // Updated once per batch: not again when activation checkpointing recomputes this forward.
  if (running_mean.defined() && !autograd::is_recomputing()) {
    autograd::NoGradGuard no_grad;
    // running ← (1 − m) running + m · batch  (unbiased variance σ² n/(n − 1))
    running_mean.copy_(scale(running_mean, 1.0 - momentum) + scale(mu.detach().to(running_mean.dtype()), momentum));
    running_var.copy_(scale(running_var, 1.0 - momentum) +
                      scale(var.detach().to(running_var.dtype()), momentum * n / (n - 1.0)));
  }
  return y;
}

std::int64_t synchronise_batch_norms(nn::Module& root, std::shared_ptr<Communicator> comm) {
  CONTRA_CHECK(comm != nullptr, "synchronise_batch_norms", "needs a communicator (dist/world.h)");
  auto install = [&](nn::Module& m) -> std::int64_t {
    auto* bn = dynamic_cast<nn::BatchNorm*>(&m);
    if (!bn) return 0;
    bn->set_training_forward([comm](const Tensor& x, nn::BatchNorm& layer) {
      return sync_batch_norm(*comm, x, layer.weight, layer.bias, layer.running_mean, layer.running_var,
                             layer.options().momentum, layer.options().eps);
    });
    return 1;
  };
  std::int64_t count = install(root);
  for (auto& [name, child] : root.named_modules()) count += install(*child);
  return count;
}

}  // namespace contra::dist
