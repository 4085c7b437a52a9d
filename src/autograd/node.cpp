#include "autograd/node.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "autograd/leaf_hooks.h"
#include "tensor/backend.h"

namespace contra::autograd {

namespace {
std::atomic<std::uint64_t> g_next_sequence_nr{0};

// Graph teardown without recursion: a dying node hands its sole-owned children to a
// thread-local queue, which the outermost destructor drains. A 10,000-node chain is
// destroyed in a loop instead of 10,000 nested destructor calls.
thread_local std::vector<NodePtr> t_pending;
thread_local bool t_draining = false;

// Every SavedTensor holding a tensor, for saved_tensor_census().
struct SavedRegistry {
  std::mutex mu;
  std::unordered_set<const SavedTensor*> live;
  std::unordered_map<const Storage*, int> activation_refs;  // activation storage → live savers
  std::size_t activation_bytes = 0, activation_peak = 0;
};
SavedRegistry& saved_registry() {
  static SavedRegistry* r = new SavedRegistry();  // never destroyed: nodes may die during static teardown
  return *r;
}

// Tensors marked recomputable, by storage. Weak both ways: a mark keeps neither the storage
// nor the recipe (and what the recipe holds) alive.
struct RecomputeMark {
  std::weak_ptr<Storage> storage;
  Shape shape;
  DType dtype;
  std::uint64_t version;
  std::weak_ptr<const RecomputeFn> fn;
};
struct RecomputeRegistry {
  std::mutex mu;
  std::unordered_map<const Storage*, RecomputeMark> marks;
};
RecomputeRegistry& recompute_registry() {
  static RecomputeRegistry* r = new RecomputeRegistry();
  return *r;
}
std::atomic<int> g_recompute_saved{-1};  // -1: read CONTRA_RECOMPUTE_SAVED once

bool whole_storage(const Tensor& t) {
  return t.offset() == 0 && t.is_contiguous() &&
         static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()) == t.storage()->nbytes();
}
}  // namespace

void set_recompute_saved(bool on) { g_recompute_saved = on ? 1 : 0; }

bool recompute_saved() {
  if (g_recompute_saved < 0) {
    const char* v = std::getenv("CONTRA_RECOMPUTE_SAVED");
    g_recompute_saved = (v != nullptr && std::string(v) == "0") ? 0 : 1;
  }
  return g_recompute_saved == 1;
}

void mark_recomputable(const Tensor& t, std::shared_ptr<const RecomputeFn> fn) {
  if (!recompute_saved() || !t.defined() || !whole_storage(t)) return;
  RecomputeRegistry& r = recompute_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto it = r.marks.begin(); it != r.marks.end();)  // drop the marks of dead storages
    it = it->second.storage.expired() || it->second.fn.expired() ? r.marks.erase(it) : std::next(it);
  r.marks[t.storage().get()] = RecomputeMark{t.storage(), t.shape(), t.dtype(), t.version(), std::move(fn)};
}

std::shared_ptr<const RecomputeFn> recompute_of(const Tensor& t) {
  if (!t.defined() || !recompute_saved()) return nullptr;
  RecomputeRegistry& r = recompute_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.marks.empty()) return nullptr;
  auto it = r.marks.find(t.storage().get());
  if (it == r.marks.end()) return nullptr;
  const RecomputeMark& m = it->second;
  if (m.storage.lock() != t.storage()) {  // a dead storage's mark; the address was reused
    r.marks.erase(it);
    return nullptr;
  }
  if (m.shape != t.shape() || m.dtype != t.dtype() || m.version != t.version() || !whole_storage(t)) return nullptr;
  return m.fn.lock();
}

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(g_next_sequence_nr++) {}

Node::~Node() {
  for (auto& child : next)
    if (child && child.use_count() == 1) t_pending.push_back(std::move(child));
  next.clear();
  if (t_draining) return;
  t_draining = true;
  while (!t_pending.empty()) {
    NodePtr n = std::move(t_pending.back());
    t_pending.pop_back();
    n.reset();  // its destructor pushes its own children and returns
  }
  t_draining = false;
}

SavedTensor::SavedTensor(const Tensor& t, std::string op)
    : tensor_(t.defined() ? t.detach() : Tensor()),
      version_(t.defined() ? t.version() : 0),
      op_(std::move(op)),
      activation_(t.defined() && !(t.requires_grad() && !(t.has_autograd_meta() && t.autograd_meta().grad_fn))) {
  if (activation_) {
    recompute_ = recompute_of(t);
    if (recompute_) tensor_ = Tensor();  // the storage goes with the forward's last reference
  }
  enlist();
}

SavedTensor::SavedTensor(const SavedTensor& o)
    : tensor_(o.tensor_), recompute_(o.recompute_), version_(o.version_), op_(o.op_), activation_(o.activation_) {
  enlist();
}

