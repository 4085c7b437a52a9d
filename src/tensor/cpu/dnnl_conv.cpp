// dnnl_conv.cpp — 2-D convolution on the CPU: oneDNN for f32, the reference twin otherwise.
//
// Forward, backward-data and backward-weights share one `Conv2dPlan` per (shapes, params,
// bias, precision, algorithm) created once and cached: the three primitive descriptors (the backward ones hinted
// by the forward one, as oneDNN's cnn_training_f32 example), their primitives, and for each
// argument the reorder between our plain layout (nchw / oihw / goihw) and the layout the
// primitive prefers (format_tag::any); arguments whose layouts agree are not copied.
//
//   forward:         y  = x ⋆ w + b
//   backward data:   dx = dy ⋆ᵀ w        (the transposed convolution)
//   backward weights dw = Σ_n x ⋆ dy,  db = Σ_{n,h',w'} dy
//
// oneDNN's conventions differ from PyTorch's in two places handled here: dilation is
// stored as d − 1 (0 = dense), and grouped weights are 5-D (G, O/G, C/G, kH, kW), which is
// the same memory as our (O, C/G, kH, kW). The right/bottom padding passed to oneDNN is the
// symmetric padding p; oneDNN derives the output size with the same floor as PyTorch.
//
// Dimensions: N batch, C input channels, O output channels, G groups, H×W input,
// Ho×Wo output, kH×kW kernel.
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/dnnl_common.h"
#include "tensor/cpu/reference_conv.h"

