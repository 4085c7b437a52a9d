// cuda_allocator.cpp — see cuda_allocator.h.
#include "tensor/cuda/cuda_allocator.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "tensor/cuda/cuda_check.h"

namespace contra::cuda {
namespace {

constexpr std::size_t kSmall = 1u << 20;

std::size_t round_size(std::size_t n) {
  if (n == 0) n = 1;
  const std::size_t unit = n < kSmall ? 512 : (2u << 20);
  return (n + unit - 1) / unit * unit;
}

std::string gib(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(n) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

void* DeviceAllocator::allocate(std::size_t nbytes) {
  const std::size_t n = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.lower_bound(n);
  if (it != free_.end() && it->first <= 2 * n) {
    void* p = it->second;
    const std::size_t size = it->first;
    free_.erase(it);
    cached_ -= size;
    live_[p] = size;
    live_bytes_ += size;
    if (live_bytes_ > peak_) peak_ = live_bytes_;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free allocation error
    release_cached_locked();
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error("cuda:" + std::to_string(device_), "out of GPU memory: a tensor needs " + gib(n) + " GiB, the device has " +
                                                       gib(free_b) + " GiB free of " + gib(total_b) + " GiB (" +
                                                       gib(live_bytes_) + " GiB in live tensors)",
                "use a smaller batch size");
  }
  live_[p] = n;
  live_bytes_ += n;
  if (live_bytes_ > peak_) peak_ = live_bytes_;
  return p;
}

void DeviceAllocator::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;
  const std::size_t n = it->second;
  live_.erase(it);
  live_bytes_ -= n;
  free_.emplace(n, p);
  cached_ += n;
}

void DeviceAllocator::release_cached_locked() {
  for (auto& [n, p] : free_) cudaFree(p);
  free_.clear();
  cached_ = 0;
}

void DeviceAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

std::size_t DeviceAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}
std::size_t DeviceAllocator::live_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_bytes_;
}
std::size_t DeviceAllocator::peak_live_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

void PinnedStaging::copy_to_device(const void* host_src, void* dst, std::size_t nbytes, cudaStream_t stream) {
  if (nbytes == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto find = [&]() -> Block* {
    Block* best = nullptr;
    for (Block& b : blocks_)
      if (b.n >= nbytes && cudaEventQuery(b.done) == cudaSuccess && (!best || b.n < best->n)) best = &b;
    return best;
  };
  Block* use = find();
  std::size_t pinned = 0;
  for (const Block& b : blocks_) pinned += b.n;
  if (!use && pinned >= (std::size_t{256} << 20)) {  // bound the pool: wait for the copies in flight
    CONTRA_CUDA(cudaStreamSynchronize(stream));
    use = find();
  }
  if (!use) {
    Block b;
    b.n = 4096;
    while (b.n < nbytes) b.n *= 2;
    CONTRA_CUDA(cudaHostAlloc(&b.p, b.n, cudaHostAllocDefault));
    CONTRA_CUDA(cudaEventCreateWithFlags(&b.done, cudaEventDisableTiming));
    blocks_.push_back(b);
    use = &blocks_.back();
  }
  std::memcpy(use->p, host_src, nbytes);
  CONTRA_CUDA(cudaMemcpyAsync(dst, use->p, nbytes, cudaMemcpyHostToDevice, stream));
  CONTRA_CUDA(cudaEventRecord(use->done, stream));
}

}  // namespace contra::cuda
