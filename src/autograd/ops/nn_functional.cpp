// nn_functional.cpp — softmax family, cross-entropy and L2 normalisation.
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {
Tensor softmax_last(const Tensor& x, bool log) {
  CONTRA_CHECK(x.dim() >= 1, log ? "log_softmax" : "softmax", "needs a tensor of rank ≥ 1");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x).softmax(x, y, log);
  if (log) {
    // forward: y = x − log Σ eˣ ⇒ dx = g − softmax(x) · Σ g
    return record("log_softmax", {x}, y, [y = save(y, "log_softmax")](const Tensor& g) {
      return grads({g - exp(y.get()) * sum(g, {-1}, true)});
    });
  }
  // forward: y = eˣ / Σ eˣ ⇒ dx = y · (g − Σ g·y)
  return record("softmax", {x}, y, [y = save(y, "softmax")](const Tensor& g) {
    const Tensor yv = y.get();
    return grads({yv * (g - sum(g * yv, {-1}, true))});
  });
}

Tensor softmax_along(const Tensor& x, std::int64_t dim, bool log) {
  const int d = wrap_dim(dim, x.dim(), log ? "log_softmax" : "softmax");
  if (d == x.dim() - 1) return softmax_last(x, log);
  return transpose(softmax_last(transpose(x, d, -1), log), d, -1);
}
}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_along(x, dim, false); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) { return softmax_along(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight) {
  CONTRA_CHECK(logits.dim() == 2, "cross_entropy", "logits must be (N, C), got ", shape_str(logits.shape()));
  const std::int64_t N = logits.size(0), C = logits.size(1);
  CONTRA_CHECK(N > 0, "cross_entropy", "empty batch");
  CONTRA_CHECK(target.dtype() == DType::i64 && target.dim() == 1 && target.size(0) == N, "cross_entropy",
               "target must be i64 of shape (", N, ",), got ", dtype_name(target.dtype()), " ",
               shape_str(target.shape()));
  for (auto y : target.to_vector<std::int64_t>())
    CONTRA_CHECK(y >= 0 && y < C, "cross_entropy", "target class ", y, " is out of range for ", C, " classes");
  // ℓ_i = −log softmax(x_i)_{y_i};  L = Σ w_{y_i} ℓ_i / Σ w_{y_i}   (w = 1 without weights)
  const Tensor logp = log_softmax(logits, -1);                                      // (N, C)
  const Tensor picked = reshape(gather(logp, 1, target.view({N, 1})), {N});          // (N,)
  if (!weight.defined()) return neg(mean(picked));
  CONTRA_CHECK(weight.dim() == 1 && weight.size(0) == C, "cross_entropy", "weight must have shape (", C,
               ",), got ", shape_str(weight.shape()));
  const Tensor w = index_select(cast(weight, logits.dtype()), 0, target);           // (N,)
  return neg(sum(picked * w)) / sum(w);
}

Tensor l2_normalize(const Tensor& x, std::int64_t dim, double eps) {
  const int d = wrap_dim(dim, x.dim(), "l2_normalize");
  // forward: n = ‖x‖ along d, z = x / max(n, ε)
  const Tensor norm = raw::unary(UnaryOp::sqrt, raw::reduce(ReduceOp::sum, raw::unary(UnaryOp::square, x), {d}));
  const Tensor denom = raw::binary(BinaryOp::maximum, norm, raw::scalar_like(norm, eps));
  Tensor z = raw::binary(BinaryOp::div, x, denom);
  // backward: dx = (I − z zᵀ) g / n  where n > ε;  dx = g / ε where the norm was clamped
  return record("l2_normalize", {x}, z, [z = save(z, "l2_normalize"), norm = save(norm, "l2_normalize"),
                                         denom = save(denom, "l2_normalize"), d, eps](const Tensor& g) {
    const Tensor zv = z.get();
    const Tensor active = raw::binary(BinaryOp::gt, norm.get(), raw::scalar_like(zv, eps));
    const Tensor radial = zv * sum(zv * g, {d}, true) * active;
    return grads({(g - radial) / denom.get()});
  });
}

}  // namespace contra
