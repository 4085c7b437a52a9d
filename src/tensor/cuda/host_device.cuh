// host_device.cuh — CONTRA_HD marks the functions that run both inside contra's CUDA kernels
// and on the CPU: `__host__ __device__` (inlined) under nvcc, plain `inline` for the host
// compiler. The *_math.cuh headers that use it include nothing of CUDA, so a CPU-only build
// compiles them too and its tests run the kernels' arithmetic (tests/tensor/test_cuda_math.cpp).
#pragma once

#if defined(__CUDACC__)
#define CONTRA_HD __host__ __device__ __forceinline__
#else
#define CONTRA_HD inline
#endif
