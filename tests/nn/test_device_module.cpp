// Module::to and Optimizer::to (issue 11 §1): parameters move in place keeping their
// identity, optimizer state moves with them, and training continues bit-identically. Only
// the CPU exists without a CUDA build, so the moves here are to the CPU (no copy) and the
// refusal of a cuda device; the CUDA build runs the same checks across devices.
#include <doctest/doctest.h>

#include <functional>
#include <memory>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/adamw.h"
#include "nn/batch_norm.h"
#include "nn/checkpoint.h"
#include "nn/lars.h"
#include "nn/linear.h"
#include "nn/relu.h"
#include "nn/sequential.h"
#include "nn/sgd.h"
#include "nn_test_util.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::nn;

namespace {

std::shared_ptr<Sequential> small_model() {
  Generator gen(11);
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Linear>(5, 8, true, gen), std::make_shared<BatchNorm1d>(8), std::make_shared<ReLU>(),
      std::make_shared<Linear>(8, 3, true, gen)});
}

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(Module&)>;

const std::vector<std::pair<const char*, MakeOptimizer>> kOptimizers{
    {"SGD",
     [](Module& m) {
       return std::make_unique<SGD>(split_decay_groups(m.named_parameters(), 0.1, 1e-4), SGDOptions{0.9, 0.0, true});
     }},
    {"LARS",
     [](Module& m) {
       return std::make_unique<LARS>(split_decay_groups(m.named_parameters(), 0.5, 1e-6), LARSOptions{});
     }},
    {"AdamW",
     [](Module& m) {
       return std::make_unique<AdamW>(split_decay_groups(m.named_parameters(), 1e-2, 0.05), AdamWOptions{});
     }},
};

void train_step(Module& model, Optimizer& opt, int step) {
  Generator gen(100 + static_cast<std::uint64_t>(step));
  const Tensor x = Tensor::randn({6, 5}, gen, DType::f32, model.device());
  const Tensor y = model(x);
  opt.zero_grad();
  contra::backward(sum(square(y)));
  opt.step();
}

bool bit_equal(const StateDict& a, const StateDict& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.to_vector<double>() != b[i].second.to_vector<double>()) return false;
  return true;
}

}  // namespace

TEST_CASE("Module::to(cpu): parameters keep identity, optimizer state is kept, training is bit-identical") {
  for (const auto& [name, make] : kOptimizers) {
    CAPTURE(name);
    auto a = small_model(), b = small_model();
    auto oa = make(*a), ob = make(*b);
    for (int s = 0; s < 4; ++s) train_step(*a, *oa, s);

    train_step(*b, *ob, 0);
    train_step(*b, *ob, 1);
    const std::vector<Tensor> before = b->parameters();
    const auto storages = [&] {
      std::vector<const Storage*> v;
      for (const auto& p : before) v.push_back(p.storage().get());
      return v;
    }();
    b->to(Device::cpu());
    ob->to(Device::cpu());
    const std::vector<Tensor> after = b->parameters();
    for (std::size_t i = 0; i < before.size(); ++i) {
      CHECK(after[i].same(before[i]));                       // the same handles
      CHECK(after[i].storage().get() == storages[i]);        // and no copy on the same device
      CHECK(after[i].requires_grad());
    }
    CHECK(b->device() == Device::cpu());
    train_step(*b, *ob, 2);
    train_step(*b, *ob, 3);
    CHECK(bit_equal(a->state_dict(), b->state_dict()));
    CHECK(bit_equal(oa->state_tensors(), ob->state_tensors()));
  }
}

TEST_CASE("Module::to(cuda) without a CUDA build: the stub's clear error, and the model is left as it was") {
  if (cuda_available()) return;
  auto m = small_model();
  auto opt = kOptimizers[0].second(*m);
  train_step(*m, *opt, 0);
  const StateDict before = m->state_dict();
  std::vector<std::vector<double>> values;
  for (const auto& [_, t] : before) values.push_back(t.to_vector<double>());
  CHECK_THROWS_WITH_AS(m->to(Device::cuda()), doctest::Contains("CUDA"), Error);
  CHECK_THROWS_WITH_AS(opt->to(Device::cuda()), doctest::Contains("CUDA"), Error);
  const StateDict after = m->state_dict();
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].second.device() == Device::cpu());
    CHECK(after[i].second.to_vector<double>() == values[i]);
  }
  train_step(*m, *opt, 1);  // still trains on the CPU
}

TEST_CASE("checkpoint on the CPU: save, load into a fresh model and optimizer, resume bit-identically") {
  for (const auto& [name, make] : kOptimizers) {
    CAPTURE(name);
    auto a = small_model();
    auto oa = make(*a);
    for (int s = 0; s < 2; ++s) train_step(*a, *oa, s);
    const std::string path = nn_test::temp_dir("device_ckpt") + "/ckpt.safetensors";
    save_checkpoint(path, a->state_dict(), oa.get(), TrainingState{});

    auto b = small_model();
    auto ob = make(*b);
    const Checkpoint c = load_checkpoint(path);
    b->load_state_dict(c.model);
    b->to(Device::cpu());  // the order a run on another device takes: load, move, restore
    ob->restore_state(c.optimizer, c.optimizer_tensors);
    for (int s = 2; s < 4; ++s) {
      train_step(*a, *oa, s);
      train_step(*b, *ob, s);
    }
    CHECK(bit_equal(a->state_dict(), b->state_dict()));
    CHECK(bit_equal(oa->state_tensors(), ob->state_tensors()));
  }
}

TEST_CASE("LARS::last_trust_ratio reads the ratio the fused update wrote") {
  auto m = small_model();
  LARS opt(split_decay_groups(m->named_parameters(), 0.5, 1e-6), LARSOptions{});
  CHECK(opt.last_trust_ratio(0) == 1.0);  // before any step
  train_step(*m, opt, 0);
  // Parameter 0 is the first Linear's weight (adapted); the rank-1 ones are not.
  CHECK(opt.last_trust_ratio(0) != 1.0);
  CHECK(opt.last_trust_ratio(0) > 0.0);
  const auto last = opt.num_params() - 1;
  CHECK(opt.last_trust_ratio(last) == 1.0);
  CHECK_THROWS_AS(opt.last_trust_ratio(opt.num_params()), Error);
}
