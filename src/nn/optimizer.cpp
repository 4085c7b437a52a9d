// optimizer.cpp — parameter groups, state bookkeeping and save/restore.
#include "nn/optimizer.h"

#include "autograd/grad_mode.h"
#include "tensor/error.h"

namespace contra::nn {

ParamGroup make_group(const NamedTensors& params, double lr, double weight_decay) {
  ParamGroup g;
  g.lr = lr;
  g.weight_decay = weight_decay;
  for (const auto& [k, t] : params) {
    g.names.push_back(k);
    g.params.push_back(t);
  }
  return g;
}

std::vector<ParamGroup> split_decay_groups(const NamedTensors& params, double lr, double weight_decay) {
  ParamGroup regular, excluded;
  regular.lr = excluded.lr = lr;
  regular.weight_decay = weight_decay;
  excluded.weight_decay = 0.0;
  excluded.adapt = false;
  for (const auto& [k, t] : params) {
    // Rank-1 parameters are biases and normalisation scales/shifts in every layer here.
    ParamGroup& g = t.dim() <= 1 ? excluded : regular;
    g.names.push_back(k);
    g.params.push_back(t);
  }
  return {regular, excluded};
}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups) : name_(std::move(name)), groups_(std::move(groups)) {
  CONTRA_CHECK(!groups_.empty(), name_, "needs at least one parameter group");
  std::int64_t index = 0;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    CONTRA_CHECK(g.names.empty() || g.names.size() == g.params.size(), name_, "group ", gi, " has ",
                 g.params.size(), " parameters but ", g.names.size(), " names");
    CONTRA_CHECK(g.lr >= 0 && g.weight_decay >= 0, name_, "group ", gi, ": lr=", g.lr,
                 " and weight_decay=", g.weight_decay, " must be ≥ 0");
    if (g.names.empty())
      for (std::size_t i = 0; i < g.params.size(); ++i) g.names.push_back("param" + std::to_string(index + i));
    for (std::size_t i = 0; i < g.params.size(); ++i) {
      const Tensor& p = g.params[i];
      CONTRA_CHECK(p.defined() && is_floating(p.dtype()) && p.is_contiguous(), name_, "parameter '", g.names[i],
                   "' must be a defined, contiguous floating tensor");
      CONTRA_CHECK(p.is_leaf(), name_, "parameter '", g.names[i], "' is not a leaf tensor");
    }
    index += static_cast<std::int64_t>(g.params.size());
  }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params)
      if (p.has_autograd_meta()) p.set_grad(Tensor());
}

void Optimizer::set_lr(double lr) {
  CONTRA_CHECK(lr >= 0, name_, "learning rate must be ≥ 0, got ", lr);
  for (auto& g : groups_) g.lr = lr;
}

std::int64_t Optimizer::num_params() const {
  std::int64_t n = 0;
  for (const auto& g : groups_) n += static_cast<std::int64_t>(g.params.size());
  return n;
}

void Optimizer::for_each_param(
    const std::function<void(const ParamGroup&, std::int64_t, const Tensor&, const Tensor&)>& f) {
  autograd::NoGradGuard no_grad;
  std::int64_t index = 0;
  for (const auto& g : groups_) {
    for (std::size_t i = 0; i < g.params.size(); ++i, ++index) {
      const Tensor& p = g.params[i];
      Tensor grad = p.has_autograd_meta() ? p.grad() : Tensor();
      if (!grad.defined()) continue;
      CONTRA_CHECK(grad.shape() == p.shape(), name_, "gradient of '", g.names[i], "' has shape ",
                   shape_str(grad.shape()), ", parameter ", shape_str(p.shape()));
      grad = grad.to(p.dtype()).contiguous();
      f(g, index, p, grad);
      p.bump_version();
    }
  }
}

void Optimizer::for_each_group(const std::function<void(const ParamGroup&, const std::vector<std::int64_t>&,
                                                       const std::vector<Tensor>&, const std::vector<Tensor>&)>& f) {
  autograd::NoGradGuard no_grad;
  std::int64_t index = 0;
  for (const auto& g : groups_) {
    std::vector<std::int64_t> indices;
    std::vector<Tensor> params, grads;
    for (std::size_t i = 0; i < g.params.size(); ++i, ++index) {
      const Tensor& p = g.params[i];
      Tensor grad = p.has_autograd_meta() ? p.grad() : Tensor();
      if (!grad.defined()) continue;
      CONTRA_CHECK(grad.shape() == p.shape(), name_, "gradient of '", g.names[i], "' has shape ",
                   shape_str(grad.shape()), ", parameter ", shape_str(p.shape()));
      CONTRA_CHECK_HINT(grad.device() == p.device(), name_, "move the model with Module::to before the step",
                        "gradient of '", g.names[i], "' is on ", grad.device().str(), ", the parameter on ",
                        p.device().str());
      indices.push_back(index);
      params.push_back(p);
      grads.push_back(grad.to(p.dtype()).contiguous());
    }
    if (params.empty()) continue;
    f(g, indices, params, grads);
    for (const auto& p : params) p.bump_version();
  }
}

