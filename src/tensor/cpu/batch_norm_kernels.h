// batch_norm_kernels.h — the two fast f32 batch-norm implementations behind
// CpuBackend::batch_norm_* (batch_norm.cpp chooses; the reference kernels are their twin):
//   batch_norm_openmp.cpp   own OpenMP loops on the plain layout (the default)
//   dnnl_batch_norm.cpp     oneDNN's primitives (CONTRA_BN_IMPL=onednn)
// Contracts as Backend::batch_norm_* (backend.h); f32, contiguous (N, C, …) tensors. Only
// the OpenMP kernels take a BatchNormReduction (batch_norm_reduction.h).
#pragma once

#include "tensor/batch_norm_reduction.h"
#include "tensor/tensor.h"

namespace contra::cpu {

void openmp_batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                        const Tensor& y, const Tensor& mean, const Tensor& var,
                                        BatchNormReduction* reduction = nullptr);
void openmp_batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                                         const Tensor& var, double eps, const Tensor& y);
void openmp_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                                const Tensor& dbias, BatchNormReduction* reduction = nullptr);

// global_stats = false: training (writes the batch mean and biased variance into mean/var);
// true: inference (reads them).
void onednn_batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                               const Tensor& mean, const Tensor& var, bool global_stats);
void onednn_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                                const Tensor& dbias);

}  // namespace contra::cpu
