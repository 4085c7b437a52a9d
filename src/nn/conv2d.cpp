// conv2d.cpp — Conv2d layer over the differentiable `conv2d` op.
#include "nn/conv2d.h"

#include "autograd/grad_mode.h"
#include "nn/init.h"
#include "tensor/error.h"

namespace contra::nn {

Conv2d::Conv2d(const Conv2dOptions& o, Generator& gen) : Module("Conv2d"), opt_(o) {
  CONTRA_CHECK(o.in_channels > 0 && o.out_channels > 0 && o.kernel > 0 && o.stride > 0 && o.padding >= 0 &&
                   o.dilation > 0 && o.groups > 0,
               "Conv2d", "invalid options: in=", o.in_channels, " out=", o.out_channels, " kernel=", o.kernel,
               " stride=", o.stride, " padding=", o.padding, " dilation=", o.dilation, " groups=", o.groups);
  CONTRA_CHECK(o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0, "Conv2d", "channels (",
               o.in_channels, ", ", o.out_channels, ") must be divisible by groups=", o.groups);
  params_.stride_h = params_.stride_w = o.stride;
  params_.pad_h = params_.pad_w = o.padding;
  params_.dilation_h = params_.dilation_w = o.dilation;
  params_.groups = o.groups;
  autograd::NoGradGuard no_grad;
  weight = register_parameter("weight",
                              Tensor::empty({o.out_channels, o.in_channels / o.groups, o.kernel, o.kernel}, o.dtype));
  init::default_weight_(weight, gen);
  if (o.bias) {
    bias = register_parameter("bias", Tensor::empty({o.out_channels}, o.dtype));
    init::default_bias_(bias, init::fan_in(weight), gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  CONTRA_CHECK(x.dim() == 4 && x.size(1) == opt_.in_channels, "Conv2d", "expects input (N, ", opt_.in_channels,
               ", H, W), got ", shape_str(x.shape()));
  return conv2d(x, weight, bias, params_);
}

std::string Conv2d::extra_repr() const {
  return detail::concat(opt_.in_channels, ", ", opt_.out_channels, ", kernel_size=(", opt_.kernel, ", ", opt_.kernel,
                        "), stride=(", opt_.stride, ", ", opt_.stride, ")",
                        opt_.padding ? detail::concat(", padding=(", opt_.padding, ", ", opt_.padding, ")") : "",
                        opt_.groups != 1 ? detail::concat(", groups=", opt_.groups) : "",
                        opt_.bias ? "" : ", bias=False");
}

}  // namespace contra::nn
