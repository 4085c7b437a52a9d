// record.h — how an op records its backward: the helper every ops/*.cpp file uses.
//
//   Tensor exp(const Tensor& x) {
//     Tensor y = raw::unary(UnaryOp::exp, x);
//     return record("exp", {x}, y, [y = save(y, "exp")](const Tensor& g) {
//       return grads(g * y.get());   // forward: y = eˣ ⇒ dx = g · y
//     });
//   }
//
// record() attaches a FunctionNode only when grad mode is on and an input requires a
// gradient; otherwise it returns the output untouched and the lambda is dropped.
#pragma once

#include <initializer_list>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"

namespace contra::autograd {

inline bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
inline bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// Attaches `backward` to `out` as its grad_fn (when needed) and returns `out`.
Tensor record(const char* name, const std::vector<Tensor>& inputs, Tensor out, FunctionNode::Backward backward);

// Under no-grad (inference, and every backward formula, which the engine runs so) record()
// makes no node, so the backward closure that would hold this value is dropped at once:
// nothing is kept, and nothing is counted as a saved activation (the memory report's peak
// would otherwise include the operands of backward formulas such as ReLU's g · 1[y > 0]).
// With grad mode on but no input needing a gradient the closure is dropped too; its values
// are then counted only until record() returns (no memory is kept either way).
inline SavedTensor save(const Tensor& t, const char* op) {
  return GradMode::is_enabled() ? SavedTensor(t, op) : SavedTensor();
}

inline std::vector<Tensor> grads(std::initializer_list<Tensor> g) { return std::vector<Tensor>(g); }

}  // namespace contra::autograd

// Non-recording helpers that allocate the output and call the backend.
namespace contra::raw {

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p = {});
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);  // promotes dtypes
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& axes);  // keepdim shape
Tensor scalar_like(const Tensor& x, double v);  // 0-d tensor of x's dtype, on x's device

}  // namespace contra::raw
