#include "autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/backend.h"

namespace contra::autograd {

namespace {

struct BySequenceDesc {
  bool operator()(Node* a, Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

Tensor add_gradients(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), "gradient accumulation"), a.dtype(), a.device());
  backend_for(a).binary(BinaryOp::add, a, b.to(a.dtype()), out);
  return out;
}

// Runs the graph. When `capture` is non-empty, the total gradient reaching each captured
// node is stored in `captured` and leaves are not accumulated.
void execute(const std::vector<NodePtr>& roots, const std::vector<Tensor>& seeds, BackwardOptions options,
             const std::vector<Node*>& capture, std::unordered_map<Node*, Tensor>* captured) {
  // 1. Count dependencies (iterative DFS).
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (const auto& r : roots)
    if (r && seen.insert(r.get()).second) stack.push_back(r.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const auto& child : n->next) {
      if (!child) continue;
      dependencies[child.get()] += 1;
      if (seen.insert(child.get()).second) stack.push_back(child.get());
    }
  }

  // 2. Seed the buffers of the roots.
  std::unordered_map<Node*, Tensor> buffers;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i]) continue;
    Tensor& b = buffers[roots[i].get()];
    b = b.defined() ? add_gradients(b, seeds[i]) : seeds[i];
  }
  const std::unordered_set<Node*> capture_set(capture.begin(), capture.end());

  // 3. Ready queue by descending sequence number.
  std::priority_queue<Node*, std::vector<Node*>, BySequenceDesc> ready;
  for (const auto& r : roots)
    if (r && dependencies[r.get()] == 0) ready.push(r.get());
  std::unordered_set<Node*> queued;
  NoGradGuard no_grad;
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    if (!queued.insert(n).second) continue;
    Tensor g = std::move(buffers[n]);
    buffers.erase(n);
    if (captured && capture_set.count(n)) (*captured)[n] = g;
    const bool is_leaf_sink = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    std::vector<Tensor> grads;
    if (g.defined() && !(captured && is_leaf_sink)) grads = n->apply(g);
    if (!options.retain_graph) n->release_saved();

    if (!grads.empty())
      CONTRA_ASSERT(grads.size() == n->next.size(), n->name(), " returned ", grads.size(), " gradients for ",
                    n->next.size(), " inputs");
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* child = n->next[i].get();
      if (!child) continue;
      if (i < grads.size() && grads[i].defined()) {
        const InputInfo& info = n->inputs[i];
        CONTRA_ASSERT(grads[i].shape() == info.shape, n->name(), " returned a gradient of shape ",
                      shape_str(grads[i].shape()), " for input ", i, " of shape ", shape_str(info.shape));
        Tensor& b = buffers[child];
        b = b.defined() ? add_gradients(b, grads[i]) : grads[i];
      }
      if (--dependencies[child] == 0) ready.push(child);
    }
  }
}

std::vector<Tensor> make_seeds(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs) {
  CONTRA_CHECK(grad_outputs.empty() || grad_outputs.size() == roots.size(), "backward", grad_outputs.size(),
               " output gradients for ", roots.size(), " outputs");
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    Tensor g = i < grad_outputs.size() ? grad_outputs[i] : Tensor();
    if (!g.defined()) {
      CONTRA_CHECK_HINT(r.numel() == 1, "backward", "pass an explicit output gradient of the same shape",
                        "the output has shape ", shape_str(r.shape()),
                        "; an implicit gradient of ones is only created for one-element outputs");
      g = Tensor::ones(r.shape(), r.dtype(), r.device());
    }
    CONTRA_CHECK(g.shape() == r.shape(), "backward", "output gradient of shape ", shape_str(g.shape()),
                 " for an output of shape ", shape_str(r.shape()));
    seeds.push_back(g.to(r.dtype()));
  }
  return seeds;
}

std::vector<NodePtr> root_nodes(const std::vector<Tensor>& roots) {
  std::vector<NodePtr> nodes;
  bool any = false;
  for (const auto& r : roots) {
    nodes.push_back(gradient_edge(r));
    any = any || nodes.back() != nullptr;
  }
  CONTRA_CHECK_HINT(any, "backward", "call set_requires_grad(true) on the parameters or inputs, and make sure "
                    "the forward did not run under NoGradGuard",
                    "none of the outputs requires a gradient");
  return nodes;
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs, BackwardOptions options) {
  auto nodes = root_nodes(roots);
  execute(nodes, make_seeds(roots, grad_outputs), options, {}, nullptr);
}

}  // namespace contra::autograd

namespace contra {

void backward(const Tensor& output, const Tensor& grad, bool retain_graph) {
  autograd::run_backward({output}, {grad}, {retain_graph});
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
                         bool retain_graph) {
  using namespace autograd;
  auto nodes = root_nodes({output});
  std::vector<NodePtr> targets;  // kept alive during the run
  std::vector<Node*> capture;
  for (const auto& in : inputs) {
    NodePtr e = gradient_edge(in);
    CONTRA_CHECK(e != nullptr, "grad", "an input does not require a gradient");
    targets.push_back(e);
    capture.push_back(e.get());
  }
  std::unordered_map<Node*, Tensor> captured;
  execute(nodes, make_seeds({output}, {grad_output}), {retain_graph}, capture, &captured);
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = captured.find(capture[i]);
    out.push_back(it != captured.end() && it->second.defined() ? it->second
                                                                : Tensor::zeros(inputs[i].shape(), inputs[i].dtype(), inputs[i].device()));
  }
  return out;
}

}  // namespace contra