namespace contra::cpu {

namespace {

using namespace dnnl_util;
using dnnl::memory;

// The layout oneDNN may choose for the activations: `any` (blocked nChw16c, the fast
// direct kernels; reorders of x, y, dy, dx cost one memory pass each) or plain nchw
// (no reorders, slower kernels). Measured on ResNet-18 CIFAR shapes (bench/conv_throughput,
// AVX-512, 1 thread): blocked is 1.3–1.7× faster from 64 channels up, while for the
// 3-channel stem plain is ~1.3× faster (blocking pads 3 channels to 16). So: plain when
// the input has fewer than 8 channels, `any` otherwise; CONTRA_DNNL_CONV_PLAIN=1 forces
// plain everywhere (for measurements). The environment is read once.
bool forced_plain() {
  static const bool forced = [] {
    const char* v = std::getenv("CONTRA_DNNL_CONV_PLAIN");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return forced;
}

bool plain_activations(std::int64_t in_channels) { return forced_plain() || in_channels < 8; }

struct Conv2dPlan {
  bool has_bias = false;
  // forward
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  ArgLayout src, weights, bias, dst;
  // backward data
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  ArgLayout bd_diff_dst, bd_weights, bd_diff_src;
  // backward weights (+ bias)
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::convolution_backward_weights bwd_w;
  ArgLayout bw_src, bw_diff_dst, bw_diff_weights, bw_diff_bias;
};

// In bf16 precision (backend.h: set_conv_precision) the forward and backward-data primitives
// read bf16 (x, w, dy: the input reorders convert them) and write f32 (y, dx: oneDNN
// accumulates in f32). Backward weights stays f32 (reads f32 x and dy, writes f32 dw, db):
// oneDNN 2.6's AMX backward-weights kernel (jit:avx512_core_amx_bf16) measured 4.2× slower
// than the f32 one on the ResNet-18 train step (ONEDNN_VERBOSE, batch 32, 2 threads, Xeon
// family 6 model 207), while bf16 forward (brgconv) is 2.8× and backward data 1.7× faster.
Conv2dPlan make_conv_plan(const Shape& xs, const Shape& ws, const Shape& ys, bool has_bias, const Conv2dParams& p,
                          bool bf16, dnnl::algorithm algorithm) {
  const std::int64_t G = p.groups;
  const memory::dims x_dims = dims_of(xs), y_dims = dims_of(ys);
  const memory::dims w_dims = G == 1 ? dims_of(ws) : memory::dims{G, ws[0] / G, ws[1], ws[2], ws[3]};
  const memory::desc x_md = plain_md(x_dims, tag::nchw), y_md = plain_md(y_dims, tag::nchw);
  const memory::desc w_md = plain_md(w_dims, G == 1 ? tag::oihw : tag::goihw);
  const memory::desc b_md = has_bias ? plain_md({ws[0]}, tag::x) : memory::desc();
  const tag act = plain_activations(xs[1]) ? tag::nchw : tag::any;
  const dt read = bf16 ? dt::bf16 : dt::f32;  // x, w, dy as forward and backward data read them
  const memory::desc x_read{x_dims, read, act}, dy_read{y_dims, read, act}, w_read{w_dims, read, tag::any};
  const memory::desc x_f32{x_dims, dt::f32, act}, y_f32{y_dims, dt::f32, act}, w_f32{w_dims, dt::f32, tag::any};
  const memory::dims strides{p.stride_h, p.stride_w}, dilates{p.dilation_h - 1, p.dilation_w - 1};
  const memory::dims pad_l{p.pad_h, p.pad_w}, pad_r{p.pad_h, p.pad_w};
  auto& eng = engine();

  Conv2dPlan plan;
  plan.has_bias = has_bias;
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, algorithm, x_read,
                                     w_read, b_md, y_f32, strides, dilates, pad_l, pad_r);
  // Scratchpads (the backward-weights kernels' per-thread partial sums, im2col buffers) come
  // from the CPU allocator's cache (scratchpad_mode::user, see with_scratchpad) instead of a
  // fresh allocation inside every execute, which the kernel zero-fills page by page on first touch.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  plan.fwd_pd = dnnl::convolution_forward::primitive_desc(fd, attr, eng);
  plan.fwd = dnnl::convolution_forward(plan.fwd_pd);
  plan.src = ArgLayout(x_md, plan.fwd_pd.src_desc(), true, false);
  plan.weights = ArgLayout(w_md, plan.fwd_pd.weights_desc(), true, false);
  if (has_bias) plan.bias = ArgLayout(b_md, plan.fwd_pd.bias_desc(), true, false);
  plan.dst = ArgLayout(y_md, plan.fwd_pd.dst_desc(), false, true);

  dnnl::convolution_backward_data::desc bdd(algorithm, x_f32, w_read, dy_read, strides,
                                            dilates, pad_l, pad_r);
  plan.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(bdd, attr, eng, plan.fwd_pd);
  plan.bwd_data = dnnl::convolution_backward_data(plan.bwd_data_pd);
  plan.bd_diff_dst = ArgLayout(y_md, plan.bwd_data_pd.diff_dst_desc(), true, false);
  plan.bd_weights = ArgLayout(w_md, plan.bwd_data_pd.weights_desc(), true, false);
  plan.bd_diff_src = ArgLayout(x_md, plan.bwd_data_pd.diff_src_desc(), false, true);

  // Backward weights of a plain-activation convolution (the 3-channel stem) reads x plain but
  // lets oneDNN choose dy's layout. With dy plain too, oneDNN 2.6 picks its im2col + GEMM
  // kernel (x64:gemm:jit), which measured 0.28–4.0 s per call inside the train step (stem
  // mb256 3→64 32×32, 2 threads, Xeon family 6 model 207, machine shared; it swings with the
  // load) and 54–540 ms alone on the step's own x and dy; with dy blocked it picks the JIT
  // first-layer kernel (jit:avx512_core, nchw source, as PyTorch's calls get), 16–33 ms in the
  // step and 20–37 ms alone. The cost is one
  // reorder of dy into the blocked layout. CONTRA_DNNL_CONV_PLAIN=1 keeps dy plain too.
  const memory::desc dy_bw = act == tag::nchw && !forced_plain() ? memory::desc{y_dims, dt::f32, tag::any} : y_f32;
  dnnl::convolution_backward_weights::desc bwd(algorithm, x_f32, w_f32, b_md, dy_bw,
                                               strides, dilates, pad_l, pad_r);
  plan.bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(bwd, attr, eng, plan.fwd_pd);
  plan.bwd_w = dnnl::convolution_backward_weights(plan.bwd_w_pd);
  plan.bw_src = ArgLayout(x_md, plan.bwd_w_pd.src_desc(), true, false);
  plan.bw_diff_dst = ArgLayout(y_md, plan.bwd_w_pd.diff_dst_desc(), true, false);
  plan.bw_diff_weights = ArgLayout(w_md, plan.bwd_w_pd.diff_weights_desc(), false, true);
  if (has_bias) plan.bw_diff_bias = ArgLayout(b_md, plan.bwd_w_pd.diff_bias_desc(), false, true);
  return plan;
}

PlanCache<Conv2dPlan>& conv_plans() {
  static PlanCache<Conv2dPlan> cache;
  return cache;
}

// Winograd F(4×4, 3×3) (backend.h: set_conv_algorithm) is tried for float32 3×3, stride 1,
// dilation 1, ungrouped convolutions with at least 32 input and output channels; oneDNN 2.6
// implements it on AVX-512 (jit_wino_4x3) for forward, backward data and backward weights.
// The channel floor is measured (bench_conv_throughput --winograd: the three passes with their
// reorders, batch 256, 2 threads, idle Xeon family 6 model 207): direct time / Winograd time
// 0.76–0.82 at 16 channels (the transforms dominate), 1.07–1.48 at 32, 1.39–2.25 from 64 on. Where it has no
// implementation for a shape or ISA (primitive creation reports `unimplemented`), the plan
// is the direct one, so the setting is a preference, never an error.
bool winograd_candidate(const Shape& xs, const Shape& ws, const Conv2dParams& p, bool bf16) {
  constexpr std::int64_t kMinWinogradChannels = 32;
  return conv_algorithm() == ConvAlgorithm::winograd && !bf16 && !forced_plain() && xs[1] >= kMinWinogradChannels &&
         ws[0] >= kMinWinogradChannels && ws[2] == 3 &&
         ws[3] == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 && p.groups == 1;
}

std::shared_ptr<Conv2dPlan> conv_plan(const Shape& xs, const Shape& ws, const Shape& ys, bool has_bias,
                                      const Conv2dParams& p) {
  const bool bf16 = conv_precision() == ConvPrecision::bf16;
  const bool winograd = winograd_candidate(xs, ws, p, bf16);
  std::vector<std::int64_t> key{xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[2], ws[3], ys[2], ys[3],
                                p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w,
                                p.groups, has_bias ? 1 : 0, static_cast<std::int64_t>(plain_activations(xs[1])),
                                static_cast<std::int64_t>(bf16), static_cast<std::int64_t>(winograd)};
  return conv_plans().get(key, [&] {
    if (winograd) {
      try {
        return make_conv_plan(xs, ws, ys, has_bias, p, bf16, dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error& e) {
        if (e.status != dnnl_unimplemented) throw;
      }
    }
    return make_conv_plan(xs, ws, ys, has_bias, p, bf16, dnnl::algorithm::convolution_direct);
  });
}

// Adds the primitive's scratchpad (held by `keep`, from the CPU allocator) to its arguments.
void with_scratchpad(const dnnl::memory::desc& md, std::unordered_map<int, memory>& args, std::vector<Tensor>& keep) {
  if (md.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, scratch(md, keep));
}

bool use_reference(const Tensor& t) { return reference_kernels() || t.dtype() != DType::f32; }

}  // namespace

std::string conv2d_kernel_names(const Shape& x, const Shape& w, const Shape& y, bool has_bias, const Conv2dParams& p) {
  try {
    const auto plan = conv_plan(x, w, y, has_bias, p);
    return std::string("forward ") + plan->fwd_pd.impl_info_str() + ", backward data " +
           plan->bwd_data_pd.impl_info_str() + ", backward weights " + plan->bwd_w_pd.impl_info_str();
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d");
  }
}

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                                const Conv2dParams& p) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "conv2d", [&](auto v) { reference::conv2d_forward<decltype(v)>(x, w, b, y, p); });
    return;
  }
  try {
    const auto plan = conv_plan(x.shape(), w.shape(), y.shape(), b.defined(), p);
    std::vector<Tensor> keep;
    memory src = input(plan->src, x, keep);
    memory wts = input(plan->weights, w, keep);
    memory dst = output(plan->dst, y, keep);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, dst}};
    if (b.defined()) args.emplace(DNNL_ARG_BIAS, input(plan->bias, b, keep));
    with_scratchpad(plan->fwd_pd.scratchpad_desc(), args, keep);
    plan->fwd.execute(stream(), args);
    finish_output(plan->dst, dst, y);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d");
  }
}

