// cuda_allocator.h — a caching allocator for one CUDA device, and a pool of pinned host
// staging buffers for asynchronous host-to-device copies.
//
// Device blocks: sizes are rounded (512 B below 1 MiB, 2 MiB above) and freed blocks are
// kept in a size-ordered free list; a request takes the smallest cached block that fits and
// is at most twice its size, otherwise cudaMalloc. All work of a device runs on its one
// stream, so a block freed on the host can be handed out again at once: the next kernel that
// uses it is ordered after every kernel that used it before. When cudaMalloc fails the cache
// is returned to the driver and the request retried once, then a contra::Error says how much
// was asked and how much the device has free. Thread-safe.
//
// Pinned staging: copy_from_host copies the caller's bytes into a pinned block, enqueues the
// device copy and records an event; the block is reused once its event has completed, so the
// caller may reuse its buffer at once and the host does not wait for the transfer.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace contra::cuda {

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  void* allocate(std::size_t nbytes);
  void deallocate(void* p);
  void empty_cache();
  std::size_t cached_bytes() const;
  std::size_t live_bytes() const;
  std::size_t peak_live_bytes() const;

 private:
  void release_cached_locked();
  int device_;
  mutable std::mutex mu_;
  std::multimap<std::size_t, void*> free_;      // size → block
  std::unordered_map<void*, std::size_t> live_;  // block → rounded size
  std::size_t cached_ = 0, live_bytes_ = 0, peak_ = 0;
};

class PinnedStaging {
 public:
  // Copies `nbytes` from host_src to the device pointer dst on `stream`, through a pinned block.
  void copy_to_device(const void* host_src, void* dst, std::size_t nbytes, cudaStream_t stream);

 private:
  struct Block {
    void* p = nullptr;
    std::size_t n = 0;
    cudaEvent_t done = nullptr;
  };
  std::mutex mu_;
  std::vector<Block> blocks_;
};

}  // namespace contra::cuda
