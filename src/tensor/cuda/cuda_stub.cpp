// cuda_stub.cpp — linked when the build has no CUDA backend (-Dcuda=disabled, the default).
// Same API as the real backend; asking for a cuda device throws a clear error.
#include "tensor/backend.h"

namespace contra {

Backend& cuda_backend(int index) {
  throw Error("device cuda:" + std::to_string(index), "contra has no CUDA backend yet (this is the CPU-only stub)",
              "run on the CPU (the default device); the CUDA backend is planned but not written yet, so -Dcuda=enabled refuses to configure");
}

bool cuda_backend_available() { return false; }

}  // namespace contra
