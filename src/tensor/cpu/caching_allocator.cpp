#include "tensor/cpu/caching_allocator.h"

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace contra::cpu {

namespace {

struct Cache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // rounded size → blocks
  std::unordered_map<void*, std::size_t> live;                       // block → rounded size
  std::size_t cached = 0;
  std::size_t limit = [] {
    const char* env = std::getenv("CONTRA_CPU_CACHE_MB");
    return static_cast<std::size_t>(env ? std::atoll(env) : 4096) << 20;
  }();
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: blocks may be freed during static teardown
  return *c;
}

std::size_t round_size(std::size_t n) {
  const std::size_t q = n < (std::size_t{1} << 20) ? 64 : (std::size_t{1} << 16);
  return (std::max<std::size_t>(n, 1) + q - 1) / q * q;
}

void release_all(Cache& c) {
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

}  // namespace

void* cached_allocate(std::size_t nbytes) {
  Cache& c = cache();
  const std::size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_blocks.find(size);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.cached -= size;
    c.live[p] = size;
    return p;
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) {
    release_all(c);
    p = std::aligned_alloc(64, size);
  }
  CONTRA_CHECK_HINT(p != nullptr, "cpu allocate", "reduce the batch size or the image size",
                    "out of memory: a tensor needs ", static_cast<double>(nbytes) / (1u << 30), " GiB");
  c.live[p] = size;
  return p;
}

void cached_free(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  CONTRA_ASSERT(it != c.live.end(), "freeing a block the CPU allocator does not own");
  const std::size_t size = it->second;
  c.live.erase(it);
  if (c.cached + size > c.limit) {
    std::free(p);
    return;
  }
  c.free_blocks[size].push_back(p);
  c.cached += size;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  release_all(c);
}

std::size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace contra::cpu
