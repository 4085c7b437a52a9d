// resnet.cpp — see resnet.h for the architecture and the initialisation.
#include "nn/resnet.h"

#include <cmath>

#include "autograd/checkpoint.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/basic_block.h"
#include "nn/bottleneck.h"
#include "nn/identity.h"
#include "nn/init.h"
#include "nn/max_pool2d.h"
#include "nn/relu.h"
#include "tensor/error.h"

namespace contra::nn {

namespace {
struct Layout {
  bool bottleneck;
  std::vector<int> blocks;
};

Layout layout_of(int depth) {
  switch (depth) {
    case 18: return {false, {2, 2, 2, 2}};
    case 34: return {false, {3, 4, 6, 3}};
    case 50: return {true, {3, 4, 6, 3}};
  }
  throw Error("ResNet", "unsupported depth " + std::to_string(depth), "choose resnet18, resnet34 or resnet50");
}

template <typename Block>
std::shared_ptr<Sequential> make_layer(std::int64_t& in_planes, std::int64_t planes, int blocks, std::int64_t stride,
                                       Generator& gen, DType dtype) {
  auto layer = std::make_shared<Sequential>();
  for (int i = 0; i < blocks; ++i) {
    layer->push_back(std::make_shared<Block>(in_planes, planes, i == 0 ? stride : 1, gen, dtype));
    in_planes = planes * Block::expansion;
  }
  return layer;
}
}  // namespace

int resnet_depth_from_name(const std::string& arch) {
  if (arch == "resnet18") return 18;
  if (arch == "resnet34") return 34;
  if (arch == "resnet50") return 50;
  throw Error("arch", "unknown architecture '" + arch + "'", "choose resnet18, resnet34 or resnet50");
}

Stem stem_from_name(const std::string& stem) {
  if (stem == "cifar") return Stem::cifar;
  if (stem == "imagenet") return Stem::imagenet;
  throw Error("stem", "unknown stem '" + stem + "'", "choose cifar (3×3/1, no max-pool) or imagenet (7×7/2 + max-pool)");
}

const char* stem_name(Stem s) { return s == Stem::cifar ? "cifar" : "imagenet"; }

Checkpointing checkpointing_from_name(const std::string& name) {
  if (name == "none") return Checkpointing::none;
  if (name == "stages") return Checkpointing::stages;
  if (name == "blocks") return Checkpointing::blocks;
  throw Error("checkpoint-activations", "unknown checkpointing '" + name + "'",
              "choose none, stages (stem and layer1..4 recomputed) or blocks (stem and each residual block)");
}

const char* checkpointing_name(Checkpointing c) {
  return c == Checkpointing::none ? "none" : c == Checkpointing::stages ? "stages" : "blocks";
}

std::int64_t ResNetConfig::base_width() const { return static_cast<std::int64_t>(std::lround(64.0 * width)); }

std::int64_t ResNetConfig::feature_dim() const { return 8 * base_width() * (depth == 50 ? 4 : 1); }

void ResNetConfig::validate() const {
  layout_of(depth);
  CONTRA_CHECK(is_floating(dtype), "ResNet", "dtype must be f32 or f64, got ", dtype_name(dtype));
  CONTRA_CHECK(in_channels > 0, "ResNet", "in_channels must be positive, got ", in_channels);
  CONTRA_CHECK(width > 0 && base_width() >= 1, "ResNet", "width ", width, " gives a base width of ", base_width(),
               "; it must be at least 1/64");
  CONTRA_CHECK(num_classes >= 0, "ResNet", "num_classes must be ≥ 0, got ", num_classes);
}

nlohmann::json ResNetConfig::to_json() const {
  return {{"arch", arch()},          {"stem", stem_name(stem)},       {"in_channels", in_channels},
          {"width", width},          {"num_classes", num_classes},    {"zero_init_residual", zero_init_residual}};
}

ResNetConfig ResNetConfig::from_json(const nlohmann::json& j) {
  ResNetConfig c;
  try {
    c.depth = resnet_depth_from_name(j.at("arch").get<std::string>());
    c.stem = stem_from_name(j.at("stem").get<std::string>());
    c.in_channels = j.value("in_channels", std::int64_t{3});
    c.width = j.value("width", 1.0);
    c.num_classes = j.value("num_classes", std::int64_t{0});
    c.zero_init_residual = j.value("zero_init_residual", false);
  } catch (const nlohmann::json::exception& e) {
    throw Error("ResNetConfig", std::string("malformed model config: ") + e.what(),
                "expected {\"arch\": \"resnet18\", \"stem\": \"cifar\", ...}");
  }
  c.validate();
  return c;
}

ResNet::ResNet(const ResNetConfig& config, Generator& gen) : Module("ResNet"), cfg_(config) {
  cfg_.validate();
  const Layout lay = layout_of(cfg_.depth);
  const std::int64_t B = cfg_.base_width();
  const bool cifar = cfg_.stem == Stem::cifar;

  conv1 = register_module("conv1", std::make_shared<Conv2d>(
                                       Conv2dOptions{cfg_.in_channels, B, cifar ? 3 : 7, cifar ? 1 : 2, cifar ? 1 : 3, 1,
                                                     1, false, cfg_.dtype},
                                       gen));
  BatchNormOptions bn_opt;
  bn_opt.num_features = B;
  bn_opt.dtype = cfg_.dtype;
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(bn_opt));
  register_module("relu", std::make_shared<ReLU>());
  maxpool = cifar ? std::shared_ptr<Module>(std::make_shared<Identity>())
                  : std::shared_ptr<Module>(std::make_shared<MaxPool2d>(3, 2, 1));
  register_module("maxpool", maxpool);

