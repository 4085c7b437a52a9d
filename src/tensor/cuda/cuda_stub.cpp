// cuda_stub.cpp — linked when the build has no CUDA backend (-Dcuda=disabled, the default).
// Same API as the real backend; asking for a cuda device throws a clear error.
#include "tensor/backend.h"

namespace contra {

Backend& cuda_backend(int index) {
  throw Error("device cuda:" + std::to_string(index), "this build has no CUDA backend",
              "reconfigure with `meson setup build -Dcuda=enabled` on a machine with the CUDA toolkit");
}

bool cuda_backend_available() { return false; }

}  // namespace contra
