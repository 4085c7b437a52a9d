// dnnl_pool.cpp — max and adaptive-average pooling on the CPU: oneDNN for f32, the
// reference twin otherwise.
//
//   max:      y[i,j] = max_{(h,w) ∈ window(i,j)} x[h,w] (padding = −∞);  dx[argmax] += dy
//   adaptive: y[i,j] = mean over rows [⌊iH/Ho⌋, ⌈(i+1)H/Ho⌉) × cols [⌊jW/Wo⌋, ⌈(j+1)W/Wo⌉)
//             dx[window] += dy / |window|
//
// Max pooling keeps oneDNN's workspace (the argmax in oneDNN's own encoding) from the
// forward and hands it to the backward; the reference path keeps i64 argmax indices
// instead, and the backward dispatches on the workspace's dtype, so a workspace always goes
// back to the implementation that made it. A `PoolPlan` per (shape, window, algorithm)
// holds the forward (forward_training) and the backward primitive it hints, in plain nchw.
//
// Adaptive average pooling goes through oneDNN when the windows are uniform (H % Ho = 0 and
// W % Wo = 0: kernel = stride = H/Ho, which includes global average pooling); other sizes
// have overlapping, uneven windows that oneDNN's pooling cannot express, and run the
// reference loop (they are rare and cheap).
//
// Dimensions: N batch, C channels, H×W input, Ho×Wo output.
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dnnl_common.h"
#include "tensor/cpu/reference_norm_pool.h"

namespace contra::cpu {

namespace {

using namespace dnnl_util;
using dnnl::memory;

struct PoolPlan {
  memory::desc src_md, dst_md;
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward::primitive_desc bwd_pd;
  dnnl::pooling_backward bwd;
};

PlanCache<PoolPlan>& pool_plans() {
  static PlanCache<PoolPlan> cache;
  return cache;
}

std::shared_ptr<PoolPlan> pool_plan(const Shape& xs, const Shape& ys, const Pool2dParams& p, dnnl::algorithm alg) {
  const std::vector<std::int64_t> key{xs[0], xs[1], xs[2], xs[3], ys[2], ys[3], p.kernel_h, p.kernel_w,
                                      p.stride_h, p.stride_w, p.pad_h, p.pad_w, static_cast<std::int64_t>(alg)};
  return pool_plans().get(key, [&] {
    PoolPlan plan;
    plan.src_md = plain_md(dims_of(xs), tag::nchw);
    plan.dst_md = plain_md(dims_of(ys), tag::nchw);
    const memory::dims strides{p.stride_h, p.stride_w}, kernel{p.kernel_h, p.kernel_w};
    const memory::dims pad{p.pad_h, p.pad_w};
    dnnl::pooling_forward::desc fd(dnnl::prop_kind::forward_training, alg, plan.src_md, plan.dst_md, strides, kernel,
                                   pad, pad);
    plan.fwd_pd = dnnl::pooling_forward::primitive_desc(fd, engine());
    plan.fwd = dnnl::pooling_forward(plan.fwd_pd);
    dnnl::pooling_backward::desc bd(alg, plan.src_md, plan.dst_md, strides, kernel, pad, pad);
    plan.bwd_pd = dnnl::pooling_backward::primitive_desc(bd, engine(), plan.fwd_pd);
    plan.bwd = dnnl::pooling_backward(plan.bwd_pd);
    return plan;
  });
}

bool use_reference(const Tensor& t) { return reference_kernels() || t.dtype() != DType::f32; }

// oneDNN's max pooling drops NaN (a comparison-based max); PyTorch's, and the reference
// kernel, let it win. An f32 input holding NaN therefore takes the reference path (its i64
// argmax steers the backward there too). One pass over the input, in parallel.
bool has_nan(const Tensor& x) {
  const float* p = x.data<float>();
  const std::int64_t n = x.numel();
  bool found = false;
#pragma omp parallel for reduction(|| : found) schedule(static) if (n >= (1 << 16))
  for (std::int64_t i = 0; i < n; ++i) found = found || p[i] != p[i];
  return found;
}

// The uniform window of adaptive pooling when the sizes divide, as a Pool2dParams.
bool uniform_window(const Shape& xs, const Shape& ys, Pool2dParams& p) {
  if (xs[2] % ys[2] != 0 || xs[3] % ys[3] != 0) return false;
  const std::int64_t kh = xs[2] / ys[2], kw = xs[3] / ys[3];
  p = Pool2dParams{kh, kw, kh, kw, 0, 0};
  return true;
}

}  // namespace

Tensor CpuBackend::max_pool2d_forward(const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  if (use_reference(x) || has_nan(x)) {
    Tensor argmax = Tensor::empty(y.shape(), DType::i64);
    dispatch_floating(x.dtype(), "max_pool2d",
                      [&](auto v) { reference::max_pool2d_forward<decltype(v)>(x, y, argmax, p); });
    return argmax;
  }
  try {
    const auto plan = pool_plan(x.shape(), y.shape(), p, dnnl::algorithm::pooling_max);
    const auto ws_md = plan->fwd_pd.workspace_desc();
    Tensor ws = Tensor::empty({static_cast<std::int64_t>(ws_md.get_size())}, DType::u8);
    plan->fwd.execute(stream(), {{DNNL_ARG_SRC, wrap(plan->src_md, x)},
                                 {DNNL_ARG_DST, wrap(plan->dst_md, y)},
                                 {DNNL_ARG_WORKSPACE, wrap(ws_md, ws)}});
    stream().wait();
    return ws;
  } catch (const dnnl::error& e) {
    rethrow(e, "max_pool2d");
  }
}

void CpuBackend::max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Tensor& dx,
                                     const Pool2dParams& p) {
  if (workspace.dtype() == DType::i64) {
    dispatch_floating(dy.dtype(), "max_pool2d backward",
                      [&](auto v) { reference::max_pool2d_backward<decltype(v)>(dy, workspace, dx); });
    return;
  }
  CONTRA_CHECK(workspace.dtype() == DType::u8 && dy.dtype() == DType::f32, "max_pool2d backward",
               "the workspace does not come from max_pool2d_forward on this backend");
  try {
    const auto plan = pool_plan(dx.shape(), dy.shape(), p, dnnl::algorithm::pooling_max);
    const auto ws_md = plan->fwd_pd.workspace_desc();
    CONTRA_CHECK(workspace.numel() == static_cast<std::int64_t>(ws_md.get_size()), "max_pool2d backward",
                 "the workspace has ", workspace.numel(), " bytes, expected ", ws_md.get_size());
    plan->bwd.execute(stream(), {{DNNL_ARG_DIFF_DST, wrap(plan->dst_md, dy)},
                                 {DNNL_ARG_DIFF_SRC, wrap(plan->src_md, dx)},
                                 {DNNL_ARG_WORKSPACE, wrap(ws_md, workspace)}});
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "max_pool2d backward");
  }
}

