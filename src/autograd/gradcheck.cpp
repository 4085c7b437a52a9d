#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

namespace contra {

namespace {

struct Checker {
  GradcheckOptions opt;
  GradcheckResult res;

  void compare(size_t input, std::int64_t element, std::int64_t out_element, double a, double n) {
    const double err = std::abs(a - n);
    const double ratio = (std::isnan(a) || std::isnan(n)) ? INFINITY : err / (opt.atol + opt.rtol * std::abs(n));
    ++res.checked;
    if (std::abs(n) > opt.atol) res.max_rel_error = std::max(res.max_rel_error, err / std::abs(n));
    if (res.element < 0 || ratio > res.worst_ratio) {
      res.worst_ratio = ratio;
      res.worst_error = err;
      res.input = input;
      res.element = element;
      res.output_element = out_element;
      res.analytic = a;
      res.numeric = n;
    }
  }
};

double dot(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double s = 0.0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs_in, GradcheckOptions opt) {
  ReferenceKernelsGuard reference(true);
  std::vector<Tensor> inputs;
  std::vector<size_t> checked_inputs;
  for (size_t i = 0; i < inputs_in.size(); ++i) {
    const Tensor& t = inputs_in[i];
    if (!t.defined() || !is_floating(t.dtype())) {
      inputs.push_back(t);
      continue;
    }
    CONTRA_CHECK_HINT(t.dtype() == DType::f64, "gradcheck", "convert inputs with .to(DType::f64)",
                      "input ", i, " is ", dtype_name(t.dtype()), "; finite differences need f64");
    Tensor c = t.detach().clone();
    if (t.requires_grad()) {
      c.set_requires_grad(true);
      checked_inputs.push_back(i);
    }
    inputs.push_back(c);
  }
  CONTRA_CHECK(!checked_inputs.empty(), "gradcheck", "no input requires a gradient");

  Tensor y0 = f(inputs);
  CONTRA_CHECK(y0.dtype() == DType::f64, "gradcheck", "the function returned ", dtype_name(y0.dtype()),
               "; it must compute in f64");
  const std::int64_t n_out = y0.numel();
  std::int64_t n_in = 0;
  for (size_t i : checked_inputs) n_in += inputs[i].numel();

  Checker ck{opt, {}};
  const bool full = opt.mode == GradcheckOptions::Mode::full_jacobian ||
                    (opt.mode == GradcheckOptions::Mode::automatic && n_in * n_out <= opt.full_jacobian_max);
  ck.res.mode = full ? "full Jacobian" : "random projection";

  std::vector<Tensor> wrt;
  for (size_t i : checked_inputs) wrt.push_back(inputs[i]);

  // Evaluates f with element k of input i shifted by delta (no graph recorded).
  auto eval_shifted = [&](size_t i, std::int64_t k, double delta) {
    double* p = inputs[i].data<double>();
    const double saved = p[k];
    p[k] = saved + delta;
    Tensor y;
    {
      autograd::NoGradGuard no_grad;
      y = f(inputs).contiguous();
    }
    p[k] = saved;
    return y;
  };

  if (full) {
    // Analytic Jacobian rows: backward with one-hot output gradients.
    std::vector<std::vector<Tensor>> rows;
    for (std::int64_t j = 0; j < n_out; ++j) {
      Tensor onehot = Tensor::zeros(y0.shape(), DType::f64);
      onehot.data<double>()[j] = 1.0;
      Tensor y = j == 0 ? y0 : f(inputs);
      rows.push_back(grad(y, wrt, onehot));
    }
    for (size_t w = 0; w < checked_inputs.size(); ++w) {
      const size_t i = checked_inputs[w];
      for (std::int64_t k = 0; k < inputs[i].numel(); ++k) {
        const auto plus = eval_shifted(i, k, opt.eps).to_vector<double>();
        const auto minus = eval_shifted(i, k, -opt.eps).to_vector<double>();
        for (std::int64_t j = 0; j < n_out; ++j) {
          const double numeric = (plus[j] - minus[j]) / (2.0 * opt.eps);
          const double analytic = rows[j][w].contiguous().data<double>()[k];
          ck.compare(i, k, j, analytic, numeric);
        }
      }
    }
  } else {
    Generator gen(opt.seed);
    const Tensor u = Tensor::randn(y0.shape(), gen, DType::f64);
    const auto g = grad(y0, wrt, u);
    for (size_t w = 0; w < checked_inputs.size(); ++w) {
      const size_t i = checked_inputs[w];
      const std::int64_t n = inputs[i].numel();
      std::vector<std::int64_t> elements;
      if (opt.max_elements > 0 && n > opt.max_elements) {
        for (std::int64_t s = 0; s < opt.max_elements; ++s) elements.push_back(static_cast<std::int64_t>(gen.below(n)));
      } else {
        for (std::int64_t k = 0; k < n; ++k) elements.push_back(k);
      }
      const Tensor gw = g[w].contiguous();
      for (auto k : elements) {
        const double numeric = (dot(u, eval_shifted(i, k, opt.eps)) - dot(u, eval_shifted(i, k, -opt.eps))) / (2.0 * opt.eps);
        ck.compare(i, k, -1, gw.data<double>()[k], numeric);
      }
    }
  }

  GradcheckResult r = ck.res;
  r.ok = r.worst_ratio <= 1.0;
  std::ostringstream os;
  os << "gradcheck (" << r.mode << ", " << r.checked << " entries): " << (r.ok ? "ok" : "FAILED")
     << "; worst at input " << r.input << " element " << r.element;
  if (r.output_element >= 0) os << " output " << r.output_element;
  os.precision(12);
  os << ": analytic " << r.analytic << " numeric " << r.numeric << " |diff| " << r.worst_error
     << " (tolerance ratio " << r.worst_ratio << "); max relative error " << r.max_rel_error;
  r.message = os.str();
  return r;
}

}  // namespace contra
