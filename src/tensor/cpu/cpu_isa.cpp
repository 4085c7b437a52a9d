// cpu_isa.cpp — CPUID feature reading and the start-up check that the CPU can run this build.
//
// Compiled for the plain x86-64 baseline (src/tensor/meson.build) and in C style: it runs
// from .preinit_array, before any other code of the program, so nothing in it may use an
// instruction of the build's level or an inline C++ library function (whose one linked copy
// may come from a translation unit compiled for that level). Only CPUID/XGETBV, libc
// string functions, write(2) and _exit(2).
//
// CPUID bits (Intel SDM vol. 2A, "CPUID"; AMD APM vol. 3, appendix E):
//   leaf 1   ecx: sse3 0, ssse3 9, fma 12, cx16 13, sse4.1 19, sse4.2 20, movbe 22,
//                 popcnt 23, osxsave 27, avx 28, f16c 29
//   leaf 7.0 ebx: bmi1 3, avx2 5, bmi2 8, avx512f 16, avx512dq 17, avx512cd 28,
//                 avx512bw 30, avx512vl 31;   edx: amx_bf16 22, amx_tile 24
//   leaf 7.1 eax: avx512_bf16 5
//   leaf 0x80000001 ecx: lzcnt (abm) 5
//   XCR0 (xgetbv 0): SSE 1 + AVX 2 = YMM state; opmask 5 + ZMM_Hi256 6 + Hi16_ZMM 7
#include "tensor/cpu/cpu_isa.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#ifndef CONTRA_BUILD_ISA_LEVEL
#error "src/tensor/meson.build defines CONTRA_BUILD_ISA_LEVEL (1..4) from the cpu_baseline option"
#endif

namespace contra::cpu {
namespace {

struct Regs {
  unsigned a, b, c, d;
};

Regs cpuid(unsigned leaf, unsigned sub) {
  Regs r;
  __asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
  return r;
}

unsigned long long xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

bool bit(unsigned word, int i) { return (word >> i) & 1u; }

CpuIsa read_cpu_isa() {
  CpuIsa s;
  std::memset(&s, 0, sizeof s);
  const Regs l0 = cpuid(0, 0);
  const unsigned max_leaf = l0.a;
  std::memcpy(s.vendor + 0, &l0.b, 4);
  std::memcpy(s.vendor + 4, &l0.d, 4);
  std::memcpy(s.vendor + 8, &l0.c, 4);

  const Regs l1 = cpuid(1, 0);
  const unsigned base_family = (l1.a >> 8) & 0xf, base_model = (l1.a >> 4) & 0xf;
  s.family = static_cast<int>(base_family == 0xf ? base_family + ((l1.a >> 20) & 0xff) : base_family);
  s.model = static_cast<int>(base_family == 6 || base_family == 0xf ? base_model + (((l1.a >> 16) & 0xf) << 4)
                                                                    : base_model);
  s.sse3 = bit(l1.c, 0);
  s.ssse3 = bit(l1.c, 9);
  s.fma = bit(l1.c, 12);
  s.cx16 = bit(l1.c, 13);
  s.sse41 = bit(l1.c, 19);
  s.sse42 = bit(l1.c, 20);
  s.movbe = bit(l1.c, 22);
  s.popcnt = bit(l1.c, 23);
  s.avx = bit(l1.c, 28);
  s.f16c = bit(l1.c, 29);
  if (bit(l1.c, 27)) {  // OSXSAVE: the OS manages extended state; ask which parts it saves
    const unsigned long long xcr0 = xgetbv0();
    s.os_avx = (xcr0 & 0x6) == 0x6;
    s.os_avx512 = s.os_avx && (xcr0 & 0xe0) == 0xe0;
  }
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    s.bmi1 = bit(l7.b, 3);
    s.avx2 = bit(l7.b, 5);
    s.bmi2 = bit(l7.b, 8);
    s.avx512f = bit(l7.b, 16);
    s.avx512dq = bit(l7.b, 17);
    s.avx512cd = bit(l7.b, 28);
    s.avx512bw = bit(l7.b, 30);
    s.avx512vl = bit(l7.b, 31);
    s.amx_bf16 = bit(l7.d, 22);
    s.amx_tile = bit(l7.d, 24);
    if (l7.a >= 1) s.avx512_bf16 = bit(cpuid(7, 1).a, 5);
  }
  const unsigned max_ext = cpuid(0x80000000u, 0).a;
  if (max_ext >= 0x80000001u) s.lzcnt = bit(cpuid(0x80000001u, 0).c, 5);
  if (max_ext >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i, 0);
      std::memcpy(s.brand + 16 * i + 0, &r.a, 4);
      std::memcpy(s.brand + 16 * i + 4, &r.b, 4);
      std::memcpy(s.brand + 16 * i + 8, &r.c, 4);
      std::memcpy(s.brand + 16 * i + 12, &r.d, 4);
    }
    // Brand strings are padded with leading spaces on some parts.
    char* p = s.brand;
    while (*p == ' ') ++p;
    std::memmove(s.brand, p, std::strlen(p) + 1);
  }
  return s;
}