  std::int64_t in_planes = B;
  std::shared_ptr<Sequential>* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int i = 0; i < 4; ++i) {
    const std::int64_t planes = B << i, stride = i == 0 ? 1 : 2;
    *layers[i] = lay.bottleneck ? make_layer<Bottleneck>(in_planes, planes, lay.blocks[i], stride, gen, cfg_.dtype)
                                : make_layer<BasicBlock>(in_planes, planes, lay.blocks[i], stride, gen, cfg_.dtype);
    register_module("layer" + std::to_string(i + 1), *layers[i]);
  }
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1, 1));
  fc = cfg_.num_classes > 0
           ? std::shared_ptr<Module>(std::make_shared<Linear>(in_planes, cfg_.num_classes, true, gen, cfg_.dtype))
           : std::shared_ptr<Module>(std::make_shared<Identity>());
  register_module("fc", fc);

  // torchvision's initialisation, after construction (the layers' default draws are replaced).
  autograd::NoGradGuard no_grad;
  for (auto& [name, m] : named_modules()) {
    if (auto* c = dynamic_cast<Conv2d*>(m.get())) init::kaiming_normal_relu_(c->weight, init::FanMode::fan_out, gen);
    if (auto* bn = dynamic_cast<BatchNorm*>(m.get())) {
      bn->weight.fill_(1.0);
      bn->bias.fill_(0.0);
    }
  }
  if (cfg_.zero_init_residual) {
    for (auto& [name, m] : named_modules()) {
      if (auto* b = dynamic_cast<BasicBlock*>(m.get())) b->last_bn().weight.fill_(0.0);
      if (auto* b = dynamic_cast<Bottleneck*>(m.get())) b->last_bn().weight.fill_(0.0);
    }
  }
}

Tensor ResNet::forward_features(const Tensor& x) {
  CONTRA_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels, "ResNet", "expects input (N, ", cfg_.in_channels,
               ", H, W), got ", shape_str(x.shape()),
               "; set in_channels to the images' channel count");
  Tensor h;
  if (checkpointing_ == Checkpointing::none) {
    h = stem_forward(x);                               // (N, B, H', W')
    h = layer1->forward(h);                            // (N, B·e, ., .)
    h = layer2->forward(h);                            // (N, 2B·e, ., .)
    h = layer3->forward(h);                            // (N, 4B·e, ., .)
    h = layer4->forward(h);                            // (N, 8B·e, ., .)
  } else {
    // The same sequence, each unit under autograd::checkpoint: only unit inputs are saved.
    std::vector<Tensor> stem_params = conv1->parameters();
    for (const Tensor& p : bn1->parameters()) stem_params.push_back(p);
    h = autograd::checkpoint([this](const Tensor& in) { return stem_forward(in); }, x, stem_params);
    for (Sequential* layer : {layer1.get(), layer2.get(), layer3.get(), layer4.get()}) {
      if (checkpointing_ == Checkpointing::stages) {
        h = autograd::checkpoint([layer](const Tensor& in) { return layer->forward(in); }, h, layer->parameters());
        continue;
      }
      for (std::size_t i = 0; i < layer->size(); ++i) {
        Module* block = (*layer)[i].get();
        h = autograd::checkpoint([block](const Tensor& in) { return block->forward(in); }, h, block->parameters());
      }
    }
  }
  h = avgpool->forward(h);                           // (N, D, 1, 1)
  return flatten(h, 1);                              // (N, D)
}

Tensor ResNet::stem_forward(const Tensor& x) {
  return maxpool->forward(relu(bn1->forward(conv1->forward(x))));  // (N, B, H', W')
}

Tensor ResNet::forward(const Tensor& x) { return fc->forward(forward_features(x)); }

}  // namespace contra::nn