namespace {

// dx = dy ⋆ᵀ w, with dy already in the backward-data primitive's layout.
void run_backward_data(const Conv2dPlan& plan, const memory& ddst, const Tensor& w, const Tensor& dx,
                       std::vector<Tensor>& keep) {
  memory wts = input(plan.bd_weights, w, keep);
  memory dsrc = output(plan.bd_diff_src, dx, keep);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DIFF_SRC, dsrc}};
  with_scratchpad(plan.bwd_data_pd.scratchpad_desc(), args, keep);
  plan.bwd_data.execute(stream(), args);
  finish_output(plan.bd_diff_src, dsrc, dx);
}

// dw = Σ_n dy ⋆ x, db = Σ dy, with dy already in the backward-weights primitive's layout.
void run_backward_weights(const Conv2dPlan& plan, const Tensor& x, const memory& ddst, const Tensor& dw,
                          const Tensor& db, std::vector<Tensor>& keep) {
  memory src = input(plan.bw_src, x, keep);
  memory dwts = output(plan.bw_diff_weights, dw, keep);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwts}};
  memory dbias;
  if (db.defined()) {
    dbias = output(plan.bw_diff_bias, db, keep);
    args.emplace(DNNL_ARG_DIFF_BIAS, dbias);
  }
  with_scratchpad(plan.bwd_w_pd.scratchpad_desc(), args, keep);
  plan.bwd_w.execute(stream(), args);
  finish_output(plan.bw_diff_weights, dwts, dw);
  if (db.defined()) finish_output(plan.bw_diff_bias, dbias, db);
}

}  // namespace

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dParams& p) {
  if (use_reference(dy)) {
    dispatch_floating(dy.dtype(), "conv2d backward",
                      [&](auto v) { reference::conv2d_backward_data<decltype(v)>(dy, w, dx, p); });
    return;
  }
  try {
    const auto plan = conv_plan(dx.shape(), w.shape(), dy.shape(), false, p);
    std::vector<Tensor> keep;
    run_backward_data(*plan, input(plan->bd_diff_dst, dy, keep), w, dx, keep);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d backward");
  }
}

