// sequential.h — runs children in order; children are named "0", "1", ... as nn.Sequential.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace contra::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers) : Sequential() {
    for (auto& m : layers) push_back(std::move(m));
  }

  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    layers_.push_back(m);
    return register_module(std::to_string(layers_.size() - 1), std::move(m));
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (auto& m : layers_) y = m->forward(y);
    return y;
  }

  std::size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return layers_.at(i); }

 protected:
  explicit Sequential(std::string type_name) : Module(std::move(type_name)) {}

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace contra::nn
