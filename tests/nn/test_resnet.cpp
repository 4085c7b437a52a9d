// Modules, layers, ResNet and projection head: torchvision names, shapes, init, modes,
// state-dict loading errors; and the golden test against PyTorch 1.13
// (scripts/make_resnet_fixture.py → tests/nn/fixtures/resnet18_cifar_w8, ResNet-18 with
// the CIFAR stem at width 1/8, input (4, 3, 32, 32)).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/basic_block.h"
#include "nn/batch_norm.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/projection_head.h"
#include "nn/relu.h"
#include "nn/resnet.h"
#include "nn/safetensors.h"
#include "nn/sequential.h"
#include "nn_test_util.h"

using namespace contra;
using namespace contra::nn;
using contra::nn_test::fixture;
using contra::nn_test::load_fixture;

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "missing fixture ", path);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string shape_key(const Tensor& t) {
  if (t.dim() == 0) return "scalar";
  std::string s;
  for (std::int64_t d = 0; d < t.dim(); ++d) s += (d ? "x" : "") + std::to_string(t.size(d));
  return s;
}

// max |a − b| / max |b|: the error relative to the reference's scale.
double rel_err(const Tensor& a, const Tensor& ref) {
  auto x = a.to_vector<double>(), y = ref.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / std::max(scale, 1e-30);
}

ResNetConfig cfg(int depth, Stem stem, double width = 1.0, std::int64_t classes = 0, std::int64_t in_ch = 3) {
  ResNetConfig c;
  c.depth = depth;
  c.stem = stem;
  c.width = width;
  c.num_classes = classes;
  c.in_channels = in_ch;
  return c;
}

}  // namespace

TEST_CASE("state_dict names and shapes equal torchvision's resnet18 and resnet50, in order") {
  for (int depth : {18, 50}) {
    CAPTURE(depth);
    Generator gen(0);
    ResNet net(cfg(depth, Stem::imagenet, 1.0, 1000), gen);
    const auto expected = read_lines(fixture("torchvision_keys_resnet" + std::to_string(depth) + ".txt"));
    const StateDict sd = net.state_dict();
    REQUIRE(sd.size() == expected.size());
    for (std::size_t i = 0; i < sd.size(); ++i) CHECK(sd[i].first + " " + shape_key(sd[i].second) == expected[i]);
    CHECK(net.num_parameters() == (depth == 18 ? 11689512 : 25557032));  // torchvision's counts
  }
}

TEST_CASE("ResNet shapes: stems, depths, widths, input channels, classifier") {
  Generator gen(1);
  autograd::NoGradGuard no_grad;
  struct Case {
    int depth;
    Stem stem;
    double width;
    std::int64_t in_ch, hw, classes, out;
  };
  for (const Case& c : {Case{18, Stem::cifar, 0.125, 1, 28, 0, 64}, Case{34, Stem::cifar, 0.0625, 3, 16, 0, 32},
                        Case{50, Stem::cifar, 0.0625, 3, 16, 0, 128}, Case{18, Stem::imagenet, 0.125, 3, 64, 10, 10},
                        Case{50, Stem::imagenet, 0.0625, 2, 40, 0, 128}}) {
    CAPTURE(c.depth);
    ResNet net(cfg(c.depth, c.stem, c.width, c.classes, c.in_ch), gen);
    Tensor x = Tensor::randn({2, c.in_ch, c.hw, c.hw}, gen);
    Tensor y = net.forward(x);
    CHECK(y.shape() == Shape{2, c.out});
    CHECK(net.forward_features(x).shape() == Shape{2, net.feature_dim()});
  }
  ResNet net(cfg(18, Stem::cifar, 0.125), gen);
  CHECK(net.feature_dim() == 64);
  CHECK(net.state_dict().front().second.shape() == Shape{8, 3, 3, 3});  // CIFAR stem conv1
  CHECK(net.named_parameters().back().first == "layer4.1.bn2.bias");   // no fc parameters
  CHECK_THROWS_WITH_AS(net.forward(Tensor::zeros({2, 1, 32, 32})), doctest::Contains("expects input (N, 3, H, W)"),
                       Error);
  CHECK_THROWS_WITH_AS(resnet_depth_from_name("resnet19"), doctest::Contains("resnet18, resnet34 or resnet50"), Error);
  CHECK_THROWS_AS(stem_from_name("tiny"), Error);
  ResNetConfig back = ResNetConfig::from_json(cfg(50, Stem::imagenet, 0.5, 7, 1).to_json());
  CHECK(back.to_json() == cfg(50, Stem::imagenet, 0.5, 7, 1).to_json());
}

