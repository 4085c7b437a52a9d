// init.cpp — see init.h for the formulas.
#include "nn/init.h"

#include <cmath>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::nn::init {

namespace {
std::int64_t receptive(const Tensor& w) {
  std::int64_t r = 1;
  for (std::int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

std::int64_t fan_in(const Tensor& w) {
  CONTRA_CHECK(w.dim() >= 2, "init", "fan_in needs a weight of rank ≥ 2, got ", shape_str(w.shape()));
  return w.size(1) * receptive(w);
}

std::int64_t fan_out(const Tensor& w) {
  CONTRA_CHECK(w.dim() >= 2, "init", "fan_out needs a weight of rank ≥ 2, got ", shape_str(w.shape()));
  return w.size(0) * receptive(w);
}

namespace {
// w ← a·x + b, x drawn on the host in f64 (Tensor::rand/randn), the affine map in f64 on
// x's device, then one copy to w's device and dtype: the values depend neither on the
// parameter's dtype nor on its device.
const Tensor& assign_affine(const Tensor& w, const Tensor& x, double a, double b) {
  const Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x).unary(UnaryOp::affine, x, y, {a, b});
  w.copy_(y.to(w.device()));
  return w;
}
}  // namespace

const Tensor& normal_(const Tensor& w, double mean, double std, Generator& gen) {
  // z ~ N(0, 1); w = mean + std·z
  return assign_affine(w, Tensor::randn(w.shape(), gen, DType::f64), std, mean);
}

const Tensor& uniform_(const Tensor& w, double lo, double hi, Generator& gen) {
  // u ~ U[0, 1); w = lo + (hi − lo)·u
  return assign_affine(w, Tensor::rand(w.shape(), gen, DType::f64), hi - lo, lo);
}

const Tensor& kaiming_normal_relu_(const Tensor& w, FanMode mode, Generator& gen) {
  const double fan = static_cast<double>(mode == FanMode::fan_in ? fan_in(w) : fan_out(w));
  return normal_(w, 0.0, std::sqrt(2.0) / std::sqrt(fan), gen);  // gain(relu) = √2
}

const Tensor& default_weight_(const Tensor& w, Generator& gen) {
  // kaiming_uniform(a = √5): gain = √(2 / (1 + a²)) = √(1/3), bound = gain · √(3 / fan_in) = 1/√fan_in
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
  return uniform_(w, -bound, bound, gen);
}

const Tensor& default_bias_(const Tensor& b, std::int64_t weight_fan_in, Generator& gen) {
  const double bound = weight_fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(weight_fan_in)) : 0.0;
  return uniform_(b, -bound, bound, gen);
}

}  // namespace contra::nn::init
