// test_cpu_kernels.cpp — the CPU start-up check (cpu_isa) and the GEMM kernel choice
// (blas_kernel): pure decision tables with fabricated CPUs, the report, and the guard that
// the engine's float GEMM runs at the speed of the best kernel available on this machine.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/generator.h"
#include "tensor/cpu/blas_kernel.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_isa.h"

using namespace contra;
using namespace contra::cpu;

namespace {

CpuIsa haswell_like() {
  CpuIsa s{};
  std::strcpy(s.vendor, "GenuineIntel");
  s.sse3 = s.ssse3 = s.sse41 = s.sse42 = s.popcnt = s.cx16 = true;
  s.avx = s.avx2 = s.fma = s.bmi1 = s.bmi2 = s.f16c = s.lzcnt = s.movbe = s.os_avx = true;
  return s;
}

// Timings and qemu emulation say nothing under ASan/UBSan (instrumented code, shadow memory
// that qemu-user cannot map): those cases skip in scripts/ci-sanitize's build.
bool sanitized_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
  return true;
#else
  return false;
#endif
}

std::string missing(const CpuIsa& s) {
  char out[256];
  missing_build_features(s, out, sizeof out);
  return out;
}

}  // namespace

TEST_CASE("cpu_isa: levels and the features a build needs") {
  CpuIsa v3 = haswell_like();
  CHECK(isa_level(v3) == 3);
  CpuIsa v4 = v3;
  v4.avx512f = v4.avx512bw = v4.avx512cd = v4.avx512dq = v4.avx512vl = v4.os_avx512 = true;
  CHECK(isa_level(v4) == 4);
  v4.os_avx512 = false;  // an OS that does not save ZMM state cannot run AVX-512 code
  CHECK(isa_level(v4) == 3);
  CpuIsa westmere = v3;
  westmere.avx = westmere.avx2 = westmere.fma = westmere.bmi1 = westmere.bmi2 = westmere.f16c = false;
  westmere.lzcnt = westmere.movbe = westmere.os_avx = false;
  CHECK(isa_level(westmere) == 2);
  CpuIsa none{};
  CHECK(isa_level(none) == 1);

  CHECK(missing(v3).empty());
  const std::string level = build_isa_level();
  if (level == "x86-64-v3") {
    const std::string m = missing(westmere);
    CHECK(m.find("AVX2") != std::string::npos);
    CHECK(m.find("FMA") != std::string::npos);
    CpuIsa no_os = v3;
    no_os.os_avx = false;
    CHECK(missing(no_os).find("OS support for AVX") != std::string::npos);
  }
  // This very process passed the start-up check, so the CPU runs the build.
  CHECK(missing(cpu_isa()).empty());
  CHECK(isa_level(cpu_isa()) >= 1);
}

TEST_CASE("blas_kernel: OpenBLAS core names, levels and the best core for a CPU") {
  CHECK(openblas_core_level("Prescott") == 1);
  CHECK(openblas_core_level("prescott") == 1);
  CHECK(openblas_core_level("Sandybridge") == 2);
  CHECK(openblas_core_level("Haswell") == 3);
  CHECK(openblas_core_level("Zen") == 3);
  CHECK(openblas_core_level("SkylakeX") == 4);
  CHECK(openblas_core_level("Cooperlake") == 4);
  CHECK(openblas_core_level("NoSuchCore") == 0);
  CHECK(openblas_core_for(4, "GenuineIntel") == "SkylakeX");
  CHECK(openblas_core_for(4, "AuthenticAMD") == "SkylakeX");
  CHECK(openblas_core_for(3, "GenuineIntel") == "Haswell");
  CHECK(openblas_core_for(3, "AuthenticAMD") == "Zen");
  CHECK(openblas_core_for(2, "GenuineIntel").empty());
}

