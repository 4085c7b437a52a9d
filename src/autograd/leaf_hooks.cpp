// leaf_hooks.cpp — the registry of post-accumulate-grad hooks. See leaf_hooks.h.
#include "autograd/leaf_hooks.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace contra::autograd {

namespace {
struct Registry {
  std::mutex mutex;
  std::uint64_t next_id = 1;
  // leaf's TensorImpl → (id, hook), in registration order
  std::map<const TensorImpl*, std::vector<std::pair<std::uint64_t, LeafGradHook>>> hooks;
};
Registry& registry() {
  static Registry r;
  return r;
}
void remove(std::uint64_t id) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto it = r.hooks.begin(); it != r.hooks.end(); ++it) {
    auto& list = it->second;
    for (auto h = list.begin(); h != list.end(); ++h)
      if (h->first == id) {
        list.erase(h);
        if (list.empty()) r.hooks.erase(it);
        return;
      }
  }
}
}  // namespace

LeafHookHandle& LeafHookHandle::operator=(LeafHookHandle&& o) noexcept {
  if (this != &o) {
    if (id_) remove(id_);
    id_ = o.id_;
    o.id_ = 0;
  }
  return *this;
}

LeafHookHandle::~LeafHookHandle() {
  if (id_) remove(id_);
}

LeafHookHandle add_post_accumulate_grad_hook(const Tensor& leaf, LeafGradHook hook) {
  CONTRA_CHECK_HINT(leaf.defined() && leaf.requires_grad() && leaf.is_leaf(), "add_post_accumulate_grad_hook",
                    "register hooks on parameters (leaves that require grad)",
                    "the tensor is not a leaf that requires a gradient");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const std::uint64_t id = r.next_id++;
  r.hooks[leaf.impl()].emplace_back(id, std::move(hook));
  return LeafHookHandle(id);
}

void run_post_accumulate_grad_hooks(const Tensor& leaf) {
  Registry& r = registry();
  std::vector<LeafGradHook> to_run;
  {
    std::lock_guard lock(r.mutex);
    if (r.hooks.empty()) return;
    const auto it = r.hooks.find(leaf.impl());
    if (it == r.hooks.end()) return;
    for (const auto& [id, hook] : it->second) to_run.push_back(hook);
  }
  for (const auto& hook : to_run) hook(leaf);  // outside the lock: a hook may register or remove
}

}  // namespace contra::autograd
