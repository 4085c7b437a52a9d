// projection_head.h — the SimCLR projection MLP g(·) applied to backbone features.
//
// num_layers Linear layers: D → H → … → H → out. Between two Linears: BatchNorm1d(H) and
// ReLU when batch_norm is on (the Linear before a BN has no bias), ReLU alone otherwise.
// last_bn adds BatchNorm1d(out) after the final Linear (SimCLR v2 style).
//   SimCLR (CIFAR): in 512, hidden 512 (or 2048), out 128, num_layers 2, BN + ReLU between.
// Names follow nn.Sequential: "0.weight", "1.weight", "1.running_mean", ..., "3.weight".
// Shapes: (N, D) → (N, out).
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "nn/sequential.h"
#include "tensor/generator.h"

namespace contra::nn {

struct ProjectionHeadConfig {
  std::int64_t in_dim = 512;
  std::int64_t hidden_dim = 512;
  std::int64_t out_dim = 128;
  int num_layers = 2;       // Linear layers, ≥ 1
  bool batch_norm = true;   // BN1d between Linears
  bool last_bn = false;     // BN1d after the last Linear
  DType dtype = DType::f32; // parameter dtype; not part of to_json()

  nlohmann::json to_json() const;
  static ProjectionHeadConfig from_json(const nlohmann::json& j);
  void validate() const;
};

class ProjectionHead : public Sequential {
 public:
  ProjectionHead(const ProjectionHeadConfig& config, Generator& gen);
  const ProjectionHeadConfig& config() const { return cfg_; }

 private:
  ProjectionHeadConfig cfg_;
};

}  // namespace contra::nn