TEST_CASE("blas_kernel: the loaded OpenBLAS core is not a fallback below an AVX2 CPU") {
  const BlasChoice& c = blas_choice();
  INFO(cpu::kernel_report());
  const bool user_forced_core =
      std::getenv("OPENBLAS_CORETYPE") != nullptr && std::getenv("CONTRA_OPENBLAS_DETECTED") == nullptr;
  if (std::getenv("CONTRA_GEMM") != nullptr || user_forced_core) {
    MESSAGE("kernel choice forced by the environment; skipped");
    return;
  }
  if (c.cpu_level >= 3) {
    // Either OpenBLAS runs AVX2/AVX-512 kernels, or float GEMMs went to oneDNN.
    CHECK((c.openblas_core_level >= 3 || c.sgemm == GemmLibrary::onednn));
  }
  const std::string r = cpu::kernel_report();
  CHECK(r.find("cpu: ") != std::string::npos);
  CHECK(r.find("gemm: ") != std::string::npos);
  CHECK(r.find("conv: oneDNN") != std::string::npos);
  CHECK(r == contra::kernel_report());
}

// The guard of issue 9: on a CPU with AVX2, the engine's 1024³ SGEMM rate must not fall more
// than 10% below the best kernel for this CPU. The reference is OpenBLAS as loaded when its
// core matches the CPU's level (after blas_kernel.cpp's re-exec: SkylakeX on AVX-512), and
// oneDNN's sgemm, which detects the ISA itself, when OpenBLAS runs a fallback core below it.
// (Between two kernels of the CPU's level, OpenBLAS SkylakeX and oneDNN's sgemm trade places
// by 10–25% here depending on what else runs, so neither is required to beat the other; the
// rates of both are printed.) The contenders run interleaved, their order rotating each
// round, and each one's fastest time over the rounds is compared: on time-sliced vCPUs the
// fastest run is the least disturbed one. A measurement that misses the bound is repeated
// (up to 3 attempts): the fallback path (next test) misses every time, noise does not.
TEST_CASE("gemm speed: engine SGEMM within 10% of the best kernel on this CPU") {
  if (sanitized_build()) {
    MESSAGE("sanitizer build: timings and emulation are meaningless here; skipped");
    return;
  }
  if (isa_level(cpu_isa()) < 3) {
    MESSAGE("CPU without AVX2: the speed guard applies to AVX2 CPUs only; skipped");
    return;
  }
  const std::int64_t n = 1024;
  Generator gen(1);
  const Tensor a = Tensor::randn({n, n}, gen), b = Tensor::randn({n, n}, gen);
  Tensor c = Tensor::empty({n, n});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();
  const std::vector<std::function<void()>> contenders = {
      [&] { (void)matmul(a, b); },  // 0: the engine
      [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, pa, n, pb, n, 0.f, pc, n); },
      [&] { dnnl_sgemm('N', 'N', n, n, n, 1.f, pa, n, pb, n, 0.f, pc, n); },
  };
  for (const auto& f : contenders) f();  // warm-up: thread pools, JIT, page faults
  const BlasChoice& blas = blas_choice();
  const bool openblas_at_cpu_level = blas.openblas_core_level >= std::min(blas.cpu_level, 4);
  MESSAGE("reference: " << (openblas_at_cpu_level ? "OpenBLAS " + blas.openblas_core + " (the CPU's level)"
                                                  : "oneDNN sgemm (OpenBLAS runs the fallback " + blas.openblas_core + ")"));
  double ratio = 0.0;
  for (int attempt = 1; attempt <= 3 && ratio < 0.9; ++attempt) {
    std::vector<double> fastest(contenders.size(), 1e9);
    for (int round = 0; round < 9; ++round)
      for (std::size_t j = 0; j < contenders.size(); ++j) {
        const std::size_t k = (j + static_cast<std::size_t>(round)) % contenders.size();
        const auto t0 = std::chrono::steady_clock::now();
        contenders[k]();
        fastest[k] = std::min(fastest[k], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    const double reference = openblas_at_cpu_level ? fastest[1] : fastest[2];
    ratio = reference / fastest[0];  // engine rate / reference rate
    MESSAGE("attempt " << attempt << ": engine " << 2.0 * n * n * n / fastest[0] / 1e9 << " GFLOP/s, OpenBLAS as loaded "
                       << 2.0 * n * n * n / fastest[1] / 1e9 << ", oneDNN sgemm " << 2.0 * n * n * n / fastest[2] / 1e9
                       << "; engine / reference = " << ratio);
  }
  MESSAGE(cpu::kernel_report());
  CHECK(ratio >= 0.9);
}

// The guard must catch the fallback: rerun it in a child with OpenBLAS forced to its SSE3
// Prescott kernels and the engine forced onto OpenBLAS. oneDNN's sgemm is then far faster
// than the engine, and the guard has to fail.
TEST_CASE("gemm speed: the guard fails on the Prescott fallback path") {
  if (sanitized_build()) {
    MESSAGE("sanitizer build: timings and emulation are meaningless here; skipped");
    return;
  }
  if (isa_level(cpu_isa()) < 3) {
    MESSAGE("CPU without AVX2; skipped");
    return;
  }
  if (std::getenv("CONTRA_GEMM_GUARD_CHILD") != nullptr) return;  // no recursion in the child
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    setenv("CONTRA_GEMM", "openblas", 1);
    setenv("CONTRA_GEMM_GUARD_CHILD", "1", 1);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1), dup2(devnull, 2);
    execl("/proc/self/exe", "test_cpu_kernels", "-tc=gemm speed: engine SGEMM within 10% of the best kernel on this CPU",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 127);
  CHECK(WEXITSTATUS(status) != 0);  // the guard failed, as it must on the fallback
}

