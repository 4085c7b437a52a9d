// blas_kernel.cpp — OpenBLAS core selection (re-exec with OPENBLAS_CORETYPE), the float
// GEMM routing, and the kernel report. Why re-exec and not oneDNN: see blas_kernel.h.
#include "tensor/cpu/blas_kernel.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <strings.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_isa.h"

namespace contra::cpu {

int openblas_core_level(const std::string& core) {
  struct Entry {
    const char* name;
    int level;
  };
  // OpenBLAS 0.3.21's x86-64 DYNAMIC_ARCH cores, by the instruction set their kernels use:
  // 1 = SSE2/SSE3, 2 = SSE4/AVX without FMA, 3 = AVX2 + FMA, 4 = AVX-512.
  static const Entry table[] = {
      {"katmai", 1},     {"coppermine", 1}, {"northwood", 1},   {"prescott", 1},      {"banias", 1},
      {"atom", 1},       {"core2", 1},      {"penryn", 1},      {"dunnington", 1},    {"athlon", 1},
      {"opteron", 1},    {"opteron_sse3", 1}, {"barcelona", 1}, {"nano", 1},          {"bobcat", 1},
      {"nehalem", 2},    {"sandybridge", 2}, {"bulldozer", 2},  {"piledriver", 2},    {"steamroller", 2},
      {"haswell", 3},    {"zen", 3},        {"excavator", 3},   {"skylakex", 4},      {"cooperlake", 4},
      {"sapphirerapids", 4},
  };
  for (const Entry& e : table)
    if (strcasecmp(core.c_str(), e.name) == 0) return e.level;
  return 0;
}

std::string openblas_core_for(int cpu_level, const std::string& vendor) {
  if (cpu_level >= 4) return "SkylakeX";  // sgemm/dgemm kernels shared by Cooperlake and SapphireRapids
  if (cpu_level == 3) return vendor == "AuthenticAMD" ? "Zen" : "Haswell";
  return "";
}

namespace {

const char* env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Runs as a constructor of the executable, after every shared library (OpenBLAS included)
// has initialised and before main. glibc passes (argc, argv, envp) to these.
__attribute__((constructor)) void reexec_with_best_openblas_core(int, char** argv, char** envp) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or our re-exec
  if (std::strcmp(env_or_empty("CONTRA_BLAS_REEXEC"), "0") == 0) return;
  if (argv == nullptr || envp == nullptr) return;
  const CpuIsa& isa = cpu_isa();
  const int cpu_level = isa_level(isa);
  const char* loaded = openblas_get_corename();
  if (loaded == nullptr || openblas_core_level(loaded) >= cpu_level) return;
  const std::string best = openblas_core_for(cpu_level, isa.vendor);
  if (best.empty() || openblas_core_level(best) <= openblas_core_level(loaded)) return;

  static std::string set_core = "OPENBLAS_CORETYPE=" + best;
  static std::string detected = std::string("CONTRA_OPENBLAS_DETECTED=") + loaded;
  std::vector<char*> env;
  for (char** e = envp; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(set_core.data());
  env.push_back(detected.data());
  env.push_back(nullptr);
  execve("/proc/self/exe", argv, env.data());
  // Only reached when the exec failed (no /proc, say): carry on; blas_choice() then routes
  // float GEMMs to oneDNN, which detects the ISA itself.
}

BlasChoice decide() {
  BlasChoice c;
  const char* config = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
  if (config != nullptr) {
    std::istringstream words(config);
    std::string name;
    words >> name >> c.openblas_version;
  }
  c.openblas_core = openblas_get_corename() ? openblas_get_corename() : "unknown";
  c.openblas_detected = env_or_empty("CONTRA_OPENBLAS_DETECTED");
  switch (openblas_get_parallel()) {
    case 0: c.openblas_threading = "sequential"; break;
    case 2: c.openblas_threading = "openmp"; break;
    default: c.openblas_threading = "pthreads"; break;
  }
  c.openblas_core_level = openblas_core_level(c.openblas_core);
  c.cpu_level = isa_level(cpu_isa());

  const std::string forced = env_or_empty("CONTRA_GEMM");
  if (forced == "openblas") {
    c.sgemm = GemmLibrary::openblas;
    c.reason = "forced by CONTRA_GEMM=openblas";
  } else if (forced == "onednn") {
    c.sgemm = GemmLibrary::onednn;
    c.reason = "forced by CONTRA_GEMM=onednn";
  } else if (c.openblas_core_level != 0 && c.openblas_core_level < 3 && c.cpu_level >= 3) {
    // An SSE/AVX-only core on an AVX2 or AVX-512 CPU (the re-exec did not happen or the user
    // forced it): oneDNN's sgemm is 3-4x faster. A user's explicit AVX2 core is respected.
    c.sgemm = GemmLibrary::onednn;
    c.reason = "OpenBLAS runs its " + c.openblas_core + " kernels below this CPU's level; float GEMMs go to oneDNN";
  } else if (!c.openblas_detected.empty()) {
    c.reason = "OpenBLAS picked " + c.openblas_detected + "; contra set OPENBLAS_CORETYPE=" + c.openblas_core;
  } else {
    c.reason = "OpenBLAS's own choice";
  }
  return c;
}

}  // namespace

const BlasChoice& blas_choice() {
  static const BlasChoice choice = decide();
  return choice;
}

std::string onednn_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all";
  }
}

std::string kernel_report() {
  const CpuIsa& isa = cpu_isa();
  const BlasChoice& blas = blas_choice();
  std::ostringstream s;
  s << "cpu: " << (isa.brand[0] ? isa.brand : "unknown model") << " (" << isa.vendor << " family " << isa.family
    << " model " << isa.model << ";";
  if (isa.avx2) s << " AVX2";
  if (isa.fma) s << " FMA";
  if (isa.avx512f && isa.os_avx512) s << " AVX-512";
  if (isa.avx512_bf16) s << " AVX512-BF16";
  if (isa.amx_tile) s << " AMX";
  s << "), gemm: ";
  if (blas.sgemm == GemmLibrary::onednn)
    s << "oneDNN sgemm " << onednn_isa() << " (" << blas.reason << "; f64: OpenBLAS " << blas.openblas_core << ")";
  else
    s << "OpenBLAS " << blas.openblas_version << " " << blas.openblas_core << " (" << blas.openblas_threading << "; "
      << blas.reason << ")";
  const dnnl_version_t* v = dnnl_version();
  s << ", conv: oneDNN " << v->major << "." << v->minor << "." << v->patch << " " << onednn_isa()
    << ", threads: " << num_threads();
  return s.str();
}

}  // namespace contra::cpu