TEST_CASE("torchvision initialisation, seeded, and zero_init_residual") {
  Generator g1(5), g2(5), g3(6);
  ResNet a(cfg(18, Stem::cifar, 0.5), g1), b(cfg(18, Stem::cifar, 0.5), g2), c(cfg(18, Stem::cifar, 0.5), g3);
  const auto sa = a.state_dict(), sb = b.state_dict(), sc = c.state_dict();
  for (std::size_t i = 0; i < sa.size(); ++i) CHECK(sa[i].second.to_vector<double>() == sb[i].second.to_vector<double>());
  CHECK(sa[0].second.to_vector<float>() != sc[0].second.to_vector<float>());
  // kaiming_normal(fan_out, relu): std = √(2 / (O·k·k)); layer3.0.conv2: O = 128, k = 3.
  const Tensor w = a.layer3->operator[](0)->state_dict()[0].second;  // conv1.weight (128, 64, 3, 3)
  REQUIRE(w.shape() == Shape{128, 64, 3, 3});
  const double n = static_cast<double>(w.numel());
  const double m = sum(w).item() / n;
  const double sd = std::sqrt(sum(square(w)).item() / n - m * m);
  CHECK(std::abs(m) < 0.01 * std::sqrt(2.0 / (128 * 9)) * 10);
  CHECK(sd == doctest::Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.02));
  CHECK(a.bn1->weight.to_vector<float>() == std::vector<float>(32, 1.0f));
  CHECK(a.bn1->bias.to_vector<float>() == std::vector<float>(32, 0.0f));

  Generator g4(5);
  ResNetConfig z = cfg(18, Stem::cifar, 0.125);
  z.zero_init_residual = true;
  ResNet zr(z, g4);
  for (const auto& [k, t] : zr.state_dict()) {
    const bool last_bn_weight = k.find(".bn2.weight") != std::string::npos;
    if (last_bn_weight) CHECK_MESSAGE(sum(abs(t)).item() == 0.0, k);
    if (k == "bn1.weight" || k.find(".bn1.weight") != std::string::npos) CHECK(sum(t).item() == t.numel());
  }
  Generator g5(5);
  ResNetConfig z50 = cfg(50, Stem::cifar, 0.0625);
  z50.zero_init_residual = true;
  ResNet zr50(z50, g5);
  int zeroed = 0;
  for (const auto& [k, t] : zr50.state_dict())
    if (k.find(".bn3.weight") != std::string::npos) zeroed += sum(abs(t)).item() == 0.0;
  CHECK(zeroed == 16);  // 3 + 4 + 6 + 3 Bottlenecks
}

TEST_CASE("train/eval propagate; BatchNorm statistics update only in training") {
  Generator gen(2);
  ResNet net(cfg(18, Stem::cifar, 0.125), gen);
  CHECK(net.is_training());
  CHECK(net.layer4->named_children()[1].second->is_training());
  Tensor x = Tensor::randn({4, 3, 16, 16}, gen);
  net.forward(x);
  CHECK(net.bn1->num_batches_tracked.item() == 1);
  CHECK(net.bn1->num_batches_tracked.dtype() == DType::i64);
  const auto rm = net.bn1->running_mean.to_vector<float>();
  CHECK(rm != std::vector<float>(8, 0.0f));
  net.eval();
  CHECK_FALSE(net.layer4->named_children()[1].second->is_training());
  Tensor y1 = net.forward(x), y2 = net.forward(x);
  CHECK(y1.to_vector<float>() == y2.to_vector<float>());
  CHECK(net.bn1->running_mean.to_vector<float>() == rm);
  CHECK(net.bn1->num_batches_tracked.item() == 1);
  net.train();
  CHECK(net.bn1->is_training());
}