// End to end: the same binary started on an emulated CPU below the build level stops at
// once with the message naming what is missing (qemu-user's Nehalem has SSE4.2, no AVX).
TEST_CASE("cpu_isa: a CPU below the build level gets a message, not SIGILL (qemu-user)") {
  if (sanitized_build()) {
    MESSAGE("sanitizer build: timings and emulation are meaningless here; skipped");
    return;
  }
  if (std::string(build_isa_level()) != "x86-64-v3" && std::string(build_isa_level()) != "x86-64-v4") {
    MESSAGE("build level " << build_isa_level() << " runs on Nehalem; skipped");
    return;
  }
  if (std::system("command -v qemu-x86_64 >/dev/null 2>&1") != 0) {
    MESSAGE("qemu-x86_64 not installed (Debian package qemu-user, installed by scripts/setup); skipped");
    return;
  }
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(len > 0);
  self[len] = '\0';
  FILE* p = popen(("qemu-x86_64 -cpu Nehalem '" + std::string(self) + "' --help 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  INFO(out);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find("cannot run this build") != std::string::npos);
  CHECK(out.find("AVX2") != std::string::npos);
  CHECK(out.find("-Dcpu_baseline=x86-64-v2") != std::string::npos);
}

// The 3-channel stem's backward weights (plain nchw activations, dnnl_conv.cpp): with dy plain
// too oneDNN 2.6 picks its im2col + GEMM kernel (x64:gemm:jit), measured 0.28–4.0 s per call inside
// the train step against 16–33 ms for the JIT first-layer kernel it picks when dy's layout is
// left to it. The ResNet-18 CIFAR stem at batch 256 must get a JIT kernel for backward weights.
TEST_CASE("conv kernels: the 3-channel stem's backward weights runs a JIT kernel, not im2col + GEMM") {
  if (isa_level(cpu_isa()) < 4) {
    MESSAGE("CPU without AVX-512: the kernel choice was measured on AVX-512 only; skipped");
    return;
  }
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const std::string names = conv2d_kernel_names({256, 3, 32, 32}, {64, 3, 3, 3}, {256, 64, 32, 32}, false, p);
  MESSAGE("stem conv (mb256 3→64 32×32): " << names);
  const std::string bw = names.substr(names.find("backward weights "));
  CHECK(bw.find("jit:avx512") != std::string::npos);
  CHECK(bw.find("gemm") == std::string::npos);
}
