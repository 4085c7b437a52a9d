// cudnn_conv.cpp — CudaBackend's convolutions through cuDNN 9's convolution API.
//
// y = conv(x, w) + b: cudnnConvolutionForward then cudnnAddTensor of b as (1, O, 1, 1);
// dx: cudnnConvolutionBackwardData; dw: cudnnConvolutionBackwardFilter; db: Σ dy over N, H', W'
// (cudnnConvolutionBackwardBias). All NCHW, f32 or f64 (compute type = data type).
// A ConvPlan per shape (dtype, N, C, H, W, O, kH, kW, the Conv2dParams, TF32) holds the
// descriptors and, once per direction, the algorithm that cudnnFind…AlgorithmEx measured
// fastest among those whose workspace fits kWorkspaceLimit, with that workspace size; each
// call takes its workspace from the device's caching allocator (so it is reused, not
// re-allocated). Math type: CUDNN_FMA_MATH (no TF32) unless TF32 is allowed, then DEFAULT.
// Dimensions: N batch, C input and O output channels, G groups, (H, W) input, (H', W') output.
#include <map>
#include <tuple>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"

namespace contra::cuda {

namespace {
constexpr std::size_t kWorkspaceLimit = std::size_t{1} << 30;  // 1 GiB

using ConvKey = std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, bool>;

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

int to_int(std::int64_t v, const char* what) {
  CONTRA_CHECK(v >= 0 && v <= 0x7fffffff, "conv2d (cuDNN)", what, " = ", v, " does not fit cuDNN's int");
  return static_cast<int>(v);
}

// Workspace from the device allocator, returned to it at scope end (stream-ordered reuse).
class Workspace {
 public:
  Workspace(DeviceAllocator& a, std::size_t n) : a_(a), p_(n ? a.allocate(n) : nullptr) {}
  ~Workspace() { a_.deallocate(p_); }
  void* get() const { return p_; }

 private:
  DeviceAllocator& a_;
  void* p_;
};
}  // namespace

struct ConvCache {
  std::map<ConvKey, ConvPlan> plans;
};

namespace {

ConvPlan& plan_for(ConvCache& cache, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p,
                   bool tf32) {
  const ConvKey key{static_cast<int>(x.dtype()), x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2),
                    w.size(3), p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups, tf32};
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return it->second;
  ConvPlan plan;
  const cudnnDataType_t type = x.dtype() == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  CONTRA_CUDA(cudnnCreateTensorDescriptor(&plan.x));
  CONTRA_CUDA(cudnnCreateTensorDescriptor(&plan.y));
  CONTRA_CUDA(cudnnCreateTensorDescriptor(&plan.bias));
  CONTRA_CUDA(cudnnCreateFilterDescriptor(&plan.w));
  CONTRA_CUDA(cudnnCreateConvolutionDescriptor(&plan.conv));
  CONTRA_CUDA(cudnnSetTensor4dDescriptor(plan.x, CUDNN_TENSOR_NCHW, type, to_int(x.size(0), "N"),
                                         to_int(x.size(1), "C"), to_int(x.size(2), "H"), to_int(x.size(3), "W")));
  CONTRA_CUDA(cudnnSetTensor4dDescriptor(plan.y, CUDNN_TENSOR_NCHW, type, to_int(y.size(0), "N"),
                                         to_int(y.size(1), "O"), to_int(y.size(2), "H'"), to_int(y.size(3), "W'")));
  CONTRA_CUDA(cudnnSetTensor4dDescriptor(plan.bias, CUDNN_TENSOR_NCHW, type, 1, to_int(w.size(0), "O"), 1, 1));
  CONTRA_CUDA(cudnnSetFilter4dDescriptor(plan.w, type, CUDNN_TENSOR_NCHW, to_int(w.size(0), "O"),
                                         to_int(w.size(1), "C/G"), to_int(w.size(2), "kH"), to_int(w.size(3), "kW")));
  CONTRA_CUDA(cudnnSetConvolution2dDescriptor(plan.conv, to_int(p.pad_h, "pad_h"), to_int(p.pad_w, "pad_w"),
                                              to_int(p.stride_h, "stride_h"), to_int(p.stride_w, "stride_w"),
                                              to_int(p.dilation_h, "dilation_h"), to_int(p.dilation_w, "dilation_w"),
                                              CUDNN_CROSS_CORRELATION, type));
  CONTRA_CUDA(cudnnSetConvolutionGroupCount(plan.conv, to_int(p.groups, "groups")));
  CONTRA_CUDA(cudnnSetConvolutionMathType(plan.conv, tf32 && type == CUDNN_DATA_FLOAT ? CUDNN_DEFAULT_MATH
                                                                                       : CUDNN_FMA_MATH));
  return cache.plans.emplace(key, plan).first->second;
}

template <typename Perf>
const Perf* pick(const Perf* perf, int n) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceLimit) return &perf[i];
  return nullptr;
}

[[noreturn]] void no_algorithm(const char* direction, const Tensor& x, const Tensor& w) {
  throw Error("conv2d (cuDNN)",
              std::string("no ") + direction + " algorithm for x " + shape_str(x.shape()) + ", w " +
                  shape_str(w.shape()) + " in " + dtype_name(x.dtype()),
              "float64 convolutions are supported by fewer cuDNN algorithms; try float32");
}