SavedTensor::SavedTensor(SavedTensor&& o) noexcept : version_(o.version_), activation_(o.activation_) {
  o.delist();
  tensor_ = std::move(o.tensor_);
  recompute_ = std::move(o.recompute_);
  op_ = std::move(o.op_);
  o.tensor_ = Tensor();
  o.recompute_ = nullptr;
  enlist();
}

SavedTensor& SavedTensor::operator=(const SavedTensor& o) {
  if (this == &o) return *this;
  delist();
  tensor_ = o.tensor_;
  recompute_ = o.recompute_;
  version_ = o.version_;
  op_ = o.op_;
  activation_ = o.activation_;
  enlist();
  return *this;
}

SavedTensor& SavedTensor::operator=(SavedTensor&& o) noexcept {
  if (this == &o) return *this;
  delist();
  o.delist();
  tensor_ = std::move(o.tensor_);
  o.tensor_ = Tensor();
  recompute_ = std::move(o.recompute_);
  o.recompute_ = nullptr;
  version_ = o.version_;
  op_ = std::move(o.op_);
  activation_ = o.activation_;
  enlist();
  return *this;
}

SavedTensor::~SavedTensor() { delist(); }

void SavedTensor::enlist() {
  if (!tensor_.defined()) return;
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.live.insert(this).second || !activation_) return;
  const Storage* st = tensor_.storage().get();
  if (++r.activation_refs[st] == 1) {
    r.activation_bytes += st->nbytes();
    r.activation_peak = std::max(r.activation_peak, r.activation_bytes);
  }
}

void SavedTensor::delist() {
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.live.erase(this) == 0 || !activation_) return;
  const Storage* st = tensor_.storage().get();
  auto it = r.activation_refs.find(st);
  if (--it->second == 0) {
    r.activation_refs.erase(it);
    r.activation_bytes -= st->nbytes();
  }
}

std::size_t saved_activation_bytes() {
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.activation_bytes;
}

std::size_t peak_saved_activation_bytes() {
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.activation_peak;
}

void reset_peak_saved_activation_bytes() {
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.activation_peak = r.activation_bytes;
}

std::vector<SavedBytes> saved_tensor_census(const std::vector<Tensor>& exclude) {
  SavedRegistry& r = saved_registry();
  std::lock_guard<std::mutex> lock(r.mu);
  // A storage saved by several ops is attributed to the first of them by name (a ReLU output
  // that the next conv2d saves too counts as conv2d's): deterministic, and each byte once.
  std::vector<const SavedTensor*> entries(r.live.begin(), r.live.end());
  std::sort(entries.begin(), entries.end(), [](const SavedTensor* a, const SavedTensor* b) {
    return a->op_ != b->op_ ? a->op_ < b->op_ : a < b;
  });
  std::unordered_set<const Storage*> seen;
  for (const Tensor& t : exclude)
    if (t.defined()) seen.insert(t.storage().get());
  std::map<std::string, SavedBytes> by_op;
  for (const SavedTensor* s : entries) {
    const Storage* st = s->tensor_.storage().get();
    if (!seen.insert(st).second) continue;
    SavedBytes& b = by_op[s->op_];
    b.op = s->op_;
    b.bytes += st->nbytes();
    b.tensors += 1;
  }
  std::vector<SavedBytes> out;
  for (auto& [op, b] : by_op) out.push_back(b);
  std::sort(out.begin(), out.end(), [](const SavedBytes& a, const SavedBytes& b) { return a.bytes > b.bytes; });
  return out;
}

Tensor SavedTensor::get() const {
  if (recompute_) return (*recompute_)();
  if (tensor_.defined())
    CONTRA_CHECK_HINT(tensor_.version() == version_, op_ + " backward",
                      "clone the tensor before modifying it, or do the in-place update after backward",
                      "a tensor saved for backward was modified in place (saved at version ", version_,
                      ", now at version ", tensor_.version(), ")");
  return tensor_;
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  CONTRA_CHECK_HINT(backward_ != nullptr, name() + " backward",
                    "pass retain_graph=true to the first backward if you need a second one",
                    "trying to run backward through this part of the graph a second time, but its saved "
                    "tensors were already freed");
  return backward_(grad_output);
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {}

// leaf.grad ← leaf.grad + dL/dleaf. The first gradient is copied so that .grad never
// aliases a tensor that another rule returned.
std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  Tensor leaf(leaf_);
  Tensor g = leaf.grad();
  if (!g.defined()) {
    leaf.set_grad(grad_output.to(leaf.dtype()).clone());
  } else {
    backend_for(g).binary(BinaryOp::add, g, grad_output.to(g.dtype()), g);
    g.bump_version();
  }
  run_post_accumulate_grad_hooks(leaf);  // leaf.grad is complete for this pass (leaf_hooks.h)
  return {};
}

NodePtr gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.has_autograd_meta()) return nullptr;
  AutogradMeta& meta = t.autograd_meta();
  if (meta.grad_fn) return meta.grad_fn;
  if (!meta.requires_grad) return nullptr;
  NodePtr acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return acc;
}

}  // namespace contra::autograd
