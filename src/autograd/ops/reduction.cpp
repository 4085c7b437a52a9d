// reduction.cpp — sums, means, extrema and log-sum-exp over axes.
#include <algorithm>
#include <cmath>

#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

// Sorted, unique, non-negative axes; empty means all.
std::vector<int> normalise_axes(const Tensor& x, const std::vector<std::int64_t>& axes, const char* op) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (auto a : axes) out.push_back(wrap_dim(a, x.dim(), op));
  std::sort(out.begin(), out.end());
  CONTRA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "an axis is repeated in the list");
  return out;
}

Shape keepdim_shape(const Tensor& x, const std::vector<int>& axes) {
  Shape s = x.shape();
  for (int a : axes) s[a] = 1;
  return s;
}

Shape dropped_shape(const Tensor& x, const std::vector<int>& axes) {
  Shape s;
  for (int d = 0; d < x.dim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) s.push_back(x.shape()[d]);
  return s;
}

std::int64_t reduced_count(const Tensor& x, const std::vector<int>& axes) {
  std::int64_t n = 1;
  for (int a : axes) n *= x.shape()[a];
  return n;
}

// The (keepdim-shaped) result as the caller asked for it.
Tensor finish(const Tensor& keep, const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return keepdim ? keep : keep.view(dropped_shape(x, axes));
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<std::int64_t> axes_in, bool keepdim) {
  const auto axes = normalise_axes(x, axes_in, "sum");
  Tensor y = finish(raw::reduce(ReduceOp::sum, x, axes), x, axes, keepdim);
  // forward: y = Σ_axes x ⇒ dx = g broadcast back over the summed axes
  return record("sum", {x}, y, [xs = x.shape(), ks = keepdim_shape(x, axes)](const Tensor& g) {
    return grads({expand(reshape(g, ks), xs)});
  });
}

Tensor mean(const Tensor& x, std::vector<std::int64_t> axes_in, bool keepdim) {
  const auto axes = normalise_axes(x, axes_in, "mean");
  const std::int64_t n = reduced_count(x, axes);
  CONTRA_CHECK(n > 0, "mean", "mean over an empty set of elements (shape ", shape_str(x.shape()), ")");
  return scale(sum(x, axes_in, keepdim), 1.0 / static_cast<double>(n));
}

namespace {
Tensor extremum(const Tensor& x, const std::vector<std::int64_t>& axes_in, bool keepdim, ReduceOp op,
                const char* name) {
  const auto axes = normalise_axes(x, axes_in, name);
  CONTRA_CHECK(reduced_count(x, axes) > 0, name, "reduction over an empty set of elements");
  Tensor keep = raw::reduce(op, x, axes);
  Tensor y = finish(keep, x, axes, keepdim);
  // forward: y = max_axes x ⇒ dx = g · 1[x = y] / #ties   (ties share the gradient evenly)
  return record(name, {x}, y, [x = save(x, name), keep = save(keep, name), axes](const Tensor& g) {
    const Tensor xv = x.get(), kv = keep.get();
    const Tensor mask = raw::binary(BinaryOp::eq, xv, kv);
    const Tensor ties = raw::reduce(ReduceOp::sum, mask, axes);
    return grads({reshape(g, kv.shape()) * mask / ties});
  });
}
}  // namespace

Tensor max(const Tensor& x, std::vector<std::int64_t> axes, bool keepdim) {
  return extremum(x, axes, keepdim, ReduceOp::max, "max");
}
Tensor min(const Tensor& x, std::vector<std::int64_t> axes, bool keepdim) {
  return extremum(x, axes, keepdim, ReduceOp::min, "min");
}

Tensor logsumexp(const Tensor& x, std::vector<std::int64_t> axes_in, bool keepdim) {
  const auto axes = normalise_axes(x, axes_in, "logsumexp");
  // forward: y = m + log Σ exp(x − m), m = max (finite rows only; −∞ rows give −∞)
  Tensor m = raw::reduce(ReduceOp::max, x, axes);
  Tensor m_safe = Tensor::empty(m.shape(), m.dtype(), m.device());
  {
    const Tensor finite = raw::binary(BinaryOp::eq, m, m) *
                          raw::binary(BinaryOp::lt, raw::unary(UnaryOp::abs, m), raw::scalar_like(m, INFINITY));
    backend_for(m).where(finite, m, raw::scalar_like(m, 0.0), m_safe);
  }
  const Tensor shifted_exp = raw::unary(UnaryOp::exp, raw::binary(BinaryOp::sub, x, m_safe));
  const Tensor keep = raw::binary(BinaryOp::add, raw::unary(UnaryOp::log, raw::reduce(ReduceOp::sum, shifted_exp, axes)), m_safe);
  Tensor y = finish(keep, x, axes, keepdim);
  // backward: dx = g · exp(x − y) = g · softmax over the axes
  return record("logsumexp", {x}, y, [x = save(x, "logsumexp"), keep = save(keep, "logsumexp")](const Tensor& g) {
    const Tensor kv = keep.get();
    return grads({reshape(g, kv.shape()) * raw::unary(UnaryOp::exp, raw::binary(BinaryOp::sub, x.get(), kv))});
  });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  CONTRA_CHECK(x.dim() >= static_cast<std::int64_t>(shape.size()), "sum_to", "cannot sum ", shape_str(x.shape()),
               " to the larger rank of ", shape_str(shape));
  const std::int64_t lead = x.dim() - static_cast<std::int64_t>(shape.size());
  std::vector<std::int64_t> axes;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) axes.push_back(d);
    else if (shape[d - lead] == 1 && x.shape()[d] != 1) axes.push_back(d);
    else
      CONTRA_CHECK(shape[d - lead] == x.shape()[d], "sum_to", "shape ", shape_str(x.shape()),
                   " does not broadcast from ", shape_str(shape));
  }
  if (axes.empty()) return reshape(x, shape);
  return reshape(sum(x, axes, true), shape);
}

}  // namespace contra
