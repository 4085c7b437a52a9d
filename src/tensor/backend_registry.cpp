// backend_registry.cpp — the one place that knows which backends this build has.
//
// The CPU backend is always compiled. The CUDA backend is linked only with -Dcuda=enabled;
// otherwise cuda/cuda_stub.cpp provides `cuda_backend()` that throws a clear error.
#include <cblas.h>
#include <omp.h>

#include <atomic>

#include "tensor/backend.h"
#include "tensor/cpu/blas_kernel.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/cpu_isa.h"

namespace contra {

Backend& cuda_backend(int index);  // cuda/cuda_backend.cpp or cuda/cuda_stub.cpp
bool cuda_backend_available();

Backend& backend_for(Device device) {
  switch (device.type) {
    case DeviceType::cpu: return cpu::cpu_backend();
    case DeviceType::cuda: return cuda_backend(device.index);
  }
  throw Error("backend_for", "unknown device type");
}

bool cuda_available() { return cuda_backend_available(); }

std::string kernel_report() { return cpu::kernel_report(); }

// Every program that uses tensors links this file; through it, the CPU start-up check
// (cpu/cpu_isa.cpp: its .preinit_array entry refuses a CPU below the build level) comes out
// of the static archive too. Taking the address is what makes the linker keep the object.
extern "C" void contra_cpu_isa_check_linked();
[[gnu::used]] static void (*const keep_cpu_isa_check)() = &contra_cpu_isa_check_linked;

namespace {
std::atomic<bool> g_reference{false};
std::atomic<int> g_threads{0};
std::atomic<ConvPrecision> g_conv_precision{ConvPrecision::f32};
std::atomic<ConvAlgorithm> g_conv_algorithm{ConvAlgorithm::direct};
}  // namespace

bool bf16_supported() {
  const cpu::CpuIsa& isa = cpu::cpu_isa();
  return isa.os_avx512 && (isa.avx512_bf16 || isa.amx_bf16);
}

void set_conv_precision(ConvPrecision precision) {
  if (precision == ConvPrecision::bf16)
    CONTRA_CHECK_HINT(bf16_supported(), "set_conv_precision",
                      "use --precision f32 on this machine, or run on a CPU with AVX512-BF16 or AMX "
                      "(Intel Cooper Lake, Sapphire Rapids or newer; AMD Zen 4 or newer)",
                      "bf16 convolutions need AVX512-BF16 or AMX-BF16, which this CPU (",
                      cpu::cpu_isa().brand, ") lacks");
  g_conv_precision = precision;
}

ConvPrecision conv_precision() { return g_conv_precision; }

const char* precision_name(ConvPrecision precision) { return precision == ConvPrecision::bf16 ? "bf16" : "f32"; }

ConvPrecision parse_conv_precision(const std::string& name) {
  if (name == "f32" || name == "fp32" || name == "float32") return ConvPrecision::f32;
  if (name == "bf16" || name == "bfloat16") return ConvPrecision::bf16;
  throw Error("precision", "unknown precision '" + name + "': choose f32 or bf16");
}

void set_conv_algorithm(ConvAlgorithm algorithm) { g_conv_algorithm = algorithm; }

ConvAlgorithm conv_algorithm() { return g_conv_algorithm; }

const char* conv_algorithm_name(ConvAlgorithm algorithm) {
  return algorithm == ConvAlgorithm::winograd ? "winograd" : "direct";
}

ConvAlgorithm parse_conv_algorithm(const std::string& name) {
  if (name == "direct") return ConvAlgorithm::direct;
  if (name == "winograd") return ConvAlgorithm::winograd;
  throw Error("conv algorithm", "unknown convolution algorithm '" + name + "': choose direct or winograd");
}

void set_reference_kernels(bool on) { g_reference = on; }
bool reference_kernels() { return g_reference; }

void set_num_threads(int n) {
  CONTRA_CHECK(n >= 0, "set_num_threads", "thread count must be >= 0, got ", n);
  g_threads = n;
  const int t = n == 0 ? omp_get_num_procs() : n;
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
}

int num_threads() { return g_threads == 0 ? omp_get_max_threads() : g_threads.load(); }

}  // namespace contra
