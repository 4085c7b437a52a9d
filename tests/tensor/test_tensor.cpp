// Unit tests of the tensor layer: shapes, strides, views sharing storage, versions, RNG.
#include <doctest/doctest.h>

#include <set>

#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/generator.h"
#include "tensor/tensor.h"

using namespace contra;

TEST_CASE("factories fill shape, strides and values") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.strides() == Strides{3, 1});
  CHECK(z.numel() == 6);
  CHECK(z.is_contiguous());
  for (double v : z.to_vector<double>()) CHECK(v == 0.0);
  Tensor f = Tensor::full({4}, 2.5, DType::f64);
  CHECK(f.dtype() == DType::f64);
  CHECK(f.at({3}) == 2.5);
  Tensor a = Tensor::arange(5);
  CHECK(a.dtype() == DType::i64);
  CHECK(a.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  Tensor s = Tensor::scalar(7.0);
  CHECK(s.dim() == 0);
  CHECK(s.item() == 7.0);
  Tensor v = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.at({2, 1}) == 6.0);
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
  CHECK_THROWS_AS(Tensor::zeros({-1, 2}), Error);
}

TEST_CASE("dtype conversion and element access") {
  Tensor v = Tensor::from_vector<double>({1.75, -2.5}, {2});
  CHECK(v.to(DType::f32).at({0}) == doctest::Approx(1.75));
  CHECK(v.to(DType::i64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, -2});
  CHECK_THROWS_AS(v.data<float>(), Error);
  CHECK_THROWS_AS(v.item(), Error);
  CHECK_THROWS_AS(v.at({2}), Error);
  CHECK_THROWS_AS(Tensor().shape(), Error);
}

TEST_CASE("views share storage; contiguous copies only when needed") {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = transpose(x, 0, 1);  // (3, 2), strides (1, 3)
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.strides() == Strides{1, 3});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.storage() == x.storage());
  CHECK(t.at({2, 1}) == 5.0);
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.storage() != x.storage());
  CHECK(c.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(x.contiguous().storage() == x.storage());

  Tensor s = slice(x, 1, 1, 3);  // columns 1..2
  CHECK(s.shape() == Shape{2, 2});
  CHECK(s.offset() == 1);
  CHECK(s.storage() == x.storage());
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 4, 5});

  Tensor e = expand(reshape(Tensor::from_vector<float>({1, 2}, {2}), {2, 1}), {2, 3});
  CHECK(e.strides() == Strides{1, 0});
  CHECK(e.to_vector<float>() == std::vector<float>{1, 1, 1, 2, 2, 2});

  Tensor r = reshape(x, {3, 2});
  CHECK(r.storage() == x.storage());
  CHECK(reshape(x, {-1}).shape() == Shape{6});
  CHECK_THROWS_AS(reshape(x, {4, 2}), Error);
  CHECK_THROWS_AS(t.view({6}), Error);  // a view of non-contiguous data is refused
  CHECK(reshape(t, {6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});  // reshape copies
}