CpuIsa g_isa;
bool g_isa_read = false;

}  // namespace

const CpuIsa& cpu_isa() {
  if (!g_isa_read) {  // first call is from .preinit_array, single-threaded
    g_isa = read_cpu_isa();
    g_isa_read = true;
  }
  return g_isa;
}

const char* build_isa_level() {
  switch (CONTRA_BUILD_ISA_LEVEL) {
    case 1: return "x86-64";
    case 2: return "x86-64-v2";
    case 3: return "x86-64-v3";
    default: return "x86-64-v4";
  }
}

namespace {

// What each x86-64 micro-architecture level adds (the psABI's level table), as data: the
// build check and the CPU's level both read it.
struct Requirement {
  int level;
  bool CpuIsa::*have;
  const char* name;
};
const Requirement kRequirements[] = {
    {2, &CpuIsa::sse3, "SSE3"},         {2, &CpuIsa::ssse3, "SSSE3"},       {2, &CpuIsa::sse41, "SSE4.1"},
    {2, &CpuIsa::sse42, "SSE4.2"},      {2, &CpuIsa::popcnt, "POPCNT"},     {2, &CpuIsa::cx16, "CMPXCHG16B"},
    {3, &CpuIsa::avx, "AVX"},           {3, &CpuIsa::avx2, "AVX2"},         {3, &CpuIsa::fma, "FMA"},
    {3, &CpuIsa::bmi1, "BMI1"},         {3, &CpuIsa::bmi2, "BMI2"},         {3, &CpuIsa::f16c, "F16C"},
    {3, &CpuIsa::lzcnt, "LZCNT"},       {3, &CpuIsa::movbe, "MOVBE"},
    {3, &CpuIsa::os_avx, "OS support for AVX state (XSAVE/YMM)"},
    {4, &CpuIsa::avx512f, "AVX512F"},   {4, &CpuIsa::avx512bw, "AVX512BW"}, {4, &CpuIsa::avx512cd, "AVX512CD"},
    {4, &CpuIsa::avx512dq, "AVX512DQ"}, {4, &CpuIsa::avx512vl, "AVX512VL"},
    {4, &CpuIsa::os_avx512, "OS support for AVX-512 state (ZMM)"},
};

// The features of levels 2..level that `s` lacks, comma-separated into out.
void missing_up_to(const CpuIsa& s, int level, char* out, int out_size) {
  out[0] = '\0';
  for (const Requirement& r : kRequirements) {
    if (r.level > level || s.*r.have) continue;
    const std::size_t used = std::strlen(out);
    std::snprintf(out + used, static_cast<std::size_t>(out_size) - used, "%s%s", used ? ", " : "", r.name);
  }
}

}  // namespace

void missing_build_features(const CpuIsa& s, char* out, int out_size) {
  missing_up_to(s, CONTRA_BUILD_ISA_LEVEL, out, out_size);
}

int isa_level(const CpuIsa& s) {
  int level = 1;
  for (int l = 2; l <= 4; ++l) {
    bool all = true;
    for (const Requirement& r : kRequirements) all = all && (r.level > l || s.*r.have);
    if (!all) break;
    level = l;
  }
  return level;
}

namespace {

// Runs before every library constructor and before main (glibc calls .preinit_array
// entries of the executable first). Exits 1 with a message instead of a later SIGILL.
void check_cpu_can_run_build(int, char**, char**) {
  const CpuIsa& s = cpu_isa();
  char missing[256];
  missing_build_features(s, missing, sizeof missing);
  if (missing[0] == '\0') return;
  char msg[1024];
  const int n = std::snprintf(
      msg, sizeof msg,
      "contra: this CPU (%s, %s family %d model %d) cannot run this build: it lacks %s, which the "
      "build level %s needs.\n"
      "hint: rebuild for this CPU with `meson setup build -Dcpu_baseline=%s --wipe && meson compile -C build` "
      "(x86-64-v3 needs an Intel Haswell (2013) / AMD Excavator (2015) or newer; x86-64-v2 any CPU with "
      "SSE4.2 and POPCNT).\n",
      s.brand[0] ? s.brand : "unknown model", s.vendor, s.family, s.model, missing, build_isa_level(),
      isa_level(s) >= 3 ? "x86-64-v3" : isa_level(s) == 2 ? "x86-64-v2" : "x86-64");
  if (n > 0) {
    const ssize_t ignored = write(2, msg, static_cast<std::size_t>(n < static_cast<int>(sizeof msg) ? n : sizeof msg - 1));
    (void)ignored;
  }
  _exit(1);
}

}  // namespace

// Referenced from backend_registry.cpp so that every program linking the tensor library
// pulls this object (and with it the .preinit_array entry) out of the static archive.
extern "C" void contra_cpu_isa_check_linked() {}

}  // namespace contra::cpu

// The executable's .preinit_array: glibc runs these before the initialisers of any shared
// library and of the program. (Only honoured in executables; our libraries are static.)
__attribute__((section(".preinit_array"), used)) static void (*contra_preinit_cpu_check)(int, char**, char**) =
    contra::cpu::check_cpu_can_run_build;
