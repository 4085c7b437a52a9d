// CUDA backend: what the backend-parity harness (test_backend_parity.cpp, every Backend
// method on cuda:0 against the CPU reference when a GPU is present) does not check — the
// graceful refusal of cuda devices on a machine without a GPU, and the CUDA-specific
// contracts: copy_from_host may return before the transfer ends but its host buffer is free
// at once (pinned staging), and an out-of-range index is reported at the next
// synchronisation point. Without a GPU the GPU cases print one line and pass; they are
// compiled here and run by scripts/device-check on a GPU machine.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <vector>

#include "tensor/backend.h"

using namespace contra;

namespace {

bool have_gpu() {
  static const bool gpu = [] {
    const bool ok = cuda_available();
    if (!ok) std::printf("test_cuda: GPU cases skipped, no CUDA device (this machine: compile check only)\n");
    return ok;
  }();
  return gpu;
}

const Device kGpu = Device::cuda(0);

std::vector<float> read_back(const Tensor& gpu) {
  std::vector<float> host(static_cast<std::size_t>(gpu.numel()));
  backend_for(kGpu).copy_to_host(gpu, host.data());
  return host;
}

}  // namespace

TEST_CASE("cuda: a cuda device without a GPU is a clear contra::Error") {
  if (cuda_available()) return;
  CHECK_THROWS_AS(backend_for(Device::cuda(0)), Error);
  CHECK_THROWS_AS(Tensor::empty({2}, DType::f32, Device::cuda(0)), Error);
}

TEST_CASE("cuda: copy_from_host stages its buffer, so the caller may overwrite it at once") {
  if (!have_gpu()) return;
  Backend& be = backend_for(kGpu);
  const std::int64_t n = 1 << 20;
  std::vector<float> host(static_cast<std::size_t>(n), 1.0f);
  Tensor a = Tensor::empty({n}, DType::f32, kGpu), b = Tensor::empty({n}, DType::f32, kGpu);
  be.copy_from_host(host.data(), a);
  std::fill(host.begin(), host.end(), 2.0f);  // reused before any synchronisation
  be.copy_from_host(host.data(), b);
  const std::vector<float> ra = read_back(a), rb = read_back(b);
  CHECK(std::count(ra.begin(), ra.end(), 1.0f) == n);
  CHECK(std::count(rb.begin(), rb.end(), 2.0f) == n);
}

TEST_CASE("cuda: an out-of-range index is a contra::Error at the next synchronisation point") {
  if (!have_gpu()) return;
  Backend& be = backend_for(kGpu);
  Tensor x = Tensor::empty({4, 3}, DType::f32, kGpu), out = Tensor::empty({2, 3}, DType::f32, kGpu);
  be.fill(x, 1.0);
  const std::vector<std::int64_t> bad = {1, 7};
  Tensor index = Tensor::empty({2}, DType::i64, kGpu);
  be.copy_from_host(bad.data(), index);
  be.index_select(x, 0, index, out);
  std::vector<float> host(6);
  CHECK_THROWS_AS(be.copy_to_host(out, host.data()), Error);
}

TEST_CASE("cuda: count_non_finite over several tensors is one number") {
  if (!have_gpu()) return;
  Backend& be = backend_for(kGpu);
  const std::vector<float> values = {1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f,
                                     std::numeric_limits<float>::infinity()};
  Tensor a = Tensor::empty({4}, DType::f32, kGpu), b = Tensor::empty({4}, DType::f32, kGpu);
  be.copy_from_host(values.data(), a);
  be.copy_from_host(values.data(), b);
  CHECK(be.count_non_finite({a, b, Tensor()}) == 4);
}