void Optimizer::to(Device device) {
  for (auto& [index, slot] : state_)
    for (auto& [key, t] : slot)
      if (t.dim() > 0) t = t.to(device);
}

Tensor& Optimizer::state(std::int64_t index, const std::string& key, const Tensor& like, bool* created) {
  auto& slot = state_[index];
  auto it = slot.find(key);
  if (created) *created = it == slot.end();
  if (it == slot.end()) it = slot.emplace(key, Tensor::zeros(like.shape(), like.dtype(), like.device())).first;
  return it->second;
}

StateDict Optimizer::state_tensors() const {
  StateDict out;
  for (const auto& [index, slot] : state_)
    for (const auto& [key, t] : slot) out.emplace_back(std::to_string(index) + "." + key, t.clone());
  return out;
}

nlohmann::json Optimizer::state_json() const {
  nlohmann::json j;
  j["type"] = name_;
  j["steps"] = steps_;
  j["hyper"] = hyper();
  j["groups"] = nlohmann::json::array();
  nlohmann::json names = nlohmann::json::array();
  for (const auto& g : groups_) {
    j["groups"].push_back({{"lr", g.lr}, {"weight_decay", g.weight_decay}, {"adapt", g.adapt},
                           {"num_params", g.params.size()}});
    for (const auto& n : g.names) names.push_back(n);
  }
  j["names"] = names;
  return j;
}

void Optimizer::restore_state(const nlohmann::json& meta, const StateDict& tensors) {
  const std::string where = name_ + "::restore_state";
  try {
    CONTRA_CHECK(meta.value("type", std::string()) == name_, where, "checkpoint holds the state of a '",
                 meta.value("type", std::string("?")), "' optimizer, this is '", name_, "'");
    const auto& groups = meta.at("groups");
    CONTRA_CHECK(groups.size() == groups_.size(), where, "checkpoint has ", groups.size(), " parameter groups, the optimizer ",
                 groups_.size());
    for (std::size_t gi = 0; gi < groups_.size(); ++gi)
      CONTRA_CHECK(groups[gi].at("num_params").get<std::size_t>() == groups_[gi].params.size(), where, "group ", gi,
                   " has ", groups[gi].at("num_params").get<std::size_t>(), " parameters in the checkpoint, ",
                   groups_[gi].params.size(), " in the optimizer");
    // Shapes by index, and the new state built completely before anything is replaced.
    std::vector<const Tensor*> by_index;
    for (const auto& g : groups_)
      for (const auto& p : g.params) by_index.push_back(&p);
    std::map<std::int64_t, std::map<std::string, Tensor>> fresh;
    for (const auto& [k, t] : tensors) {
      const auto dot = k.find('.');
      CONTRA_CHECK(dot != std::string::npos && dot > 0, where, "malformed state tensor name '", k, "'");
      std::int64_t index = -1;
      try {
        std::size_t used = 0;
        index = std::stoll(k.substr(0, dot), &used);
        if (used != dot) index = -1;
      } catch (const std::exception&) {
      }
      CONTRA_CHECK(index >= 0 && index < static_cast<std::int64_t>(by_index.size()), where, "state tensor '", k,
                   "' names parameter ", k.substr(0, dot), ", the optimizer has ", by_index.size());
      const Tensor& p = *by_index[index];
      // Scalar state (a step count) is kept as stored; the rest must match the parameter.
      if (t.dim() == 0) {
        fresh[index][k.substr(dot + 1)] = t.to(DType::f64).clone().to(Device::cpu());  // host scalar
        continue;
      }
      CONTRA_CHECK(t.shape() == p.shape(), where, "state tensor '", k, "' has shape ", shape_str(t.shape()),
                   ", parameter ", index, " has ", shape_str(p.shape()));
      fresh[index][k.substr(dot + 1)] = t.to(p.dtype()).clone().to(p.device());  // loads to any device
    }
    for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
      groups_[gi].lr = groups[gi].at("lr").get<double>();
      groups_[gi].weight_decay = groups[gi].at("weight_decay").get<double>();
      groups_[gi].adapt = groups[gi].at("adapt").get<bool>();
    }
    steps_ = meta.at("steps").get<std::int64_t>();
    state_ = std::move(fresh);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("malformed optimizer state JSON: ") + e.what());
  }
}

}  // namespace contra::nn
