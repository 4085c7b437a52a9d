// Double-precision gradchecks through whole modules: a ResNet BasicBlock (stride 2 with a
// downsample shortcut), a Bottleneck, and the projection head, in train and eval mode.
// The gradcheck clones its inputs, so the function points the module's parameter members
// at the clones before each forward.
#include <doctest/doctest.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/basic_block.h"
#include "nn/bottleneck.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/projection_head.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::nn;

namespace {

// The (parameter member, tensor) slots of a module, in a fixed order.
struct Slots {
  std::vector<Tensor*> members;
};

void add_conv(Slots& s, Conv2d& c) { s.members.push_back(&c.weight); }
void add_bn(Slots& s, BatchNorm& b) {
  s.members.push_back(&b.weight);
  s.members.push_back(&b.bias);
}

// Randomises BN γ, β and running statistics so no symmetry hides an error.
void randomise_bn(BatchNorm& b, Generator& gen) {
  init::uniform_(b.weight, 0.5, 1.5, gen);
  init::uniform_(b.bias, -0.3, 0.3, gen);
  init::uniform_(b.running_mean, -0.2, 0.2, gen);
  init::uniform_(b.running_var, 0.5, 1.5, gen);
}

GradcheckResult check_module(Module& m, Slots& slots, const Tensor& x, bool train) {
  m.train(train);
  std::vector<Tensor> inputs{x};
  for (Tensor* t : slots.members) inputs.push_back(*t);
  for (auto& t : inputs) t.set_requires_grad(true);
  GradcheckOptions opt;
  opt.mode = GradcheckOptions::Mode::projection;
  opt.rtol = 1e-4;
  opt.atol = 1e-6;
  return gradcheck(
      [&](const std::vector<Tensor>& in) {
        for (std::size_t i = 0; i < slots.members.size(); ++i) *slots.members[i] = in[i + 1];
        return m.forward(in[0]);
      },
      inputs, opt);
}

// Every element of every input is perturbed (no sampling).
std::int64_t total_elements(const Tensor& x, const Slots& s) {
  std::int64_t n = x.numel();
  for (const Tensor* t : s.members) n += t->numel();
  return n;
}

}  // namespace

TEST_CASE("gradcheck: BasicBlock with a stride-2 downsample shortcut, train and eval") {
  Generator gen(21);
  BasicBlock block(4, 6, 2, gen, DType::f64);
  REQUIRE(block.downsample);
  Slots s;
  add_conv(s, *block.conv1);
  add_bn(s, *block.bn1);
  add_conv(s, *block.conv2);
  add_bn(s, *block.bn2);
  add_conv(s, *std::dynamic_pointer_cast<Conv2d>((*block.downsample)[0]));
  add_bn(s, *std::dynamic_pointer_cast<BatchNorm>((*block.downsample)[1]));
  for (auto* bn : {block.bn1.get(), block.bn2.get()}) randomise_bn(*bn, gen);
  randomise_bn(*std::dynamic_pointer_cast<BatchNorm>((*block.downsample)[1]), gen);
  const Tensor x = Tensor::randn({2, 4, 5, 5}, gen, DType::f64);
  for (bool train : {true, false}) {
    CAPTURE(train);
    const auto r = check_module(block, s, x, train);
    CHECK_MESSAGE(r.ok, r.message);
    CHECK(r.checked == total_elements(x, s));
  }
}

TEST_CASE("gradcheck: Bottleneck (1×1 → 3×3 → 1×1, channel-changing shortcut), train mode") {
  Generator gen(22);
  Bottleneck block(4, 2, 1, gen, DType::f64);
  REQUIRE(block.downsample);
  Slots s;
  add_conv(s, *block.conv1);
  add_bn(s, *block.bn1);
  add_conv(s, *block.conv2);
  add_bn(s, *block.bn2);
  add_conv(s, *block.conv3);
  add_bn(s, *block.bn3);
  for (auto* bn : {block.bn1.get(), block.bn2.get(), block.bn3.get()}) randomise_bn(*bn, gen);
  const Tensor x = Tensor::randn({2, 4, 4, 4}, gen, DType::f64);
  const auto r = check_module(block, s, x, true);
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == total_elements(x, s));
}

TEST_CASE("gradcheck: projection head Linear → BN1d → ReLU → Linear, train mode") {
  Generator gen(23);
  ProjectionHeadConfig cfg{6, 5, 3, 2, true, false};
  cfg.dtype = DType::f64;
  ProjectionHead head(cfg, gen);
  auto l0 = std::dynamic_pointer_cast<Linear>(head[0]);
  auto bn = std::dynamic_pointer_cast<BatchNorm>(head[1]);
  auto l1 = std::dynamic_pointer_cast<Linear>(head[3]);
  randomise_bn(*bn, gen);
  Slots s{{&l0->weight, &bn->weight, &bn->bias, &l1->weight, &l1->bias}};
  const Tensor x = Tensor::randn({5, 6}, gen, DType::f64);
  const auto r = check_module(head, s, x, true);
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(r.checked == total_elements(x, s));
}
