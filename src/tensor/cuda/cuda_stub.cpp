// cuda_stub.cpp — linked when the build has no CUDA backend (-Dcuda=disabled, the default).
// Same API as the real backend; asking for a cuda device throws a clear error.
#include "tensor/backend.h"

namespace contra {

Backend& cuda_backend(int index) {
  throw Error("device cuda:" + std::to_string(index), "this build has no CUDA backend (the CPU-only stub)",
              "run on the CPU (the default device), or build with -Dcuda=enabled (README: CUDA backend)");
}

bool cuda_backend_available() { return false; }

}  // namespace contra
