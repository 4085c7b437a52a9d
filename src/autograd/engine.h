// engine.h — reverse-mode differentiation over the recorded graph.
//
// Iterative (no recursion): a first pass counts, for every node reachable from the roots,
// how many edges point to it; then nodes run from a ready queue ordered by descending
// sequence number, each once all its consumers have contributed. Gradients for a node are
// summed in a per-node buffer; leaves accumulate into .grad through AccumulateGrad.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace contra::autograd {

struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors so backward can run again
};

// Back-propagates from `roots` seeded with `grad_outputs` (one per root; an undefined
// entry means ones, allowed only for one-element roots).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs,
                  BackwardOptions options = {});

}  // namespace contra::autograd

namespace contra {

// loss.backward(): dL/dθ into every leaf's .grad. `grad` may be omitted for scalars.
void backward(const Tensor& output, const Tensor& grad = Tensor(), bool retain_graph = false);

// Gradients of `output` w.r.t. `inputs`, returned rather than accumulated into .grad.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool retain_graph = false);

}  // namespace contra
