// module.h — the Module base: named parameters, buffers and children, train/eval mode.
//
// A Module owns leaf tensors (parameters, which require gradients) and buffers (state
// that is saved but not trained, e.g. BatchNorm running statistics) under names, and
// child modules under names. Hierarchical names join with '.', exactly as PyTorch's
// nn.Module: `layer1.0.conv1.weight`, `bn1.running_mean`, so a state dict written here
// loads into torchvision and the other way round.
//
// Order: a module lists its own parameters, then its own buffers, then each child's in
// registration order (PyTorch's `_save_to_state_dict` then children), so state_dict()
// key order equals torchvision's when layers are registered in the same order.
//
// Train/eval is an explicit flag set on the whole tree with train(bool) / eval().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace contra::nn {

// Name → tensor, in a fixed order (PyTorch's OrderedDict).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = NamedTensors;

// Finds `name` in a state dict; nullptr when absent.
const Tensor* find_tensor(const StateDict& dict, const std::string& name);
// Every key prefixed with `prefix` ("head." → "head.0.weight").
StateDict with_prefix(const StateDict& dict, const std::string& prefix);
// The entries whose key starts with `prefix`, with the prefix removed.
StateDict select_prefix(const StateDict& dict, const std::string& prefix);
// The entries whose key starts with none of `prefixes`.
StateDict drop_prefixes(const StateDict& dict, const std::vector<std::string>& prefixes);

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's computation. Single-input modules only (every layer in this library).
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // PyTorch's class name ("Conv2d", "BatchNorm2d", ...), for messages and printing.
  const std::string& type_name() const { return type_name_; }

  // ---- mode ------------------------------------------------------------------------
  void train(bool on = true);  // this module and all descendants
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- introspection (hierarchical names) -------------------------------------------
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every descendant (not this module) with its dotted name, depth first in order.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;
  std::int64_t num_parameters() const;  // total element count

  // Parameters and buffers, in PyTorch's state_dict order. The tensors alias the
  // module's (no copy): clone them to snapshot.
  StateDict state_dict() const;

  // Copies values from `dict` into this module's parameters and buffers (dtype converted;
  // shapes must match exactly). strict: every key of the module must be present and no
  // other key may be. Errors list every missing, unexpected and shape-mismatched key at
  // once. Non-strict: copies the keys that match, ignores the rest, still refuses shape
  // mismatches. Returns the keys that were not loaded (missing ones) when non-strict.
  std::vector<std::string> load_state_dict(const StateDict& dict, bool strict = true);

  // Moves every parameter and buffer of the tree (and any gradient) to `device`, in place:
  // each tensor handle keeps its identity (Tensor::set_data), so optimizers, layers and
  // callers holding a parameter see it on the new device. Values are unchanged (a copy
  // through the host; nothing happens for tensors already there). Move the optimizer's
  // state with Optimizer::to. A cuda device in a CPU-only build throws the stub's error.
  void to(Device device);
  // The device of the first parameter (or buffer); the CPU for a module with neither.
  Device device() const;

  // Sets every parameter's gradient to undefined (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  // Indented tree of types and names, like printing a PyTorch module.
  std::string describe() const;

 protected:
  // Registration, in the order the names should appear in the state dict.
  // Parameters become leaves that require gradients.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  // Replaces a registered parameter or buffer's tensor (same name), e.g. after init.
  void replace_tensor(const std::string& name, Tensor t);

  // Extra text for describe(), e.g. "(3, 64, kernel=3, stride=1)".
  virtual std::string extra_repr() const { return {}; }

 private:
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  void describe_into(std::string& out, const std::string& name, int depth) const;
  void check_new_name(const std::string& name) const;

  std::string type_name_;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace contra::nn