TEST_CASE("writes through a view are seen by the base and bump the shared version") {
  Tensor x = Tensor::zeros({2, 3});
  Tensor row = slice(x, 0, 1, 2);
  const auto v0 = x.version();
  row.fill_(4.0);
  CHECK(x.version() == v0 + 1);
  CHECK(x.to_vector<float>() == std::vector<float>{0, 0, 0, 4, 4, 4});
  x.set_at({0, 0}, -1.0);
  CHECK(row.version() == v0 + 2);
  Tensor src = Tensor::from_vector<double>({1, 2, 3}, {3});
  x.copy_(src);  // broadcast over rows, f64 → f32
  CHECK(x.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_AS(x.copy_(Tensor::zeros({2})), Error);
}

TEST_CASE("broadcast rules and axis wrapping") {
  CHECK(broadcast_shapes({3, 1, 5}, {4, 1}, "t") == Shape{3, 4, 5});
  CHECK(broadcast_shapes({}, {2, 2}, "t") == Shape{2, 2});
  CHECK_THROWS_AS(broadcast_shapes({3}, {4}, "t"), Error);
  CHECK(wrap_dim(-1, 3, "t") == 2);
  CHECK_THROWS_AS(wrap_dim(3, 3, "t"), Error);
  CHECK(shape_str({2, 3}) == "(2, 3)");
}

TEST_CASE("generator: reproducible, derived streams independent, distributions sane") {
  Generator a(42), b(42), c(43);
  const auto a1 = a.next_u64();
  CHECK(a1 == b.next_u64());
  CHECK(a1 != c.next_u64());
  Generator d1 = Generator::derive(7, {1, 2, 3}), d2 = Generator::derive(7, {1, 2, 3}), d3 = Generator::derive(7, {1, 3, 2});
  CHECK(d1.next_u64() == d2.next_u64());
  CHECK(Generator::derive(7, {1, 2, 3}).next_u64() != d3.next_u64());

  Generator g(1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = g.normal();
    s += x;
    s2 += x * x;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);
  double u = 0;
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 10000; ++i) {
    const double x = g.uniform();
    CHECK((x >= 0.0 && x < 1.0));
    u += x;
    seen.insert(g.below(10));
  }
  CHECK(std::abs(u / 10000 - 0.5) < 0.02);
  CHECK(seen.size() == 10);
  auto st = g.state();
  const auto next = g.next_u64();
  g.set_state(st);
  CHECK(g.next_u64() == next);

  Generator t1(5), t2(5);
  CHECK(Tensor::randn({3, 4}, t1).to_vector<float>() == Tensor::randn({3, 4}, t2).to_vector<float>());
}

TEST_CASE("cuda device gives a clear error in a CPU-only build or without a GPU") {
  if (cuda_available()) return;  // a CUDA build on a GPU machine: tests/tensor/test_cuda.cpp
  try {
    Tensor::zeros({2}, DType::f32, Device::cuda(0));
    FAIL("expected an error");
  } catch (const Error& e) {
    // The CPU-only stub names the build option; a CUDA build without a GPU, the runtime's reason.
    const std::string m = e.what();
    CHECK((m.find("-Dcuda=enabled") != std::string::npos || m.find("no usable CUDA device") != std::string::npos));
  }
}

TEST_CASE("printing shows shape, dtype and values") {
  const std::string s = Tensor::from_vector<float>({1, 2}, {2}).str();
  CHECK(s.find("shape=(2,)") != std::string::npos);
  CHECK(s.find("f32") != std::string::npos);
  CHECK(s.find("[1, 2]") != std::string::npos);
}

TEST_CASE("the CPU allocator returns cached blocks of other sizes instead of growing past its footprint bound") {
  // Default slack 64 MiB (CONTRA_CPU_CACHE_SLACK_MB unset in the tests). Blocks far larger than
  // anything else these tests allocate, so the most-ever-live is set by this case.
  cpu::empty_cache();
  constexpr std::size_t MiB = std::size_t{1} << 20;
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(cpu::cached_allocate(48 * MiB));  // 192 MiB live
  const std::size_t live0 = cpu::live_bytes();
  for (void* p : blocks) cpu::cached_free(p);
  CHECK(cpu::cached_bytes() == 192 * MiB);
  // A 100 MiB request misses; keeping all 192 cached would make the footprint 292 MiB >
  // 192 + 64: one 48 MiB block goes back (244 ≤ 256), the other three stay cached.
  void* big = cpu::cached_allocate(100 * MiB);
  CHECK(cpu::live_bytes() == live0 - 192 * MiB + 100 * MiB);
  CHECK(cpu::cached_bytes() == 144 * MiB);
  // Hits are served from the cache and return nothing.
  void* hit = cpu::cached_allocate(48 * MiB);
  CHECK(cpu::cached_bytes() == 96 * MiB);
  // The blocks are usable memory (mmap'ed pages).
  static_cast<char*>(big)[100 * MiB - 1] = 1;
  static_cast<char*>(hit)[0] = 1;
  cpu::cached_free(big);
  cpu::cached_free(hit);
  cpu::empty_cache();
  CHECK(cpu::cached_bytes() == 0);
}
