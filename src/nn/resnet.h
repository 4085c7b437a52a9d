// resnet.h — ResNet-18/34/50 encoders with torchvision's structure, names and init.
//
//   stem    imagenet: conv1 7×7/2 (pad 3) → bn1 → relu → maxpool 3×3/2 (pad 1)
//           cifar:    conv1 3×3/1 (pad 1) → bn1 → relu            (no max-pool)
//   layer1..layer4: [2,2,2,2] (18), [3,4,6,3] (34) BasicBlocks; [3,4,6,3] (50) Bottlenecks;
//           planes B, 2B, 4B, 8B with B = round(64·width); stride 1, 2, 2, 2
//   avgpool (global) → flatten → fc (Linear(8B·expansion, num_classes); Identity when
//           num_classes = 0: the backbone then returns the pooled features (N, D),
//           D = 8B·expansion = 512·expansion·width)
// Init (torchvision): every conv ~ kaiming_normal(fan_out, relu), every BN γ = 1, β = 0,
// fc with Linear's default; zero_init_residual sets γ of each block's last BN to 0.
// All draws come from the Generator passed in.
// Dimensions: N batch, C input channels, H×W image, D feature width.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/adaptive_avg_pool2d.h"
#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace contra::nn {

enum class Stem { imagenet, cifar };

struct ResNetConfig {
  int depth = 18;                  // 18, 34 or 50
  Stem stem = Stem::cifar;
  std::int64_t in_channels = 3;    // 1 for Fashion-MNIST
  double width = 1.0;              // base width 64·width (1/8 → 8)
  std::int64_t num_classes = 0;    // 0: no classifier (fc is Identity)
  bool zero_init_residual = false;
  DType dtype = DType::f32;        // parameter dtype (f64 for gradchecks); not part of to_json()

  std::int64_t base_width() const;   // round(64·width)
  std::int64_t feature_dim() const;  // 8·base_width·expansion
  std::string arch() const { return "resnet" + std::to_string(depth); }
  nlohmann::json to_json() const;
  static ResNetConfig from_json(const nlohmann::json& j);
  void validate() const;  // throws contra::Error naming the bad option and the valid choices
};

// Activation checkpointing (autograd/checkpoint.h) in the training forward: none; stages:
// the stem and each of layer1..layer4 keep only their input and are recomputed in the
// backward pass; blocks: the stem and each residual block are. Gradients are bit-identical
// to none's; batch norm's running statistics are updated once.
enum class Checkpointing { none, stages, blocks };
// "none" / "stages" / "blocks"; throws listing the valid names.
Checkpointing checkpointing_from_name(const std::string& name);
const char* checkpointing_name(Checkpointing c);

// "resnet18" → 18; throws listing the valid names.
int resnet_depth_from_name(const std::string& arch);
// "cifar" / "imagenet"; throws listing the valid names.
Stem stem_from_name(const std::string& stem);
const char* stem_name(Stem s);

class ResNet : public Module {
 public:
  ResNet(const ResNetConfig& config, Generator& gen);

  // (N, C, H, W) → (N, D) features, or (N, num_classes) logits when num_classes > 0.
  Tensor forward(const Tensor& x) override;
  // (N, C, H, W) → (N, D): the pooled features, never the classifier.
  Tensor forward_features(const Tensor& x);

  const ResNetConfig& config() const { return cfg_; }
  std::int64_t feature_dim() const { return cfg_.feature_dim(); }
  void set_checkpointing(Checkpointing c) { checkpointing_ = c; }
  Checkpointing checkpointing() const { return checkpointing_; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Module> maxpool;  // MaxPool2d (imagenet stem) or Identity (cifar)
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Module> fc;       // Linear, or Identity when num_classes = 0

 private:
  Tensor stem_forward(const Tensor& x);
  ResNetConfig cfg_;
  Checkpointing checkpointing_ = Checkpointing::none;
};

}  // namespace contra::nn
