// cuda_check.h — turning CUDA, cuBLAS and cuDNN status codes into contra::Error.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "tensor/error.h"

namespace contra::cuda {

[[noreturn]] inline void fail(const char* expr, const std::string& why) {
  throw Error("cuda", std::string(expr) + " failed: " + why,
              "a CUDA error after an earlier asynchronous launch may surface here; "
              "CUDA_LAUNCH_BLOCKING=1 pins it to the call that caused it");
}

inline void check(cudaError_t e, const char* expr) {
  if (e != cudaSuccess) fail(expr, cudaGetErrorString(e));
}
inline void check(cublasStatus_t e, const char* expr) {
  if (e != CUBLAS_STATUS_SUCCESS) fail(expr, cublasGetStatusString(e));
}
inline void check(cudnnStatus_t e, const char* expr) {
  if (e != CUDNN_STATUS_SUCCESS) fail(expr, cudnnGetErrorString(e));
}

// After a kernel launch: a bad configuration is reported at once.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace contra::cuda

#define CONTRA_CUDA(expr) ::contra::cuda::check((expr), #expr)
