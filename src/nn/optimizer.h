// optimizer.h — the Optimizer base: parameter groups, per-parameter state, save/restore.
//
// A ParamGroup holds parameters with shared hyper-parameters (learning rate, weight
// decay, and for LARS whether trust-ratio adaptation applies). Parameters are numbered
// 0..P−1 in group order (as PyTorch's optimizer.state_dict()); per-parameter state
// tensors are saved as "<index>.<key>" (e.g. "3.momentum_buffer"), scalars as JSON.
// step() reads each parameter's .grad (parameters without a gradient are skipped, as
// PyTorch) and updates the data in place under no-grad, bumping the version counter.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace contra::nn {

struct ParamGroup {
  std::vector<Tensor> params;
  std::vector<std::string> names;  // same length as params, or empty (names then "param<i>")
  double lr = 0.1;
  double weight_decay = 0.0;
  bool adapt = true;  // LARS: apply trust-ratio adaptation (and weight decay) to this group
};

// One group with every parameter of `params`.
ParamGroup make_group(const NamedTensors& params, double lr, double weight_decay);

// SimCLR's split: parameters whose names say they are biases or normalisation weights
// (rank-1 tensors: every `.bias` and every BatchNorm γ/β) go to a second group with
// weight_decay 0 and adapt = false; the rest keep `weight_decay` and adapt = true.
// Returns {regular, excluded}; an empty group is kept so group indices stay fixed.
std::vector<ParamGroup> split_decay_groups(const NamedTensors& params, double lr, double weight_decay);

class Optimizer {
 public:
  explicit Optimizer(std::string name, std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;

  // One update from the current gradients.
  virtual void step() = 0;
  // Sets every parameter's .grad to undefined.
  void zero_grad();
  // Sets the learning rate of every group (what the LR schedule calls each step).
  void set_lr(double lr);

  const std::string& name() const { return name_; }
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  std::int64_t num_params() const;
  std::int64_t steps_taken() const { return steps_; }

  // ---- state for checkpoints ---------------------------------------------------------
  // Tensors "<index>.<key>" (clones), and JSON {type, steps, hyper, groups: [{lr, weight_decay,
  // adapt, num_params}], names: [...]}. restore_state() checks that the optimizer type, the
  // number and shapes of parameters and the group layout agree, then copies the state in.
  StateDict state_tensors() const;
  nlohmann::json state_json() const;
  void restore_state(const nlohmann::json& meta, const StateDict& tensors);

  // Moves the per-parameter state tensors (momentum buffers, Adam moments) to `device`,
  // after Module::to moved the parameters, so that the next step() runs there. 0-d scalar
  // state (AdamW's per-parameter step count) stays on the host, as PyTorch keeps `step` a
  // CPU tensor: it is read by the host to form the bias corrections. Values are unchanged.
  void to(Device device);

 protected:
  // Calls f(group, index, param, grad) for every parameter that has a gradient.
  // grad is contiguous with the parameter's dtype and shape.
  void for_each_param(const std::function<void(const ParamGroup&, std::int64_t, const Tensor&, const Tensor&)>& f);
  // Calls f(group, indices, params, grads) once per group, with the group's parameters
  // that have a gradient (skipped when none has): the lists a fused Backend update takes.
  // grads[k] is contiguous with params[k]'s dtype and shape; indices[k] is its parameter index.
  // Runs under no-grad and bumps every listed parameter's version afterwards.
  void for_each_group(const std::function<void(const ParamGroup&, const std::vector<std::int64_t>&,
                                               const std::vector<Tensor>&, const std::vector<Tensor>&)>& f);
  // The per-parameter state tensor `key` of parameter `index`, created zero-filled like `p`
  // (its shape, dtype and device) on first use; `created` tells whether it was just made.
  Tensor& state(std::int64_t index, const std::string& key, const Tensor& like, bool* created = nullptr);
  // Hyper-parameters for the JSON state (momentum, betas, ...).
  virtual nlohmann::json hyper() const = 0;
  void count_step() { ++steps_; }

 private:
  std::string name_;
  std::vector<ParamGroup> groups_;
  std::map<std::int64_t, std::map<std::string, Tensor>> state_;
  std::int64_t steps_ = 0;
};

}  // namespace contra::nn
