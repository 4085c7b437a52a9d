// checkpoint.h — activation checkpointing: trade a second forward for the saved activations.
//
//   y = checkpoint(f, x, params)
//
// forward:  y = f(x) computed with grad mode off, so none of f's intermediate tensors are
//           saved; only x is (a SavedTensor, version-checked like any other).
// backward: recompute ŷ = f(x̃) with grad mode on, from x̃ = detach(x) requiring a gradient,
//           then run the engine on ŷ with dL/dŷ = dL/dy, capturing (not accumulating) the
//           gradients for x̃ and the parameters: they are this node's gradients for x and
//           the parameters, which the outer engine accumulates as in the plain graph (so
//           contra::grad works through checkpoints too).
//
// f must compute the same values both times: it must be deterministic (no RNG draws; none
// of contra's ResNet layers draws) and must not depend on state it changes. Batch norm
// updates its running statistics in the first forward only: while the recomputation runs,
// is_recomputing() is true and batch_norm leaves the running buffers alone.
//
// With the same kernels and threads the gradients are bit-identical to the plain graph's as
// long as every tensor inside f that feeds several ops receives at most two gradient
// contributions (floating-point addition of two terms is commutative, so the engine's
// order does not matter): true of ResNet's stem and residual blocks.
// Reference: Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"
// (arXiv:1604.06174); PyTorch's torch.utils.checkpoint (reentrant variant, which
// accumulates inside instead and so does not support torch.autograd.grad).
#pragma once

#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace contra::autograd {

// `params`: the tensors f uses besides x that may require gradients (a module's parameters);
// they make the output require a gradient even when x does not.
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const std::vector<Tensor>& params);

// True while a checkpoint recomputes its forward on this thread.
bool is_recomputing();

}  // namespace contra::autograd
