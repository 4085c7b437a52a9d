// linear.cpp — Linear layer over the differentiable `linear` op.
#include "nn/linear.h"

#include "autograd/grad_mode.h"
#include "autograd/nn_ops.h"
#include "nn/init.h"
#include "tensor/error.h"

namespace contra::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool has_bias, Generator& gen, DType dtype)
    : Module("Linear"), in_(in_features), out_(out_features) {
  CONTRA_CHECK(in_features > 0 && out_features > 0, "Linear", "sizes must be positive, got in=", in_features,
               " out=", out_features);
  autograd::NoGradGuard no_grad;
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}, dtype));
  init::default_weight_(weight, gen);
  if (has_bias) {
    bias = register_parameter("bias", Tensor::empty({out_features}, dtype));
    init::default_bias_(bias, in_features, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  CONTRA_CHECK(x.dim() == 2 && x.size(1) == in_, "Linear", "expects input (N, ", in_, "), got ",
               shape_str(x.shape()));
  return linear(x, weight, bias);  // (N, O)
}

std::string Linear::extra_repr() const {
  return detail::concat("in_features=", in_, ", out_features=", out_, ", bias=", bias.defined() ? "True" : "False");
}

}  // namespace contra::nn
