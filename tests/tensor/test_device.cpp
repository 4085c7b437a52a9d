// Devices at the tensor layer (issue 11 §1): Tensor::to(Device), device-taking factories and
// random draws, set_data, and the host ↔ device transfer methods. Only the CPU exists in a
// build without CUDA: a cuda device must throw the stub's clear error.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "autograd/ops/record.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;

TEST_CASE("device: to(cpu) of a CPU tensor is the tensor itself, no copy") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor y = x.to(Device::cpu());
  CHECK(y.same(x));
  CHECK(y.storage() == x.storage());
  // A non-contiguous view stays the same view (same device: nothing to do).
  const Tensor t = x.as_strided({3, 2}, {1, 3}, 0);
  const Tensor u = t.to(Device::cpu());
  CHECK(u.same(t));
  CHECK_FALSE(u.is_contiguous());
  CHECK(u.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("device: a cuda device without a CUDA build throws the stub's clear error") {
  if (cuda_available()) return;  // a CUDA build with a GPU: nothing to refuse
  Tensor x = Tensor::ones({2, 2});
  CHECK_THROWS_WITH_AS(x.to(Device::cuda()), doctest::Contains("CUDA"), Error);
  // Also for a non-contiguous view, and for the factories and draws that take a device.
  CHECK_THROWS_WITH_AS(x.as_strided({2, 2}, {1, 2}, 0).to(Device::cuda()), doctest::Contains("cuda:0"), Error);
  Generator gen(1);
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::f32, Device::cuda()), Error);
  CHECK_THROWS_AS(Tensor::scalar(1.0, DType::f32, Device::cuda(1)), Error);
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2}, {2}, Device::cuda()), Error);
  CHECK_THROWS_AS(Tensor::randn({2}, gen, DType::f32, Device::cuda()), Error);
}

TEST_CASE("device: factories and random draws with an explicit CPU device equal the defaults") {
  Generator a(42), b(42);
  CHECK(Tensor::randn({5, 3}, a).to_vector<float>() == Tensor::randn({5, 3}, b, DType::f32, Device::cpu()).to_vector<float>());
  CHECK(Tensor::rand({4}, a, DType::f64).to_vector<double>() ==
        Tensor::rand({4}, b, DType::f64, Device::cpu()).to_vector<double>());
  CHECK(a.uniform() == b.uniform());  // the generators advanced alike
  CHECK(Tensor::arange(4, DType::i64, Device::cpu()).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(Tensor::scalar(2.5, DType::f64, Device::cpu()).item() == 2.5);
  CHECK(Tensor::from_vector<std::uint8_t>({7, 8}, {2}, Device::cpu()).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{7, 8});
}

TEST_CASE("device: copy_to_host / copy_from_host round trips bytes exactly, views through contiguous()") {
  Backend& be = backend_for(Device::cpu());
  Generator gen(3);
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x = Tensor::randn({4, 6}, gen, dt);
    const Tensor view = x.as_strided({3, 4}, {1, 6}, 2);  // a transposed, offset window
    const Tensor c = view.contiguous();
    std::vector<char> host(static_cast<std::size_t>(c.numel()) * dtype_size(dt));
    be.copy_to_host(c, host.data());
    const Tensor back = Tensor::empty(view.shape(), dt);
    be.copy_from_host(host.data(), back);
    CHECK(back.to_vector<double>() == view.to_vector<double>());
  }
  // The transfer methods refuse strided tensors: Tensor::to makes them contiguous first.
  const Tensor x = Tensor::zeros({2, 3});
  std::vector<float> host(6);
  CHECK_THROWS_AS(be.copy_to_host(x.as_strided({3, 2}, {1, 3}, 0), host.data()), Error);
}

TEST_CASE("device: set_data keeps the handle, its gradient flag and every alias") {
  Tensor p = Tensor::zeros({3});
  p.set_requires_grad(true);
  const Tensor alias = p;  // e.g. what an optimizer holds
  const auto v0 = p.version();
  p.set_data(Tensor::from_vector<float>({1, 2, 3}, {3}));
  CHECK(alias.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(alias.requires_grad());
  CHECK(alias.same(p));
  CHECK(p.version() > v0);
  CHECK_THROWS_WITH_AS(p.set_data(Tensor::zeros({4})), doctest::Contains("shape"), Error);
}

TEST_CASE("device: scalar_like and the 0-d constants follow the other operand's device") {
  const Tensor x = Tensor::ones({2});
  CHECK(raw::scalar_like(x, 3.0).device() == x.device());
  CHECK((2.0 / x).device() == x.device());
}
