// conv.cpp — 2-D convolution, forward and backward side by side.
//
// forward:  y[n,o] = b[o] + Σ_c w[o,c] ⋆ x[n, g(o)·C/G + c]   (cross-correlation with stride,
//           padding, dilation; channels split into G groups)
// backward: dx = dy ⋆ᵀ w      (transposed convolution: each y tap sends dy·w back to its x)
//           dw = Σ_n dy ⋆ x   (correlate the output gradient with the input patches)
//           db = Σ_{n,h',w'} dy
//
// Dimensions: N batch, C input channels, O output channels, G groups, H×W input,
// Ho×Wo output, kH×kW kernel.
#include "autograd/nn_ops.h"
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

std::int64_t conv_out_size(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                           std::int64_t dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

void check_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  const char* op = "conv2d";
  CONTRA_CHECK(x.defined() && w.defined(), op, "x and weight must be defined");
  CONTRA_CHECK(x.dim() == 4, op, "x must be (N, C, H, W), got ", shape_str(x.shape()));
  CONTRA_CHECK(w.dim() == 4, op, "weight must be (O, C/groups, kH, kW), got ", shape_str(w.shape()));
  CONTRA_CHECK(is_floating(x.dtype()) && x.dtype() == w.dtype() && (!b.defined() || b.dtype() == x.dtype()), op,
               "x, weight and bias must share one floating dtype, got ", dtype_name(x.dtype()), ", ",
               dtype_name(w.dtype()), b.defined() ? std::string(", ") + dtype_name(b.dtype()) : std::string());
  CONTRA_CHECK(x.device() == w.device() && (!b.defined() || b.device() == x.device()), op,
               "x, weight and bias must be on one device");
  CONTRA_CHECK(p.groups >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                   p.pad_h >= 0 && p.pad_w >= 0,
               op, "needs groups, stride, dilation ≥ 1 and padding ≥ 0; got groups ", p.groups, " stride (",
               p.stride_h, ", ", p.stride_w, ") dilation (", p.dilation_h, ", ", p.dilation_w, ") padding (",
               p.pad_h, ", ", p.pad_w, ")");
  const std::int64_t C = x.size(1), O = w.size(0);
  CONTRA_CHECK(C % p.groups == 0 && O % p.groups == 0, op, "channels in (", C, ") and out (", O,
               ") must be divisible by groups (", p.groups, ")");
  CONTRA_CHECK(w.size(1) == C / p.groups, op, "weight ", shape_str(w.shape()), " expects ", w.size(1) * p.groups,
               " input channels (with groups = ", p.groups, "), x ", shape_str(x.shape()), " has ", C);
  CONTRA_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == O), op, "bias must be (", O, ",), got ",
               b.defined() ? shape_str(b.shape()) : std::string());
  const std::int64_t Ho = conv_out_size(x.size(2), w.size(2), p.stride_h, p.pad_h, p.dilation_h);
  const std::int64_t Wo = conv_out_size(x.size(3), w.size(3), p.stride_w, p.pad_w, p.dilation_w);
  CONTRA_CHECK(x.size(2) + 2 * p.pad_h >= p.dilation_h * (w.size(2) - 1) + 1 &&
                   x.size(3) + 2 * p.pad_w >= p.dilation_w * (w.size(3) - 1) + 1 && Ho >= 1 && Wo >= 1,
               op, "the dilated kernel ", shape_str(w.shape()), " does not fit the padded input ",
               shape_str(x.shape()), " (padding ", p.pad_h, ", ", p.pad_w, ")");
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Conv2dParams& p) {
  check_conv(x_in, w_in, b_in, p);
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();           // (N, C, H, W), (O, C/G, kH, kW)
  const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();       // (O,)
  const std::int64_t N = x.size(0), O = w.size(0);
  const std::int64_t Ho = conv_out_size(x.size(2), w.size(2), p.stride_h, p.pad_h, p.dilation_h);
  const std::int64_t Wo = conv_out_size(x.size(3), w.size(3), p.stride_w, p.pad_w, p.dilation_w);
  Tensor y = Tensor::empty({N, O, Ho, Wo}, x.dtype(), x.device());     // (N, O, Ho, Wo)
  backend_for(x).conv2d_forward(x, w, b, y, p);

  const bool need_dx = x_in.requires_grad(), need_dw = w_in.requires_grad();
  const bool need_db = b_in.defined() && b_in.requires_grad();
  // forward: y = x ⋆ w + b ⇒ dx = dy ⋆ᵀ w, dw = Σ_n dy ⋆ x, db = Σ_{n,h',w'} dy
  return record("conv2d", {x_in, w_in, b_in}, y,
                [x = need_dw || need_db ? save(x, "conv2d") : autograd::SavedTensor(),
                 w = need_dx ? save(w, "conv2d") : autograd::SavedTensor(), xs = x.shape(), ws = w.shape(), p,
                 need_dx, need_dw, need_db, dt = x.dtype()](const Tensor& g) {
                  const Tensor dy = g.contiguous();  // (N, O, Ho, Wo)
                  Tensor dx = need_dx ? Tensor::empty(xs, dt, dy.device()) : Tensor();                 // (N, C, H, W)
                  Tensor dw = need_dw || need_db ? Tensor::empty(ws, dt, dy.device()) : Tensor();      // (O, C/G, kH, kW)
                  Tensor db = need_db ? Tensor::empty({ws[0]}, dt, dy.device()) : Tensor();            // (O,)
                  backend_for(dy).conv2d_backward(dy, x.defined() ? x.get() : Tensor(),
                                                  w.defined() ? w.get() : Tensor(), dx, dw, db, p);
                  return grads({dx, need_dw ? dw : Tensor(), db});
                });
}

}  // namespace contra