const Tensor& checked(const Tensor& t, Device d) {
  CONTRA_CHECK(t.device() == d, "conv2d", "a tensor on ", t.device().str(), " was passed to the ", d.str(),
               " backend");
  CONTRA_CHECK(t.is_contiguous(), "conv2d", "the CUDA convolutions need contiguous tensors");
  return t;
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b, const Tensor& y,
                                 const Conv2dParams& p) {
  activate();
  dispatch_floating(x_in.dtype(), "conv2d", [](auto) {});
  const Tensor x = on_device(x_in), w = on_device(w_in);
  checked(y, device());
  std::lock_guard<std::mutex> lock(conv_mu_);
  if (!conv_) conv_ = new ConvCache;
  ConvPlan& plan = plan_for(*conv_, x, w, y, p, tf32_);
  if (!plan.have_fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    Workspace ws(allocator_, kWorkspaceLimit);
    CONTRA_CUDA(cudnnFindConvolutionForwardAlgorithmEx(cudnn_, plan.x, x.raw_data(), plan.w, w.raw_data(), plan.conv,
                                                       plan.y, y.raw_data(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                                       perf, ws.get(), kWorkspaceLimit));
    const auto* best = pick(perf, n);
    if (!best) no_algorithm("forward", x, w);
    plan.fwd = best->algo;
    plan.fwd_ws = best->memory;
    plan.have_fwd = true;
  }
  Workspace ws(allocator_, plan.fwd_ws);
  const double one = 1.0, zero = 0.0;
  const float onef = 1.0f, zerof = 0.0f;
  const bool f64 = x.dtype() == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&one) : &onef;
  const void* beta = f64 ? static_cast<const void*>(&zero) : &zerof;
  CONTRA_CUDA(cudnnConvolutionForward(cudnn_, alpha, plan.x, x.raw_data(), plan.w, w.raw_data(), plan.conv, plan.fwd,
                                      ws.get(), plan.fwd_ws, beta, plan.y, y.raw_data()));
  if (b.defined()) {
    const Tensor bc = on_device(b);
    CONTRA_CUDA(cudnnAddTensor(cudnn_, alpha, plan.bias, bc.raw_data(), alpha, plan.y, y.raw_data()));
  }
}

void CudaBackend::conv2d_backward_data(const Tensor& dy_in, const Tensor& w_in, const Tensor& dx,
                                       const Conv2dParams& p) {
  activate();
  dispatch_floating(dy_in.dtype(), "conv2d_backward_data", [](auto) {});
  const Tensor dy = on_device(dy_in), w = on_device(w_in);
  checked(dx, device());
  std::lock_guard<std::mutex> lock(conv_mu_);
  if (!conv_) conv_ = new ConvCache;
  ConvPlan& plan = plan_for(*conv_, dx, w, dy, p, tf32_);
  if (!plan.have_bwd_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    Workspace ws(allocator_, kWorkspaceLimit);
    CONTRA_CUDA(cudnnFindConvolutionBackwardDataAlgorithmEx(
        cudnn_, plan.w, w.raw_data(), plan.y, dy.raw_data(), plan.conv, plan.x, dx.raw_data(),
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, ws.get(), kWorkspaceLimit));
    const auto* best = pick(perf, n);
    if (!best) no_algorithm("backward-data", dx, w);
    plan.bwd_data = best->algo;
    plan.bwd_data_ws = best->memory;
    plan.have_bwd_data = true;
  }
  Workspace ws(allocator_, plan.bwd_data_ws);
  const double one = 1.0, zero = 0.0;
  const float onef = 1.0f, zerof = 0.0f;
  const bool f64 = dy.dtype() == DType::f64;
  CONTRA_CUDA(cudnnConvolutionBackwardData(cudnn_, f64 ? static_cast<const void*>(&one) : &onef, plan.w, w.raw_data(),
                                           plan.y, dy.raw_data(), plan.conv, plan.bwd_data, ws.get(),
                                           plan.bwd_data_ws, f64 ? static_cast<const void*>(&zero) : &zerof, plan.x,
                                           dx.raw_data()));
}

void CudaBackend::conv2d_backward_weight(const Tensor& x_in, const Tensor& dy_in, const Tensor& dw, const Tensor& db,
                                         const Conv2dParams& p) {
  activate();
  dispatch_floating(x_in.dtype(), "conv2d_backward_weight", [](auto) {});
  const Tensor x = on_device(x_in), dy = on_device(dy_in);
  checked(dw, device());
  std::lock_guard<std::mutex> lock(conv_mu_);
  if (!conv_) conv_ = new ConvCache;
  ConvPlan& plan = plan_for(*conv_, x, dw, dy, p, tf32_);
  if (!plan.have_bwd_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    Workspace ws(allocator_, kWorkspaceLimit);
    CONTRA_CUDA(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        cudnn_, plan.x, x.raw_data(), plan.y, dy.raw_data(), plan.conv, plan.w, dw.raw_data(),
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, ws.get(), kWorkspaceLimit));
    const auto* best = pick(perf, n);
    if (!best) no_algorithm("backward-filter", x, dw);
    plan.bwd_filter = best->algo;
    plan.bwd_filter_ws = best->memory;
    plan.have_bwd_filter = true;
  }
  Workspace ws(allocator_, plan.bwd_filter_ws);
  const double one = 1.0, zero = 0.0;
  const float onef = 1.0f, zerof = 0.0f;
  const bool f64 = x.dtype() == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&one) : &onef;
  const void* beta = f64 ? static_cast<const void*>(&zero) : &zerof;
  CONTRA_CUDA(cudnnConvolutionBackwardFilter(cudnn_, alpha, plan.x, x.raw_data(), plan.y, dy.raw_data(), plan.conv,
                                             plan.bwd_filter, ws.get(), plan.bwd_filter_ws, beta, plan.w,
                                             dw.raw_data()));
  if (db.defined()) {
    checked(db, device());
    CONTRA_CUDA(cudnnConvolutionBackwardBias(cudnn_, alpha, plan.y, dy.raw_data(), beta, plan.bias, db.raw_data()));
  }
}

}  // namespace contra::cuda
