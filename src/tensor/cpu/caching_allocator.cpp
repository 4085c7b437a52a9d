#include "tensor/cpu/caching_allocator.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <sys/mman.h>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tensor/error.h"
#include "tensor/system.h"

namespace contra::cpu {

namespace {

struct Cache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // rounded size → blocks
  std::unordered_map<void*, std::size_t> live;                       // block → rounded size
  std::unordered_set<void*> workspace;                               // live blocks that are workspace
  std::size_t cached = 0;
  std::size_t live_bytes = 0, peak_live = 0;  // blocks handed out (rounded sizes)
  std::size_t workspace_bytes = 0, peak_workspace = 0;
  std::size_t limit = [] {
    const char* env = std::getenv("CONTRA_CPU_CACHE_MB");
    return static_cast<std::size_t>(env ? std::atoll(env) : 4096) << 20;
  }();
  // The footprint bound: live + cached may exceed the most ever live by this much before a
  // miss returns cached blocks to the system (see cached_allocate).
  std::size_t slack = [] {
    const char* env = std::getenv("CONTRA_CPU_CACHE_SLACK_MB");
    return static_cast<std::size_t>(env ? std::atoll(env) : 64) << 20;
  }();
  std::size_t peak_ever = 0;  // the most bytes ever live (not reset by reset_peak_live_bytes)
};

// Blocks of 1 MiB and more are mapped pages of their own (mmap/munmap), so that returning
// one gives the memory back to the system at once; smaller ones come from malloc.
constexpr std::size_t kMapThreshold = std::size_t{1} << 20;

void* system_allocate(std::size_t size) {
  if (size < kMapThreshold) return std::aligned_alloc(64, size);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;  // page-aligned, so 64-byte aligned
  // Transparent huge pages where the kernel offers them on request ("madvise" mode): a block
  // that the footprint bound returned and a later miss maps again costs one fault per 2 MiB
  // instead of one per 4 KiB (bench_train_step, batch 128, 4 steps: 1.24 M → 29 K minor faults,
  // 2.6 → 1.9 s of system time; the unbounded cache had 0.47 M and 1.1 s).
  if (size >= (std::size_t{2} << 20)) madvise(p, size, MADV_HUGEPAGE);
  return p;
}

void system_free(void* p, std::size_t size) {
  if (size < kMapThreshold) {
    std::free(p);
    return;
  }
  munmap(p, size);
}

std::atomic<int> g_poison{0};
thread_local int t_workspace_depth = 0;

void* poisoned(void* p, std::size_t nbytes) {
  const int mode = g_poison.load(std::memory_order_relaxed);
  if (mode != 0 && p) std::memset(p, mode == static_cast<int>(Poison::nan) ? 0xFF : 0x4E, nbytes);
  return p;
}

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: blocks may be freed during static teardown
  return *c;
}

std::size_t round_size(std::size_t n) {
  const std::size_t q = n < (std::size_t{1} << 20) ? 64 : (std::size_t{1} << 16);
  return (std::max<std::size_t>(n, 1) + q - 1) / q * q;
}

void note_live(Cache& c, void* p, std::size_t size) {
  c.live[p] = size;
  c.live_bytes += size;
  c.peak_live = std::max(c.peak_live, c.live_bytes);
  c.peak_ever = std::max(c.peak_ever, c.live_bytes);
  if (t_workspace_depth > 0) {
    c.workspace.insert(p);
    c.workspace_bytes += size;
    c.peak_workspace = std::max(c.peak_workspace, c.workspace_bytes);
  }
}

void release_all(Cache& c) {
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) system_free(p, size);
  c.free_blocks.clear();
  c.cached = 0;
}

// Returns cached blocks, largest first, until live + cached + `need` fits the footprint
// bound max(peak ever live, live + need) + slack, or the cache is empty.
void trim_for(Cache& c, std::size_t need) {
  const std::size_t bound = std::max(c.peak_ever, c.live_bytes + need) + c.slack;
  while (c.cached > 0 && c.live_bytes + c.cached + need > bound) {
    auto largest = c.free_blocks.end();
    for (auto it = c.free_blocks.begin(); it != c.free_blocks.end(); ++it)
      if (!it->second.empty() && (largest == c.free_blocks.end() || it->first > largest->first)) largest = it;
    void* p = largest->second.back();
    largest->second.pop_back();
    c.cached -= largest->first;
    system_free(p, largest->first);
    if (largest->second.empty()) c.free_blocks.erase(largest);
  }
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
    note_live(c, p, size);
    return poisoned(p, nbytes);
  }
  // A miss: make room under the footprint bound first, so that the cache's blocks of other
  // sizes are given back rather than kept beside a fresh block (peak RSS ≈ peak live + slack).
  trim_for(c, size);
  void* p = system_allocate(size);
  if (!p) {
    release_all(c);
    p = system_allocate(size);
  }
  CONTRA_CHECK_HINT(p != nullptr, "cpu allocate",
                    "lower --batch-size, --width or the image size, or free memory on this machine",
                    "out of memory: a tensor ", memory_shortfall(nbytes));
  note_live(c, p, size);
  return poisoned(p, nbytes);
}

void cached_free(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  CONTRA_ASSERT(it != c.live.end(), "freeing a block the CPU allocator does not own");
  const std::size_t size = it->second;
  c.live.erase(it);
  c.live_bytes -= size;
  if (c.workspace.erase(p) != 0) c.workspace_bytes -= size;
  if (c.cached + size > c.limit) {
    system_free(p, size);
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

void set_allocation_poison(Poison mode) { g_poison.store(static_cast<int>(mode)); }
Poison allocation_poison() { return static_cast<Poison>(g_poison.load()); }
const char* poison_name(Poison mode) {
  return mode == Poison::nan ? "outputs pre-filled with NaN" : mode == Poison::garbage ? "outputs pre-filled with garbage" : "no poison";
}

std::size_t live_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.live_bytes;
}

std::size_t peak_live_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.peak_live;
}

void reset_peak_live_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.peak_live = c.live_bytes;
  c.peak_workspace = c.workspace_bytes;
}

WorkspaceScope::WorkspaceScope() { ++t_workspace_depth; }
WorkspaceScope::~WorkspaceScope() { --t_workspace_depth; }

std::size_t workspace_live_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.workspace_bytes;
}

std::size_t peak_workspace_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.peak_workspace;
}

std::size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace contra::cpu
