#include "tensor/system.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace contra {

namespace {

constexpr std::uint64_t kUnlimited = std::uint64_t{1} << 60;  // cgroups write "max" or ~2^63

// The first line of a small file, "" when it cannot be read.
std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return false;
  out = std::stoull(s);
  return true;
}

// The process's cgroup paths: v2 ("0::/path") and v1 memory/cpu controllers.
struct CgroupPaths {
  std::string v2, v1_memory, v1_cpu;
};

CgroupPaths own_cgroups() {
  CgroupPaths p;
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) p.v2 = path;
    std::stringstream ss(controllers);
    for (std::string c; std::getline(ss, c, ',');) {
      if (c == "memory") p.v1_memory = path;
      if (c == "cpu") p.v1_cpu = path;
    }
  }
  return p;
}

// Reads `file` from the cgroup directory at `path` under `mount`, else from the mount's root
// (inside a container the process's own cgroup is often mounted as the root).
std::string cgroup_value(const std::string& mount, const std::string& path, const std::string& file) {
  std::string v = first_line(mount + path + "/" + file);
  if (v.empty()) v = first_line(mount + "/" + file);
  return v;
}

std::uint64_t vm_size_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmSize:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
  return 0;
}

}  // namespace

AvailableMemory available_memory() {
  if (const char* s = std::getenv("CONTRA_MEMORY_AVAILABLE_MB"); s && *s)
    return {std::strtoull(s, nullptr, 10) << 20, "CONTRA_MEMORY_AVAILABLE_MB"};
  AvailableMemory best{kUnlimited, "no limit found"};
  auto consider = [&](std::uint64_t bytes, const char* source) {
    if (bytes < best.bytes) best = {bytes, source};
  };
  {
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("MemAvailable:", 0) == 0)
        consider(std::strtoull(line.c_str() + 13, nullptr, 10) * 1024, "MemAvailable in /proc/meminfo");
  }
  const CgroupPaths cg = own_cgroups();
  std::uint64_t limit = 0, usage = 0;
  if (parse_u64(cgroup_value("/sys/fs/cgroup", cg.v2, "memory.max"), limit) && limit < kUnlimited &&
      parse_u64(cgroup_value("/sys/fs/cgroup", cg.v2, "memory.current"), usage))
    consider(limit > usage ? limit - usage : 0, "the cgroup memory limit (memory.max)");
  if (parse_u64(cgroup_value("/sys/fs/cgroup/memory", cg.v1_memory, "memory.limit_in_bytes"), limit) &&
      limit < kUnlimited &&
      parse_u64(cgroup_value("/sys/fs/cgroup/memory", cg.v1_memory, "memory.usage_in_bytes"), usage))
    consider(limit > usage ? limit - usage : 0, "the cgroup memory limit (memory.limit_in_bytes)");
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const std::uint64_t used = vm_size_bytes();
    consider(rl.rlim_cur > used ? rl.rlim_cur - used : 0, "the address-space limit (ulimit -v)");
  }
  return best;
}

int available_cores() {
  int n = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  const CgroupPaths cg = own_cgroups();
  // cgroup v2 cpu.max: "<quota> <period>" or "max <period>"; v1: cpu.cfs_quota_us / cpu.cfs_period_us.
  std::uint64_t quota = 0, period = 0;
  std::stringstream v2(cgroup_value("/sys/fs/cgroup", cg.v2, "cpu.max"));
  std::string q, per;
  if (v2 >> q >> per && parse_u64(q, quota) && parse_u64(per, period) && period > 0)
    n = std::min<int>(n, static_cast<int>(std::max<std::uint64_t>(1, (quota + period - 1) / period)));
  if (parse_u64(cgroup_value("/sys/fs/cgroup/cpu", cg.v1_cpu, "cpu.cfs_quota_us"), quota) &&
      parse_u64(cgroup_value("/sys/fs/cgroup/cpu", cg.v1_cpu, "cpu.cfs_period_us"), period) && period > 0)
    n = std::min<int>(n, static_cast<int>(std::max<std::uint64_t>(1, (quota + period - 1) / period)));
  return std::max(1, n);
}

std::string format_gib(std::uint64_t bytes) {
  const double g = static_cast<double>(bytes) / static_cast<double>(1ull << 30);
  char buf[64];
  std::snprintf(buf, sizeof buf, g < 0.1 ? "%.2f GiB" : "%.1f GiB", g);
  return buf;
}

int cap_threads(int requested, std::string* warning) {
  const int cores = available_cores();
  if (requested <= cores) return requested;
  if (warning)
    *warning = "--threads " + std::to_string(requested) + " is more than the " + std::to_string(cores) +
               " core(s) available to this process: using " + std::to_string(cores) +
               " (more threads than cores makes every step slower)";
  return cores;
}

std::string memory_available_text() {
  const AvailableMemory a = available_memory();
  return "this machine has " + format_gib(a.bytes) + " available (" + a.source + ")";
}

std::string memory_shortfall(std::uint64_t needed_bytes) {
  return "needs " + format_gib(needed_bytes) + ", " + memory_available_text();
}

}  // namespace contra