void CpuBackend::conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                                        const Conv2dParams& p) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "conv2d backward",
                      [&](auto v) { reference::conv2d_backward_weight<decltype(v)>(x, dy, dw, db, p); });
    return;
  }
  if (dy.numel() == 0) {  // empty batch: oneDNN does no work, the sums are 0
    dw.zero_();
    if (db.defined()) db.zero_();
    return;
  }
  try {
    const auto plan = conv_plan(x.shape(), dw.shape(), dy.shape(), db.defined(), p);
    std::vector<Tensor> keep;
    run_backward_weights(*plan, x, input(plan->bw_diff_dst, dy, keep), dw, db, keep);
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d backward");
  }
}

void CpuBackend::conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                                 const Tensor& dw, const Tensor& db, const Conv2dParams& p) {
  if (use_reference(dy)) {
    dispatch_floating(dy.dtype(), "conv2d backward", [&](auto v) {
      using T = decltype(v);
      if (dx.defined()) reference::conv2d_backward_data<T>(dy, w, dx, p);
      if (dw.defined()) reference::conv2d_backward_weight<T>(x, dy, dw, db, p);
    });
    return;
  }
  if (dy.numel() == 0) {  // empty batch: oneDNN does no work, the weight sums are 0
    if (dw.defined()) dw.zero_();
    if (db.defined()) db.zero_();
    return;
  }
  try {
    const Shape& xs = dx.defined() ? dx.shape() : x.shape();
    const Shape& ws = dw.defined() ? dw.shape() : w.shape();
    const auto plan = conv_plan(xs, ws, dy.shape(), db.defined(), p);
    std::vector<Tensor> keep;
    // dy is reordered into the backward layout once when both primitives want the same one.
    memory ddst_data, ddst_weights;
    if (dx.defined()) {
      ddst_data = input(plan->bd_diff_dst, dy, keep);
      run_backward_data(*plan, ddst_data, w, dx, keep);
    }
    if (dw.defined()) {
      const bool shared = dx.defined() && plan->bw_diff_dst.inner == plan->bd_diff_dst.inner;
      ddst_weights = shared ? ddst_data : input(plan->bw_diff_dst, dy, keep);
      run_backward_weights(*plan, x, ddst_weights, dw, db, keep);
    }
    stream().wait();
  } catch (const dnnl::error& e) {
    rethrow(e, "conv2d backward");
  }
}

}  // namespace contra::cpu
