// cpu_isa.h — what the x86-64 processor can execute, read with CPUID (and XGETBV for what
// the operating system enables), and whether it can run this build.
//
// The build is compiled for one x86-64 micro-architecture level (meson option
// `cpu_baseline`, default x86-64-v3 = Haswell/Excavator or newer: AVX, AVX2, FMA, BMI1/2,
// F16C, LZCNT, MOVBE). A binary started on an older CPU would die with SIGILL somewhere
// deep inside; instead, `cpu_isa.cpp` runs a check from the executable's .preinit_array,
// before any constructor of any library or of contra itself, and exits with
//
//   contra: this CPU (…) cannot run this build: it lacks AVX2, FMA (build level x86-64-v3) …
//
// That file is compiled for the plain x86-64 baseline and written in C style (no inline
// C++ library code, which the linker could take from a copy compiled for the higher level).
#pragma once

namespace contra::cpu {

// Plain data: filled by CPUID/XGETBV without any library code (see the header comment).
struct CpuIsa {
  char vendor[13];   // "GenuineIntel", "AuthenticAMD", ...
  char brand[49];    // "Intel(R) Xeon(R) Processor ..."
  int family;        // display family (base + extended)
  int model;         // display model (base + extended for family 6 and 15+)
  // Level x86-64-v2
  bool sse3, ssse3, sse41, sse42, popcnt, cx16;
  // Level x86-64-v3 (avx/avx2/fma also need the OS to save the YMM state: os_avx)
  bool avx, avx2, fma, bmi1, bmi2, f16c, lzcnt, movbe, os_avx;
  // Level x86-64-v4 (also needs the OS to save the ZMM state: os_avx512)
  bool avx512f, avx512bw, avx512cd, avx512dq, avx512vl, os_avx512;
  // Matrix extensions (reported, not required)
  bool avx512_bf16, amx_tile, amx_bf16;
};

// CPUID of the processor this runs on (read once; safe before main).
const CpuIsa& cpu_isa();

// The micro-architecture level this build was compiled for ("x86-64", "x86-64-v2", ...).
const char* build_isa_level();

// The features the build level needs that `isa` lacks, comma-separated into `out`
// (empty when the CPU can run the build). Pure: tests pass fabricated CpuIsa values.
void missing_build_features(const CpuIsa& isa, char* out, int out_size);

// The highest x86-64 level `isa` supports: 1 (baseline), 2, 3 (AVX2 class) or 4 (AVX-512).
int isa_level(const CpuIsa& isa);

}  // namespace contra::cpu
