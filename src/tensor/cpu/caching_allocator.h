// caching_allocator.h — reuse of freed CPU blocks, so a training step does not pay page
// faults for fresh memory every iteration.
//
// Blocks are 64-byte aligned; sizes are rounded (64 B below 1 MiB, 64 KiB above) and kept
// in per-size free lists after release. The cache is bounded (CONTRA_CPU_CACHE_MB,
// default 4096); when a fresh allocation fails the cache is emptied and the request
// retried once. Thread-safe.
#pragma once

#include <cstddef>

namespace contra::cpu {

void* cached_allocate(std::size_t nbytes);
void cached_free(void* p);
// Returns all cached (free) blocks to the system.
void empty_cache();
std::size_t cached_bytes();

}  // namespace contra::cpu
