// checkpoint.cpp — see checkpoint.h.
#include "autograd/checkpoint.h"

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/record.h"

namespace contra::autograd {

namespace {
thread_local int t_recomputing = 0;

struct RecomputeGuard {
  RecomputeGuard() { ++t_recomputing; }
  ~RecomputeGuard() { --t_recomputing; }
  RecomputeGuard(const RecomputeGuard&) = delete;
  RecomputeGuard& operator=(const RecomputeGuard&) = delete;
};
}  // namespace

bool is_recomputing() { return t_recomputing > 0; }

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const std::vector<Tensor>& params) {
  CONTRA_CHECK(x.defined(), "checkpoint", "the input must be defined");
  std::vector<Tensor> inputs{x};
  inputs.insert(inputs.end(), params.begin(), params.end());
  Tensor y;
  {
    NoGradGuard no_grad;  // forward: nothing inside f is recorded or saved
    y = f(x);
  }
  if (!any_requires_grad(inputs)) return y;
  // Edge i + 1 is params[i]; the inner run's gradients for x and the parameters that need
  // one come back as this node's gradients, so the engine accumulates them like any other
  // (and contra::grad, which captures instead of accumulating, works through checkpoints).
  std::vector<std::size_t> wanted;  // indices into inputs whose gradient is returned
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) wanted.push_back(i);
  return record("checkpoint", inputs, y,
                [f, xs = save(x, "checkpoint"), params, wanted, n = inputs.size()](const Tensor& g) {
                  // backward: ŷ = f(x̃) recomputed with the graph ⇒ (dx, dθ) = ∂ŷ/∂(x̃, θ)ᵀ·g
                  Tensor xt = xs.get().detach();
                  const bool need_dx = !wanted.empty() && wanted.front() == 0;
                  if (need_dx) xt.set_requires_grad(true);
                  Tensor y_again;
                  {
                    EnableGradGuard grad_on;
                    RecomputeGuard recomputing;
                    y_again = f(xt);
                  }
                  std::vector<Tensor> targets;
                  for (std::size_t i : wanted) targets.push_back(i == 0 ? xt : params[i - 1]);
                  std::vector<Tensor> out(n);
                  if (!y_again.requires_grad()) return out;  // f ignored every input that needs a gradient
                  const std::vector<Tensor> d = grad(y_again, targets, g);
                  for (std::size_t k = 0; k < wanted.size(); ++k) out[wanted[k]] = d[k];
                  return out;
                });
}

}  // namespace contra::autograd
