// nn_ops.h — differentiable convolution, batch normalisation, pooling and linear layers.
//
// Each op computes its forward through the tensor's Backend (oneDNN for f32 on the CPU, the
// naive reference kernels for f64 or with reference_kernels() on) and records a backward
// that calls the matching backend gradient kernels; both live side by side in
// ops/conv.cpp, ops/batch_norm.cpp, ops/pool.cpp and ops/linear.cpp. All ops are
// differentiable with respect to x, weight and bias. Inputs may be strided (they are made
// contiguous before the kernels run); x, weight and bias must share one floating dtype.
//
// Dimensions: N batch, C input channels, O output channels, H×W input, H'×W' output.
// The parameter structs Conv2dParams and Pool2dParams are declared in tensor/backend.h
// (the kernels take them too):
//   struct Conv2dParams { std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0,
//                         dilation_h = 1, dilation_w = 1, groups = 1; };
//   struct Pool2dParams { std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h = 0, pad_w = 0; };
#pragma once

#include <cstdint>
#include <memory>

#include "tensor/backend.h"
#include "tensor/batch_norm_reduction.h"
#include "tensor/tensor.h"

namespace contra {

// x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) or undefined → (N, O, H', W'),
// H' = ⌊(H + 2·pad_h − dilation_h·(kH − 1) − 1) / stride_h⌋ + 1 (likewise W').
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

// x (N, C) or (N, C, H, W); weight, bias (C,) or undefined (no affine); running_mean,
// running_var (C,) or undefined.
// training=true: normalise with batch statistics (biased variance) and, if running stats
//   are defined, update them in place without recording:
//   running = (1−momentum)·running + momentum·batch, where running_var uses the UNBIASED
//   batch variance (PyTorch semantics). Needs more than one value per channel.
// training=false: normalise with the running statistics (with batch statistics, and no
//   update, when they are undefined, as PyTorch's track_running_stats=False).
// reduction (training only; tensor/batch_norm_reduction.h): the statistics are those of the
//   global batch of several processes, their per-channel sums taken over every process
//   inside the kernels (forward, backward, and the recomputation of y); running_var's
//   unbiased factor uses the global count. Needs backend.supports_batch_norm_reduction(x).
//   dist::sync_batch_norm passes one.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                  std::shared_ptr<BatchNormReduction> reduction = nullptr);

// (N, C, H, W) → (N, C, H', W'), H' = ⌊(H + 2·pad_h − kernel_h) / stride_h⌋ + 1; PyTorch
// semantics (padding = −∞, pad ≤ kernel / 2, ceil_mode = false). The gradient goes to the
// first maximum of each window.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);

// (N, C, H, W) → (N, C, out_h, out_w); cell (i, j) averages rows [⌊i·H/out_h⌋, ⌈(i+1)·H/out_h⌉)
// and the matching columns (PyTorch's start/end index formula). out 1×1 = global average.
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);

// x (N, in), weight (out, in), bias (out,) or undefined: y = x·Wᵀ + b, (N, out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace contra