TEST_CASE("load_state_dict: strict errors list missing, unexpected and mismatched keys") {
  Generator gen(3);
  ResNet a(cfg(18, Stem::cifar, 0.125), gen);
  ResNet b(cfg(18, Stem::cifar, 0.125), gen);
  b.load_state_dict(a.state_dict());
  const auto sa = a.state_dict(), sb = b.state_dict();
  for (std::size_t i = 0; i < sa.size(); ++i) CHECK(sa[i].second.to_vector<double>() == sb[i].second.to_vector<double>());
  CHECK_FALSE(sa[0].second.same(sb[0].second));  // copied, not aliased

  StateDict broken = drop_prefixes(a.state_dict(), {"layer4.1."});
  broken.emplace_back("fc.weight", Tensor::zeros({10, 64}));
  for (auto& [k, t] : broken)
    if (k == "conv1.weight") t = Tensor::zeros({8, 1, 3, 3});
  try {
    b.load_state_dict(broken);
    FAIL("accepted");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("missing keys: [layer4.1.conv1.weight") != std::string::npos);
    CHECK(msg.find("unexpected keys: [fc.weight]") != std::string::npos);
    CHECK(msg.find("conv1.weight: checkpoint (8, 1, 3, 3) vs model (8, 3, 3, 3)") != std::string::npos);
  }
  // Non-strict: loads what matches, reports the missing keys; shape mismatches still refused.
  const auto missing = b.load_state_dict(drop_prefixes(a.state_dict(), {"layer4.1."}), false);
  CHECK(missing.size() == 12);  // conv1, bn1 (5 entries), conv2, bn2 (5 entries)
  CHECK(missing.front() == "layer4.1.conv1.weight");
  CHECK_THROWS_AS(b.load_state_dict(broken, false), Error);
}

TEST_CASE("Sequential, Linear, BatchNorm1d, Flatten, ReLU and the projection head") {
  Generator gen(4);
  Sequential seq;
  seq.push_back(std::make_shared<Flatten>());
  seq.push_back(std::make_shared<Linear>(12, 5, true, gen));
  seq.push_back(std::make_shared<ReLU>());
  seq.push_back(std::make_shared<BatchNorm1d>(5));
  const auto names = seq.state_dict();
  REQUIRE(names.size() == 7);
  CHECK(names[0].first == "1.weight");
  CHECK(names[1].first == "1.bias");
  CHECK(names[2].first == "3.weight");
  CHECK(names[6].first == "3.num_batches_tracked");
  Tensor y = seq.forward(Tensor::randn({6, 3, 2, 2}, gen));
  CHECK(y.shape() == Shape{6, 5});
  CHECK(seq.describe().find("(1): Linear(in_features=12, out_features=5, bias=True)") != std::string::npos);
  // Linear default init bound 1/√12.
  auto lin = std::dynamic_pointer_cast<Linear>(seq[1]);
  for (float v : lin->weight.to_vector<float>()) CHECK(std::abs(v) <= 1.0f / std::sqrt(12.0f));

  ProjectionHead head(ProjectionHeadConfig{64, 96, 128, 3, true, false}, gen);
  std::vector<std::string> keys;
  for (auto& [k, _] : head.named_parameters()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias", "6.weight",
                                         "6.bias"});
  CHECK(head.forward(Tensor::randn({8, 64}, gen)).shape() == Shape{8, 128});
  ProjectionHead plain(ProjectionHeadConfig{64, 64, 32, 2, false, true}, gen);
  keys.clear();
  for (auto& [k, _] : plain.named_parameters()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "3.weight", "3.bias"});
  CHECK_THROWS_AS(ProjectionHead(ProjectionHeadConfig{64, 64, 32, 0}, gen), Error);
}

