// batch_norm.cpp — batch normalisation (PyTorch's BatchNorm1d/2d), forward and backward.
//
// x is (N, C) or (N, C, H, W), seen as (N, C, S), M = N·S values per channel c:
//   training:  μ = Σx/M, σ² = Σ(x − μ)²/M (biased), r = 1/√(σ² + ε), x̂ = (x − μ)·r, y = γ·x̂ + β
//              running_mean ← (1−m)·running_mean + m·μ
//              running_var  ← (1−m)·running_var  + m·σ²·M/(M−1)   (unbiased, as PyTorch)
//   eval:      the same y with μ, σ² = running_mean, running_var (constants)
// backward (sums over N and S, per channel):
//   dβ = Σ dy,  dγ = Σ dy·x̂
//   training:  dx = γ·r/M · (M·dy − dβ − x̂·dγ)   (μ and σ² depend on x)
//   eval:      dx = γ·r · dy
// Synchronised (a BatchNormReduction): the same with every sum over N and S taken over the
// global batch of all processes and M the global count (inside the kernels; dγ and dβ stay
// this process's part).
//
// Dimensions: N batch, C channels, S = H·W (1 for 2-D input), M = N·S.
#include <algorithm>
#include <memory>

#include "autograd/checkpoint.h"
#include "autograd/grad_mode.h"
#include "autograd/nn_ops.h"
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

void check_vec(const Tensor& t, std::int64_t C, const char* what) {
  CONTRA_CHECK(!t.defined() || (t.dim() == 1 && t.size(0) == C), "batch_norm", what, " must be (", C, ",), got ",
               t.defined() ? shape_str(t.shape()) : std::string());
}

// running ← (1 − m)·running + m·batch, in place, not recorded.
void update_running(const Tensor& running, const Tensor& batch, double momentum) {
  autograd::NoGradGuard no_grad;
  const Tensor updated = raw::binary(BinaryOp::add, raw::unary(UnaryOp::affine, running, {1.0 - momentum, 0.0}),
                                     raw::unary(UnaryOp::affine, batch.to(running.dtype()), {momentum, 0.0}));
  running.copy_(updated);
}

// Synchronised BN's recomputation (mark_recomputable below) must give the first forward's
// bits without communicating again: the first forward records the totals its kernel got
// from the processes, the recomputation's kernel is handed the same totals back.
using SumLog = std::vector<std::vector<double>>;

class RecordingReduction final : public BatchNormReduction {
 public:
  RecordingReduction(BatchNormReduction& inner, SumLog& log) : inner_(inner), log_(log) {}
  void sum(double* values, std::int64_t n) override {
    inner_.sum(values, n);
    log_.emplace_back(values, values + n);
  }
  bool holds_first_sample() const override { return inner_.holds_first_sample(); }

 private:
  BatchNormReduction& inner_;
  SumLog& log_;
};

class ReplayedReduction final : public BatchNormReduction {
 public:
  ReplayedReduction(const SumLog& log, bool first) : log_(log), first_(first) {}
  void sum(double* values, std::int64_t n) override {
    CONTRA_ASSERT(next_ < log_.size() && static_cast<std::int64_t>(log_[next_].size()) == n,
                  "batch_norm recomputation: the kernel asked for other sums than its first forward");
    std::copy(log_[next_].begin(), log_[next_].end(), values);
    ++next_;
  }
  bool holds_first_sample() const override { return first_; }

 private:
  const SumLog& log_;
  size_t next_ = 0;
  bool first_;
};

}  // namespace

