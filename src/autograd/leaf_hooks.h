// leaf_hooks.h — callbacks run when a leaf's gradient for this backward pass is complete.
//
// The Engine sums every contribution to a node before running it (engine.h), so the leaf's
// AccumulateGrad runs once per backward pass, after which leaf.grad holds its final value
// for the pass: the moment a data-parallel trainer can start all-reducing it while the rest
// of the backward pass still runs (PyTorch's register_post_accumulate_grad_hook; DDP's
// buckets, src/dist/gradient_buckets.h). Hooks run on the backward thread, in registration
// order, with grad mode off; `grad(...)` (engine.h), which accumulates no leaf, runs none.
//
// A hook stays registered while its handle lives; handles are move-only.
#pragma once

#include <cstdint>
#include <functional>

#include "tensor/tensor.h"

namespace contra::autograd {

using LeafGradHook = std::function<void(const Tensor& leaf)>;

class LeafHookHandle {
 public:
  LeafHookHandle() = default;
  explicit LeafHookHandle(std::uint64_t id) : id_(id) {}
  LeafHookHandle(LeafHookHandle&& o) noexcept : id_(o.id_) { o.id_ = 0; }
  LeafHookHandle& operator=(LeafHookHandle&& o) noexcept;
  LeafHookHandle(const LeafHookHandle&) = delete;
  LeafHookHandle& operator=(const LeafHookHandle&) = delete;
  ~LeafHookHandle();

 private:
  std::uint64_t id_ = 0;  // 0: no hook
};

// Registers `hook` for the leaf `leaf` (a tensor that requires grad and has no grad_fn).
[[nodiscard]] LeafHookHandle add_post_accumulate_grad_hook(const Tensor& leaf, LeafGradHook hook);

// Runs the hooks of `leaf` (called by AccumulateGrad after it wrote leaf.grad).
void run_post_accumulate_grad_hooks(const Tensor& leaf);

}  // namespace contra::autograd
