// module.cpp — registration, hierarchical naming, state dicts and mode propagation.
#include "nn/module.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "autograd/grad_mode.h"
#include "tensor/error.h"

namespace contra::nn {

const Tensor* find_tensor(const StateDict& dict, const std::string& name) {
  for (const auto& [k, v] : dict)
    if (k == name) return &v;
  return nullptr;
}

StateDict with_prefix(const StateDict& dict, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, v] : dict) out.emplace_back(prefix + k, v);
  return out;
}

StateDict select_prefix(const StateDict& dict, const std::string& prefix) {
  StateDict out;
  for (const auto& [k, v] : dict)
    if (k.rfind(prefix, 0) == 0) out.emplace_back(k.substr(prefix.size()), v);
  return out;
}

StateDict drop_prefixes(const StateDict& dict, const std::vector<std::string>& prefixes) {
  StateDict out;
  for (const auto& [k, v] : dict)
    if (std::none_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return k.rfind(p, 0) == 0; }))
      out.emplace_back(k, v);
  return out;
}

void Module::check_new_name(const std::string& name) const {
  CONTRA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_,
               "invalid member name '", name, "'", " (names are non-empty and contain no '.')");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& p) { return p.first == name; });
  };
  CONTRA_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name_,
               "member name '", name, "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  CONTRA_CHECK(t.defined() && is_floating(t.dtype()), type_name_, "parameter '", name,
               "' must be a defined floating tensor");
  CONTRA_CHECK(t.is_leaf(), type_name_, "parameter '", name, "' must be a leaf tensor (detach it first)");
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  CONTRA_CHECK(t.defined(), type_name_, "buffer '", name, "' must be defined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name);
  CONTRA_CHECK(m != nullptr, type_name_, "child module '", name, "' is null");
  m->train(training_);
  children_.emplace_back(name, std::move(m));
}

void Module::replace_tensor(const std::string& name, Tensor t) {
  for (auto& [k, v] : params_)
    if (k == name) {
      CONTRA_CHECK(t.is_leaf(), type_name_, "parameter '", name, "' must be a leaf tensor");
      t.set_requires_grad(true);
      v = t;
      return;
    }
  for (auto& [k, v] : buffers_)
    if (k == name) {
      v = t;
      return;
    }
  throw Error(type_name_, "no parameter or buffer named '" + name + "'");
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [k, v] : (params ? params_ : buffers_)) out.emplace_back(prefix + k, v);
  for (const auto& [k, c] : children_) c->collect(prefix + k + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  // Explicit stack (no recursion): (prefix, module) pairs, children pushed in reverse.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> stack;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) stack.push_back(*it);
  while (!stack.empty()) {
    auto [name, m] = stack.back();
    stack.pop_back();
    out.emplace_back(name, m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(name + "." + it->first, it->second);
  }
  return out;
}

std::int64_t Module::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

StateDict Module::state_dict() const {
  // PyTorch order: per module, own parameters then own buffers, then children.
  StateDict out;
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, m] = stack.back();
    stack.pop_back();
    for (const auto& [k, v] : m->params_) out.emplace_back(prefix + k, v);
    for (const auto& [k, v] : m->buffers_) out.emplace_back(prefix + k, v);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(prefix + it->first + ".", it->second.get());
  }
  return out;
}

std::vector<std::string> Module::load_state_dict(const StateDict& dict, bool strict) {
  const StateDict own = state_dict();
  std::set<std::string> own_names, seen;
  for (const auto& [k, _] : own) own_names.insert(k);

  std::vector<std::string> missing, unexpected, mismatched, duplicated;
  for (const auto& [k, v] : dict) {
    if (!seen.insert(k).second) duplicated.push_back(k);
    if (!own_names.count(k)) unexpected.push_back(k);
  }
  for (const auto& [k, t] : own) {
    const Tensor* src = find_tensor(dict, k);
    if (!src) {
      missing.push_back(k);
      continue;
    }
    if (!src->defined() || src->shape() != t.shape())
      mismatched.push_back(k + ": checkpoint " + (src->defined() ? shape_str(src->shape()) : "undefined") +
                           " vs model " + shape_str(t.shape()));
  }

  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s;
  };
  std::string problems;
  if (!mismatched.empty()) problems += " shape mismatch: [" + join(mismatched) + "];";
  if (!duplicated.empty()) problems += " duplicate keys: [" + join(duplicated) + "];";
  if (strict && !missing.empty()) problems += " missing keys: [" + join(missing) + "];";
  if (strict && !unexpected.empty()) problems += " unexpected keys: [" + join(unexpected) + "];";
  if (!problems.empty()) {
    problems.pop_back();
    throw Error("load_state_dict(" + type_name_ + ")", "state dict does not fit the model:" + problems,
                strict ? "check the architecture options (arch, stem, width, input channels); "
                         "pass strict=false to load only the matching keys"
                       : "check the architecture options (arch, stem, width, input channels)");
  }

  autograd::NoGradGuard no_grad;
  for (const auto& [k, t] : own)
    if (const Tensor* src = find_tensor(dict, k)) t.copy_(src->to(t.device()));  // from any device
  return missing;
}

void Module::to(Device device) {
  autograd::NoGradGuard no_grad;
  for (const auto& [name, t] : state_dict()) {
    if (t.device() != device) t.set_data(t.to(device));
    if (t.has_autograd_meta() && t.grad().defined() && t.grad().device() != device) t.set_grad(t.grad().to(device));
  }
}

Device Module::device() const {
  for (const auto& [_, t] : state_dict()) return t.device();
  return Device::cpu();
}

void Module::zero_grad() {
  for (const auto& [_, p] : named_parameters())
    if (p.has_autograd_meta()) p.set_grad(Tensor());
}

void Module::describe_into(std::string& out, const std::string& name, int depth) const {
  out += std::string(2 * depth, ' ');
  if (!name.empty()) out += "(" + name + "): ";
  out += type_name_;
  const std::string extra = extra_repr();
  if (!extra.empty()) out += "(" + extra + ")";
  out += "\n";
  for (const auto& [k, c] : children_) c->describe_into(out, k, depth + 1);
}

std::string Module::describe() const {
  std::string out;
  describe_into(out, "", 0);
  return out;
}

}  // namespace contra::nn
