// caching_allocator.h — reuse of freed CPU blocks, so a training step does not pay page
// faults for fresh memory every iteration.
//
// Blocks are 64-byte aligned; sizes are rounded (64 B below 1 MiB, 64 KiB above) and kept
// in per-size free lists after release. The cache is bounded twice: its free bytes by
// CONTRA_CPU_CACHE_MB (default 4096), and the footprint (live + cached) by the most bytes
// ever live plus CONTRA_CPU_CACHE_SLACK_MB (default 64): a request the cache cannot serve
// first returns cached blocks of other sizes, largest first, until the footprint with the
// new block fits. Blocks of 1 MiB and more are mmap'ed, so a returned block leaves the
// process's RSS at once; with exact-size free lists alone, blocks of sizes that the next
// phase does not ask for sat beside fresh ones (measured: 583 MiB cached at the end of a
// forward, issue 15). When a fresh allocation fails the cache is emptied and the request
// retried once, then it throws "out of memory: a tensor needs X GiB, this machine has Y GiB
// available" (system.h). Thread-safe.
#pragma once

#include <cstddef>

namespace contra::cpu {

void* cached_allocate(std::size_t nbytes);
void cached_free(void* p);
// Returns all cached (free) blocks to the system.
void empty_cache();
std::size_t cached_bytes();
// Bytes of the blocks in use (rounded sizes), and the most in use since the last reset:
// what a training step really needs (the step-memory estimate is checked against it).
std::size_t live_bytes();
std::size_t peak_live_bytes();
void reset_peak_live_bytes();

// Workspace accounting: blocks allocated while a WorkspaceScope is alive on the allocating
// thread (the oneDNN reorder buffers of dnnl_common.cpp) are also counted as workspace, so
// a memory report can separate them from tensors. Free with cached_free as any block.
class WorkspaceScope {
 public:
  WorkspaceScope();
  ~WorkspaceScope();
  WorkspaceScope(const WorkspaceScope&) = delete;
  WorkspaceScope& operator=(const WorkspaceScope&) = delete;
};
std::size_t workspace_live_bytes();
std::size_t peak_workspace_bytes();  // since the last reset_peak_live_bytes()

// Test support (dlib-style contract checks): while a poison mode is on, every block handed
// out is first filled with a byte pattern, so a kernel that reads its output before
// writing it (accumulates instead of assigning) produces NaN or garbage the parity tests
// catch. nan: 0xFF bytes (NaN as f32 and f64, −1 as i64); garbage: 0x4E bytes (finite and
// large: 8.6e8 as f32, 1.3e70 as f64 — a kernel taking max/min with its output, which NaN
// can slip through, is caught by this one).
enum class Poison { off, nan, garbage };
void set_allocation_poison(Poison mode);
Poison allocation_poison();
class PoisonAllocationsGuard {
 public:
  explicit PoisonAllocationsGuard(Poison mode) : prev_(allocation_poison()) { set_allocation_poison(mode); }
  ~PoisonAllocationsGuard() { set_allocation_poison(prev_); }
  PoisonAllocationsGuard(const PoisonAllocationsGuard&) = delete;
  PoisonAllocationsGuard& operator=(const PoisonAllocationsGuard&) = delete;

 private:
  Poison prev_;
};
const char* poison_name(Poison mode);

}  // namespace contra::cpu