Tensor batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps,
                  std::shared_ptr<BatchNormReduction> reduction) {
  const char* op = "batch_norm";
  CONTRA_CHECK(x_in.defined() && (x_in.dim() == 2 || x_in.dim() == 4), op, "x must be (N, C) or (N, C, H, W), got ",
               x_in.defined() ? shape_str(x_in.shape()) : std::string("undefined"));
  CONTRA_CHECK(is_floating(x_in.dtype()), op, "x must be floating, got ", dtype_name(x_in.dtype()));
  const std::int64_t C = x_in.size(1);
  check_vec(weight, C, "weight");
  check_vec(bias, C, "bias");
  check_vec(running_mean, C, "running_mean");
  check_vec(running_var, C, "running_var");
  CONTRA_CHECK(running_mean.defined() == running_var.defined(), op,
               "running_mean and running_var must be both defined or both undefined");
  CONTRA_CHECK((!weight.defined() || weight.dtype() == x_in.dtype()) && (!bias.defined() || bias.dtype() == x_in.dtype()),
               op, "weight and bias must have x's dtype ", dtype_name(x_in.dtype()));
  CONTRA_CHECK(eps > 0.0 && momentum >= 0.0 && momentum <= 1.0, op, "needs eps > 0 and momentum in [0, 1], got eps ",
               eps, " momentum ", momentum);

  const Tensor x = x_in.contiguous();  // (N, C[, H, W])
  const DType dt = x.dtype();
  const std::int64_t M = x.numel() / std::max<std::int64_t>(C, 1);
  // The kernels take γ and β together: a missing one becomes the constant 1 or 0.
  const bool affine = weight.defined() || bias.defined();
  const Tensor gamma = weight.defined() ? weight.contiguous() : affine ? Tensor::ones({C}, dt, x.device()) : Tensor();
  const Tensor beta = bias.defined() ? bias.contiguous() : affine ? Tensor::zeros({C}, dt, x.device()) : Tensor();
  const bool batch_stats = training || !running_mean.defined();
  // y may be recomputed in the backward (the recipe below); with a reduction, from the
  // totals recorded here
  const bool will_recompute =
      batch_stats && x.device() == Device::cpu() && autograd::any_requires_grad({x_in, weight, bias});
  const auto sum_log = reduction && will_recompute ? std::make_shared<SumLog>() : nullptr;
  Backend& be = backend_for(x);
  CONTRA_CHECK(!reduction || training, op, "a BatchNormReduction (synchronised BN) needs training mode");
  CONTRA_CHECK_HINT(!reduction || be.supports_batch_norm_reduction(x), op,
                    "use dist::sync_batch_norm, which falls back to composed ops there",
                    "the ", x.device().str(), " ", dtype_name(dt), " batch-norm kernel cannot take a BatchNormReduction");
  Tensor y = Tensor::empty(x.shape(), dt, x.device());
  Tensor mean, var;  // (C,) the statistics y was normalised with
  if (batch_stats) {
    CONTRA_CHECK_HINT(M > 1 || reduction, op, "use a batch of more than one sample (or eval mode)",
                      "expected more than 1 value per channel when training, got input ", shape_str(x.shape()));
    mean = Tensor::empty({C}, dt, x.device());
    var = Tensor::empty({C}, dt, x.device());
    double n = static_cast<double>(M);  // the count, over every process when synchronised
    if (reduction && will_recompute) {
      RecordingReduction recording(*reduction, *sum_log);
      be.batch_norm_forward_training(x, gamma, beta, eps, y, mean, var, &recording);
      n = recording.count;
    } else {
      be.batch_norm_forward_training(x, gamma, beta, eps, y, mean, var, reduction.get());
      if (reduction) n = reduction->count;
    }
    // A checkpoint's recomputation (autograd/checkpoint.h) sees the same batch again: the
    // running statistics were updated by its first forward and are left alone.
    if (training && running_mean.defined() && !autograd::is_recomputing()) {
      CONTRA_CHECK(n > 1, op, "training needs more than one value per channel over the global batch, got ", n);
      update_running(running_mean, mean, momentum);
      // σ²_unbiased = σ²·n/(n−1)
      update_running(running_var, raw::unary(UnaryOp::affine, var, {n / (n - 1), 0.0}), momentum);
    }
  } else {
    // Copies: the running buffers may be updated in place before this graph's backward.
    mean = running_mean.to(dt).contiguous().clone();
    var = running_var.to(dt).contiguous().clone();
    be.batch_norm_forward_inference(x, gamma, beta, mean, var, eps, y);
  }

  // With batch statistics the output is a function of x, γ, β alone, which the graph keeps
  // anyway (x for the backward, γ and β as parameters): a consumer that saves y (ReLU, the
  // next convolution) may keep this recipe instead of y (node.h: mark_recomputable). Same
  // kernel on the same input, so the same bits; the CPU kernels' reductions run in a fixed
  // order (other devices: not marked).
  std::shared_ptr<const autograd::RecomputeFn> recipe;  // kept alive by the backward below
  if (will_recompute) {
    const bool first = reduction && reduction->holds_first_sample();
    recipe = std::make_shared<const autograd::RecomputeFn>([xs = save(x, op), gs = save(gamma, op),
                                                            bs = save(beta, op), eps, sum_log, first]() {
          const Tensor xv = xs.get();
          const std::int64_t channels = xv.size(1);
          Tensor out = Tensor::empty(xv.shape(), xv.dtype(), xv.device());
          Tensor mu = Tensor::empty({channels}, xv.dtype(), xv.device());
          Tensor sigma2 = Tensor::empty({channels}, xv.dtype(), xv.device());
          if (sum_log) {  // synchronised: the first forward's totals, no communication
            ReplayedReduction replay(*sum_log, first);
            backend_for(xv).batch_norm_forward_training(xv, gs.get(), bs.get(), eps, out, mu, sigma2, &replay);
          } else {
            backend_for(xv).batch_norm_forward_training(xv, gs.get(), bs.get(), eps, out, mu, sigma2);
          }
          return out;
        });
    autograd::mark_recomputable(y, recipe);
  }

  const bool need_dw = weight.defined() && weight.requires_grad();
  const bool need_db = bias.defined() && bias.requires_grad();
  // forward: y = γ·(x − μ)·r + β ⇒ dβ = Σdy, dγ = Σdy·x̂,
  //          dx = γ·r/M·(M·dy − dβ − x̂·dγ) with batch statistics, γ·r·dy with fixed ones
  return record(op, {x_in, weight, bias}, y,
                [x = save(x, op), gamma = affine ? save(gamma, op) : autograd::SavedTensor(), mean, var, eps,
                 batch_stats, affine, need_dw, need_db, C, recipe, reduction](const Tensor& g) {
                  (void)recipe;  // held, not used: y's mark lives as long as this node
                  const Tensor dy = g.contiguous();
                  const Tensor xv = x.get();
                  Tensor dx = Tensor::empty(xv.shape(), xv.dtype(), xv.device());
                  Tensor dgamma = affine ? Tensor::empty({C}, xv.dtype(), xv.device()) : Tensor();
                  Tensor dbeta = affine ? Tensor::empty({C}, xv.dtype(), xv.device()) : Tensor();
                  backend_for(dy).batch_norm_backward(dy, xv, affine ? gamma.get() : Tensor(), mean, var, eps,
                                                      batch_stats, dx, dgamma, dbeta, reduction.get());
                  return grads({dx, need_dw ? dgamma : Tensor(), need_db ? dbeta : Tensor()});
                });
}

}  // namespace contra
