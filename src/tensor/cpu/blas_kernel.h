// blas_kernel.h — which GEMM kernel the CPU backend runs, and the one-line report of the
// kernels a program uses ("gemm: OpenBLAS 0.3.21 SkylakeX (pthreads), conv: oneDNN avx512_core_amx").
//
// The problem. Debian 12's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: it picks its kernel
// set ("core") by CPU model when the library loads. On CPUs newer than its table (seen:
// Intel Xeon family 6 model 207, Emerald Rapids, with AVX-512 and AMX) it falls back to
// `Prescott`, its SSE3 kernels. Measured on that machine, 2 threads, 1024³ SGEMM:
//
//   OpenBLAS Prescott (detected)    21 GFLOP/s
//   OpenBLAS Haswell  (AVX2)        ~100 GFLOP/s
//   OpenBLAS SkylakeX (AVX-512)     150 GFLOP/s
//   oneDNN dnnl_sgemm (own ISA detection)  70–93 GFLOP/s
//
// The choice, by that measurement: run OpenBLAS with the right core. The library reads
// OPENBLAS_CORETYPE only while it loads, before any code of ours runs, so when the loaded
// core is below what the CPU can do (and the user did not set OPENBLAS_CORETYPE), a
// constructor in blas_kernel.cpp re-executes the program (/proc/self/exe, same argv and
// environment) with OPENBLAS_CORETYPE set to the best core for the CPU and
// CONTRA_OPENBLAS_DETECTED set to what OpenBLAS had picked. This costs one exec at start-up,
// only on such CPUs. When the re-exec cannot happen (no /proc, CONTRA_BLAS_REEXEC=0, or the
// user forced a weak OPENBLAS_CORETYPE), float GEMMs go to oneDNN's dnnl_sgemm instead,
// which detects the ISA itself: the second-best kernel, 3–4× the fallback.
//
// CONTRA_GEMM=openblas|onednn forces the float GEMM library (tests and benchmarks).
// Double-precision GEMMs (gradient checks) always use OpenBLAS.
#pragma once

#include <string>

namespace contra::cpu {

enum class GemmLibrary { openblas, onednn };

struct BlasChoice {
  GemmLibrary sgemm = GemmLibrary::openblas;  // where float GEMMs go
  std::string openblas_version;               // "0.3.21"
  std::string openblas_core;                  // the loaded kernel set, e.g. "SkylakeX"
  std::string openblas_detected;              // what OpenBLAS picked itself, when contra re-executed
  std::string openblas_threading;             // "pthreads", "openmp" or "sequential"
  int openblas_core_level = 0;                // x86-64 level of the loaded core (1..4)
  int cpu_level = 0;                          // x86-64 level of the CPU (1..4)
  std::string reason;                         // why this choice, in words
};

// Decided once, on first use (after the library has loaded).
const BlasChoice& blas_choice();

// The x86-64 level (1 = SSE2/SSE3 ... 4 = AVX-512) that an OpenBLAS core name's kernels
// use; 0 for a name this table does not know. Pure (tested).
int openblas_core_level(const std::string& core);

// The best OpenBLAS 0.3.21 core name for a CPU of this level and vendor, or "" when the
// library's own choice cannot be improved (level < 3). Pure (tested).
std::string openblas_core_for(int cpu_level, const std::string& vendor);

// oneDNN's effective ISA for its JIT kernels ("avx512_core_amx", "avx2", ...).
std::string onednn_isa();

// One line: CPU model and features, the GEMM and convolution kernels, threads.
// Printed once at the start of pretrain, evaluate, embed and every benchmark, and
// stored in manifest.json.
std::string kernel_report();

}  // namespace contra::cpu
