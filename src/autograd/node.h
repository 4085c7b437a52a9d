// node.h — one backward step of the graph, and the tensors it saved.
//
// A Node stands for one differentiable op application. Its `next` edges point to the
// nodes that produced the op's inputs (null where an input needs no gradient), and
// `apply(dL/d output)` returns fresh gradients dL/d input, one per edge (undefined where
// none is needed). Rules never accumulate: only the Engine sums gradients.
//
// Ops are written with `record(...)` (ops/record.h): the forward computes the output, then
// hands a backward lambda that captures SavedTensors. A SavedTensor remembers the storage
// version at save time; unpacking after an in-place write throws a clear error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace contra::autograd {

class Node;
using NodePtr = std::shared_ptr<Node>;

class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, std::string op);
  // Live SavedTensors are registered so that saved_tensor_census() can account for them.
  SavedTensor(const SavedTensor& other);
  SavedTensor(SavedTensor&& other) noexcept;
  SavedTensor& operator=(const SavedTensor& other);
  SavedTensor& operator=(SavedTensor&& other) noexcept;
  ~SavedTensor();
  // The saved value. Throws if the tensor was modified in place since it was saved. A value
  // marked recomputable (mark_recomputable below) is recomputed here, bit for bit.
  Tensor get() const;
  bool defined() const { return tensor_.defined() || recompute_ != nullptr; }

 private:
  friend std::vector<struct SavedBytes> saved_tensor_census(const std::vector<Tensor>& exclude);
  void enlist();
  void delist();

  Tensor tensor_;  // detached: shares storage, holds no graph (undefined when recompute_ is set)
  std::shared_ptr<const std::function<Tensor()>> recompute_;  // instead of tensor_: see mark_recomputable
  std::uint64_t version_ = 0;
  std::string op_;
  bool activation_ = false;  // not a leaf that requires a gradient (a parameter)
};

// Recomputable values (issue 15: activation memory without changing results). An op whose
// output t can be recomputed bit for bit from tensors the graph saves anyway (batch norm's
// output from its saved input and γ, β; ReLU of such a value) marks t with the recipe; a
// SavedTensor made of t afterwards (the next convolution's saved input, ReLU's saved
// output) keeps the recipe instead of t's storage, which then dies with the forward's last
// reference, and get() runs the recipe. The recipe must call the same deterministic kernels
// on the same inputs as the forward (CPU kernels: no atomics, fixed reduction order), so the
// backward sees the same bits. Only t itself is matched (the whole storage, same shape,
// dtype, and version: a view or an in-place-modified t is saved as usual). Marks are weak:
// they die with t's storage or the recipe, whichever goes first; the op that marks t keeps
// the recipe alive (in its backward's captures) as long as its node lives. Off:
// set_recompute_saved(false) or CONTRA_RECOMPUTE_SAVED=0 (every value is kept, as before).
using RecomputeFn = std::function<Tensor()>;
void mark_recomputable(const Tensor& t, std::shared_ptr<const RecomputeFn> fn);
// The recipe t was marked with, or null (not marked, a view of it, modified since, or off).
std::shared_ptr<const RecomputeFn> recompute_of(const Tensor& t);
void set_recompute_saved(bool on);
bool recompute_saved();

// The memory that saved tensors hold right now, by the op that saved them: each storage is
// counted once (its whole nbytes, attributed to the first by name of the ops that saved it),
// so a ReLU output that the next convolution also saves is not counted twice. For memory
// reports (bench_train_step --memory-report).
struct SavedBytes {
  std::string op;
  std::size_t bytes = 0;    // sum of distinct storages' nbytes
  std::size_t tensors = 0;  // distinct storages
};
// Sorted by bytes, largest first; storages of `exclude` (the parameters, which convolutions
// and linear layers save too) are left out.
std::vector<SavedBytes> saved_tensor_census(const std::vector<Tensor>& exclude = {});

// Bytes of the distinct storages saved tensors hold now, leaving out leaves that require a
// gradient (parameters), and the most since the last reset: the activation memory of a
// training step, including what checkpoint recomputations save during backward.
std::size_t saved_activation_bytes();
std::size_t peak_saved_activation_bytes();
void reset_peak_saved_activation_bytes();

struct InputInfo {
  Shape shape;
  DType dtype;
};

class Node {
 public:
  explicit Node(std::string name);
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  std::uint64_t sequence_nr() const { return sequence_nr_; }

  // dL/d inputs from dL/d output. Called by the Engine with grad mode off.
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Frees saved tensors after backward (unless the graph is retained).
  virtual void release_saved() {}

  std::vector<NodePtr> next;     // producer of each input (null: no gradient needed)
  std::vector<InputInfo> inputs; // shape and dtype of each input, to check gradients

 private:
  std::string name_;
  std::uint64_t sequence_nr_;
};

// A node whose backward is a lambda written next to the forward.
class FunctionNode final : public Node {
 public:
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
  FunctionNode(std::string name, Backward backward) : Node(std::move(name)), backward_(std::move(backward)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release_saved() override { backward_ = nullptr; }

 private:
  Backward backward_;
};

// The sink for a leaf tensor: adds incoming gradients into leaf.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::vector<Tensor> apply(const Tensor& grad_output) override;
 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The graph edge for tensor t: its grad_fn, its leaf accumulator, or null.
NodePtr gradient_edge(const Tensor& t);

}  // namespace contra::autograd
