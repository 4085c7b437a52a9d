// linear.cpp — the fully connected layer, forward and backward side by side.
//
// forward:  y = x·Wᵀ + b            x (N, I), W (O, I), b (O,), y (N, O)
// backward: dx = dy·W,  dW = dyᵀ·x,  db = Σ_n dy
//
// The products run through the backend's matmul (OpenBLAS sgemm/dgemm on the CPU); the
// transposes are strided views that the backend maps to BLAS transpose flags, not copies.
//
// Dimensions: N batch, I input features, O output features.
#include "autograd/nn_ops.h"
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

// A 2-D (R, C) tensor as a rank-3 stack (1, R, C) (a view), optionally transposed.
Tensor stack_of(const Tensor& m, bool transposed) {
  if (transposed) return m.as_strided({1, m.size(1), m.size(0)}, {0, m.stride(1), m.stride(0)}, m.offset());
  return m.as_strided({1, m.size(0), m.size(1)}, {0, m.stride(0), m.stride(1)}, m.offset());
}

// out (R, C) = op(a) · op(b), through the backend.
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const std::int64_t R = ta ? a.size(1) : a.size(0), C = tb ? b.size(0) : b.size(1);
  Tensor out = Tensor::empty({1, R, C}, a.dtype(), a.device());
  backend_for(a).matmul(stack_of(a, ta), stack_of(b, tb), out, 1.0, 0.0);
  return out.view({R, C});
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear";
  CONTRA_CHECK(x.defined() && weight.defined(), op, "x and weight must be defined");
  CONTRA_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), op,
               "needs x (N, in) and weight (out, in) with matching `in`, got x ", shape_str(x.shape()), " and weight ",
               shape_str(weight.shape()), " (hint: flatten the input first)");
  CONTRA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), op, "bias must be (",
               weight.size(0), ",), got ", bias.defined() ? shape_str(bias.shape()) : std::string());
  CONTRA_CHECK(is_floating(x.dtype()) && x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
               op, "x, weight and bias must share one floating dtype, got ", dtype_name(x.dtype()), " and ",
               dtype_name(weight.dtype()));
  const std::int64_t O = weight.size(0);
  Tensor y = product(x, false, weight, true);  // (N, O) = x · Wᵀ
  if (bias.defined()) backend_for(y).binary(BinaryOp::add, y, bias, y);  // + b broadcast over rows (in place)

  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad();
  const bool need_db = bias.defined() && bias.requires_grad();
  // forward: y = x·Wᵀ + b ⇒ dx = dy·W, dW = dyᵀ·x, db = Σ_n dy
  return record(op, {x, weight, bias}, y,
                [x = need_dw ? save(x, op) : autograd::SavedTensor(),
                 w = need_dx ? save(weight, op) : autograd::SavedTensor(), need_dx, need_dw, need_db,
                 O](const Tensor& dy) {
                  Tensor dx = need_dx ? product(dy, false, w.get(), false) : Tensor();   // (N, I)
                  Tensor dw = need_dw ? product(dy, true, x.get(), false) : Tensor();    // (O, I)
                  Tensor db = need_db ? raw::reduce(ReduceOp::sum, dy, {0}).view({O}) : Tensor();  // (O,)
                  return grads({dx, dw, db});
                });
}

}  // namespace contra
