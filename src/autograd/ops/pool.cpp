// pool.cpp — max pooling and adaptive average pooling, forward and backward side by side.
//
// max:      y[n,c,i,j] = max_{(h,w) ∈ window(i,j)} x[n,c,h,w]   (padding = −∞)
//           ⇒ dx[n,c,h,w] = Σ_{(i,j) : argmax(i,j) = (h,w)} dy[n,c,i,j]
// adaptive: y[n,c,i,j] = Σ_{(h,w) ∈ R(i)×R'(j)} x[n,c,h,w] / |R(i)|·|R'(j)|,
//           R(i) = [⌊i·H/H'⌋, ⌈(i+1)·H/H'⌉)
//           ⇒ dx[n,c,h,w] = Σ_{(i,j) : (h,w) ∈ window} dy[n,c,i,j] / |window(i,j)|
//
// Dimensions: N batch, C channels, H×W input, Ho×Wo output.
#include "autograd/nn_ops.h"
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;

namespace {
void check_nchw(const Tensor& x, const char* op) {
  CONTRA_CHECK(x.defined() && x.dim() == 4, op, "x must be (N, C, H, W), got ",
               x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  CONTRA_CHECK(is_floating(x.dtype()), op, "x must be floating, got ", dtype_name(x.dtype()));
}
}  // namespace

Tensor max_pool2d(const Tensor& x_in, const Pool2dParams& p) {
  const char* op = "max_pool2d";
  check_nchw(x_in, op);
  CONTRA_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1, op,
               "kernel and stride must be ≥ 1, got kernel (", p.kernel_h, ", ", p.kernel_w, ") stride (", p.stride_h,
               ", ", p.stride_w, ")");
  CONTRA_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,
               "padding must be between 0 and half the kernel, got padding (", p.pad_h, ", ", p.pad_w,
               ") for kernel (", p.kernel_h, ", ", p.kernel_w, ")");
  const Tensor x = x_in.contiguous();  // (N, C, H, W)
  const std::int64_t Ho = (x.size(2) + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1;
  const std::int64_t Wo = (x.size(3) + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1;
  CONTRA_CHECK(x.size(2) + 2 * p.pad_h >= p.kernel_h && x.size(3) + 2 * p.pad_w >= p.kernel_w, op, "the kernel (",
               p.kernel_h, ", ", p.kernel_w, ") is larger than the padded input ", shape_str(x.shape()));
  Tensor y = Tensor::empty({x.size(0), x.size(1), Ho, Wo}, x.dtype(), x.device());  // (N, C, Ho, Wo)
  Tensor workspace = backend_for(x).max_pool2d_forward(x, y, p);                   // argmax, backend's encoding
  // forward: y = max over each window ⇒ dx[argmax] += dy
  return record(op, {x_in}, y, [workspace, xs = x.shape(), p](const Tensor& g) {
    const Tensor dy = g.contiguous();
    Tensor dx = Tensor::empty(xs, dy.dtype(), dy.device());
    backend_for(dy).max_pool2d_backward(dy, workspace, dx, p);
    return grads({dx});
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x_in, std::int64_t out_h, std::int64_t out_w) {
  const char* op = "adaptive_avg_pool2d";
  check_nchw(x_in, op);
  CONTRA_CHECK(out_h >= 1 && out_w >= 1, op, "output size must be ≥ 1, got (", out_h, ", ", out_w, ")");
  CONTRA_CHECK(x_in.size(2) >= 1 && x_in.size(3) >= 1, op, "empty input ", shape_str(x_in.shape()));
  const Tensor x = x_in.contiguous();                                                   // (N, C, H, W)
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());  // (N, C, Ho, Wo)
  backend_for(x).adaptive_avg_pool2d_forward(x, y);
  // forward: y = mean over each window ⇒ dx[window] += dy / |window|
  return record(op, {x_in}, y, [xs = x.shape()](const Tensor& g) {
    const Tensor dy = g.contiguous();
    Tensor dx = Tensor::empty(xs, dy.dtype(), dy.device());
    backend_for(dy).adaptive_avg_pool2d_backward(dy, dx);
    return grads({dx});
  });
}

}  // namespace contra