void CpuBackend::adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  Pool2dParams p{};
  if (use_reference(x) || !uniform_window(x.shape(), y.shape(), p)) {
    dispatch_floating(x.dtype(), "adaptive_avg_pool2d",
                      [&](auto v) { reference::adaptive_avg_pool2d_forward<decltype(v)>(x, y); });
    return;
  }
  try {
    const auto plan = pool_plan(x.shape(), y.shape(), p, dnnl::algorithm::pooling_avg_exclude_padding);
    plan->fwd.execute(stream(), {{DNNL_ARG_SRC, wrap(plan->src_md, x)}, {DNNL_ARG_DST, wrap(plan->dst_md, y)}});
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "adaptive_avg_pool2d");
  }
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) {
  Pool2dParams p{};
  if (use_reference(dy) || !uniform_window(dx.shape(), dy.shape(), p)) {
    dispatch_floating(dy.dtype(), "adaptive_avg_pool2d backward",
                      [&](auto v) { reference::adaptive_avg_pool2d_backward<decltype(v)>(dy, dx); });
    return;
  }
  try {
    const auto plan = pool_plan(dx.shape(), dy.shape(), p, dnnl::algorithm::pooling_avg_exclude_padding);
    plan->bwd.execute(stream(), {{DNNL_ARG_DIFF_DST, wrap(plan->dst_md, dy)}, {DNNL_ARG_DIFF_SRC, wrap(plan->src_md, dx)}});
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "adaptive_avg_pool2d backward");
  }
}

}  // namespace contra::cpu