TEST_CASE("a training step through ResNet + head reaches every parameter") {
  Generator gen(7);
  ResNet net(cfg(18, Stem::cifar, 0.125), gen);
  ProjectionHead head(ProjectionHeadConfig{64, 64, 16, 2}, gen);
  Tensor x = Tensor::randn({4, 3, 16, 16}, gen);
  Tensor z = l2_normalize(head.forward(net.forward(x)), 1);
  backward(sum(z * Tensor::randn({4, 16}, gen)));
  for (auto& [k, p] : net.named_parameters()) CHECK_MESSAGE(p.grad().defined(), k);
  for (auto& [k, p] : head.named_parameters()) CHECK_MESSAGE(p.grad().defined(), k);
  net.zero_grad();
  for (auto& [k, p] : net.named_parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("golden: ResNet-18 (CIFAR stem, width 1/8) matches PyTorch 1.13 in eval and train mode") {
  const std::string dir = "resnet18_cifar_w8/";
  const SafetensorsFile weights = load_safetensors(fixture(dir + "weights.safetensors"));
  CHECK_FALSE(weights.checksummed);  // a plain file, as PyTorch writes it
  const Tensor x = load_fixture(dir + "x.npy"), r = load_fixture(dir + "r.npy");
  const auto params = read_lines(fixture(dir + "params.txt"));
  const auto bns = read_lines(fixture(dir + "bns.txt"));

  Generator gen(0);
  ResNet net(cfg(18, Stem::cifar, 0.125), gen);
  net.load_state_dict(weights.tensors);  // strict: the names are torchvision's
  StateDict named = net.named_parameters();
  for (const char* mode : {"eval", "train"}) {
    CAPTURE(mode);
    const bool train = std::string(mode) == "train";
    net.train(train);
    net.zero_grad();
    Tensor xi = x.clone();
    xi.set_requires_grad(true);
    Tensor feats = net.forward(xi);  // (4, 64)
    backward(sum(feats * r));
    const double tol = 1e-5;  // measured ≈ 3e-7 (features), ≤ 2e-6 (gradients)
    CHECK(rel_err(feats, load_fixture(dir + mode + "_features.npy")) < tol);
    CHECK(rel_err(xi.grad(), load_fixture(dir + mode + "_dx.npy")) < 2e-5);
    for (const auto& p : params) {
      CAPTURE(p);
      const Tensor* t = find_tensor(named, p);
      REQUIRE(t);
      CHECK(rel_err(t->grad(), load_fixture(dir + mode + "_d_" + p + ".npy")) < 2e-5);
    }
  }
  const StateDict sd = net.state_dict();
  for (const auto& bn : bns) {
    CAPTURE(bn);
    CHECK(rel_err(*find_tensor(sd, bn + ".running_mean"), load_fixture(dir + "train_running_mean_" + bn + ".npy")) <
          1e-5);
    CHECK(rel_err(*find_tensor(sd, bn + ".running_var"), load_fixture(dir + "train_running_var_" + bn + ".npy")) <
          1e-5);
    CHECK(find_tensor(sd, bn + ".num_batches_tracked")->item() == 4);
  }
}

TEST_CASE("ResNet activation checkpointing: bit-identical gradients, running statistics updated once") {
  // f64 runs the reference kernels, f32 the oneDNN ones; both must match the plain graph
  // exactly (the same kernels run on the same values, see autograd/checkpoint.h).
  for (const DType dt : {DType::f64, DType::f32}) {
    std::vector<std::vector<double>> grads_none, buffers_none;
    std::vector<double> out_none;
    for (const Checkpointing mode : {Checkpointing::none, Checkpointing::stages, Checkpointing::blocks}) {
      CAPTURE(checkpointing_name(mode));
      CAPTURE(dtype_name(dt));
      Generator gen(3);
      ResNetConfig c = cfg(18, Stem::cifar, 0.125);
      c.dtype = dt;
      ResNet net(c, gen);
      net.set_checkpointing(mode);
      const Tensor x = Tensor::randn({4, 3, 12, 12}, gen, dt);
      std::vector<double> out;
      for (int step = 0; step < 2; ++step) {  // two steps: the running statistics compound
        const Tensor z = net.forward(x);      // (4, 64)
        backward(sum(z * z));
        out = z.to_vector<double>();
      }
      std::vector<std::vector<double>> grads, buffers;
      for (const auto& [name, p] : net.named_parameters()) grads.push_back(p.grad().to_vector<double>());
      for (const auto& [name, b] : net.named_buffers()) buffers.push_back(b.to_vector<double>());
      if (mode == Checkpointing::none) {
        grads_none = grads;
        buffers_none = buffers;
        out_none = out;
        continue;
      }
      CHECK(out == out_none);
      CHECK(grads == grads_none);
      CHECK(buffers == buffers_none);  // running mean/var and num_batches_tracked: once per forward
    }
  }
}
