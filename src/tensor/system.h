// system.h — what this machine offers a process: memory it may still use, and cores.
//
// available_memory(): the smallest of
//   - MemAvailable in /proc/meminfo (the kernel's estimate of memory usable without swapping),
//   - the cgroup's memory limit minus its current usage (cgroup v2 memory.max / memory.current,
//     or v1 memory.limit_in_bytes / memory.usage_in_bytes, for the process's own cgroup),
//   - the address-space limit (ulimit -v) minus the process's current virtual size;
// with the name of the one that decided. CONTRA_MEMORY_AVAILABLE_MB replaces the measured
// value (for tests and for machines whose limits are not visible to the process).
// available_cores(): the CPUs this process may run on (sched_getaffinity), further capped
// by a cgroup CPU quota when one is set.
#pragma once

#include <cstdint>
#include <string>

namespace contra {

struct AvailableMemory {
  std::uint64_t bytes = 0;
  std::string source;  // "MemAvailable (/proc/meminfo)", "the cgroup memory limit", ...
};

AvailableMemory available_memory();
int available_cores();

// "12.3 GiB" (one decimal; "0.02 GiB" below 0.1).
std::string format_gib(std::uint64_t bytes);

// The thread count to use for a request of `requested` (> 0): at most available_cores().
// Sets *warning when the request was lowered.
int cap_threads(int requested, std::string* warning);

// "needs X GiB, this machine has Y GiB available (<source>)": the body of every
// out-of-memory message (the step estimate and a failed allocation alike).
std::string memory_shortfall(std::uint64_t needed_bytes);
// "this machine has Y GiB available (<source>)".
std::string memory_available_text();

}  // namespace contra
