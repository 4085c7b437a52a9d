// shape.cpp — views, concatenation and indexing.
//
// Views share storage with their input; their backward maps the gradient back through
// the inverse view (reshape ↔ reshape, permute ↔ inverse permute, expand ↔ sum_to,
// slice ↔ write into zeros). Indexing backward scatters with accumulation, so repeated
// indices add up.
#include <algorithm>

#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  // forward: y = x (copied) ⇒ dx = g
  return record("contiguous", {x}, x.clone(), [](const Tensor& g) { return grads({g}); });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.is_contiguous() ? x.view(shape) : x.clone().view(shape);
  // forward: y = x viewed as `shape` ⇒ dx = g viewed as x's shape
  return record("reshape", {x}, y, [xs = x.shape()](const Tensor& g) { return grads({reshape(g, xs)}); });
}

Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  CONTRA_CHECK(s <= e, "flatten", "start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape out(x.shape().begin(), x.shape().begin() + s);
  std::int64_t n = 1;
  for (int d = s; d <= e; ++d) n *= x.shape()[d];
  out.push_back(n);
  out.insert(out.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, out);
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  CONTRA_CHECK(static_cast<std::int64_t>(dims.size()) == x.dim(), "permute", "got ", dims.size(),
               " axes for a tensor of rank ", x.dim());
  std::vector<std::int64_t> inverse(dims.size(), -1);
  Shape shape(dims.size());
  Strides strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], x.dim(), "permute");
    CONTRA_CHECK(inverse[d] < 0, "permute", "axis ", d, " appears twice in the permutation");
    inverse[d] = static_cast<std::int64_t>(i);
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Tensor y = x.as_strided(shape, strides, x.offset());
  // forward: y = x with axes reordered by p ⇒ dx = g reordered by p⁻¹
  return record("permute", {x}, y, [inverse](const Tensor& g) { return grads({permute(g, inverse)}); });
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  std::vector<std::int64_t> p(static_cast<size_t>(x.dim()));
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::int64_t>(i);
  std::swap(p[wrap_dim(dim0, x.dim(), "transpose")], p[wrap_dim(dim1, x.dim(), "transpose")]);
  return permute(x, p);
}

Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  const int d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(s.begin() + d, 1);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, std::int64_t dim) {
  const int d = wrap_dim(dim, x.dim(), "squeeze");
  CONTRA_CHECK(x.shape()[d] == 1, "squeeze", "axis ", d, " has size ", x.shape()[d], ", not 1");
  Shape s = x.shape();
  s.erase(s.begin() + d);
  return reshape(x, s);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  CONTRA_CHECK(broadcast_shapes(x.shape(), shape, "expand") == shape, "expand", "cannot expand ",
               shape_str(x.shape()), " to ", shape_str(shape));
  if (x.shape() == shape) return x;
  Tensor y = x.as_strided(shape, broadcast_strides(x.shape(), x.strides(), shape), x.offset());
  // forward: y = x broadcast to `shape` ⇒ dx = Σ of g over the stretched axes
  return record("expand", {x}, y, [xs = x.shape()](const Tensor& g) { return grads({sum_to(g, xs)}); });
}

Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  const int d = wrap_dim(dim, x.dim(), "slice");
  CONTRA_CHECK(step > 0, "slice", "step must be positive, got ", step);
  const std::int64_t n = x.shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<std::int64_t>(start, 0, n);
  end = std::clamp<std::int64_t>(end, start, n);
  Shape s = x.shape();
  Strides st = x.strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor y = x.as_strided(s, st, x.offset() + start * x.strides()[d]);
  // forward: y = x[start:end:step] along d ⇒ dx = zeros with g written into that slice
  return record("slice", {x}, y, [xs = x.shape(), d, start, end, step](const Tensor& g) {
    Tensor dx = Tensor::zeros(xs, g.dtype(), g.device());
    Tensor window = dx.as_strided(g.shape(), [&] {
      Strides st = dx.strides();
      st[d] *= step;
      return st;
    }(), start * dx.strides()[d]);
    backend_for(g).copy(g, window);
    return grads({dx});
  });
}

Tensor cat(const std::vector<Tensor>& xs, std::int64_t dim) {
  CONTRA_CHECK(!xs.empty(), "cat", "needs at least one tensor");
  const int d = wrap_dim(dim, xs[0].dim(), "cat");
  DType dt = xs[0].dtype();
  Shape s = xs[0].shape();
  s[d] = 0;
  for (const auto& x : xs) {
    CONTRA_CHECK(x.dim() == xs[0].dim(), "cat", "tensors of rank ", xs[0].dim(), " and ", x.dim());
    for (int i = 0; i < x.dim(); ++i)
      CONTRA_CHECK(i == d || x.shape()[i] == xs[0].shape()[i], "cat", "shapes ", shape_str(xs[0].shape()), " and ",
                   shape_str(x.shape()), " differ outside axis ", d);
    s[d] += x.shape()[d];
    dt = promote(dt, x.dtype());
  }
  Tensor y = Tensor::empty(s, dt, xs[0].device());
  std::vector<std::int64_t> sizes;
  std::int64_t at = 0;
  for (const auto& x : xs) {
    Shape ws = y.shape();
    ws[d] = x.shape()[d];
    backend_for(y).copy(x, y.as_strided(ws, y.strides(), at * y.strides()[d]));
    sizes.push_back(x.shape()[d]);
    at += x.shape()[d];
  }
  std::vector<DType> dtypes;
  for (const auto& x : xs) dtypes.push_back(x.dtype());
  // forward: y = [x₁ | x₂ | …] along d ⇒ dxᵢ = the matching slice of g
  return record("cat", xs, y, [sizes, dtypes, d](const Tensor& g) {
    std::vector<Tensor> out;
    std::int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      out.push_back(cast(slice(g, d, at, at + sizes[i]), dtypes[i]));
      at += sizes[i];
    }
    return out;
  });
}

Tensor stack(const std::vector<Tensor>& xs, std::int64_t dim) {
  CONTRA_CHECK(!xs.empty(), "stack", "needs at least one tensor");
  std::vector<Tensor> u;
  for (const auto& x : xs) {
    CONTRA_CHECK(x.shape() == xs[0].shape(), "stack", "shapes ", shape_str(xs[0].shape()), " and ",
                 shape_str(x.shape()), " differ");
    u.push_back(unsqueeze(x, wrap_dim(dim, x.dim() + 1, "stack")));
  }
  return cat(u, dim);
}

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  const int d = wrap_dim(dim, x.dim(), "index_select");
  CONTRA_CHECK(index.dtype() == DType::i64 && index.dim() == 1, "index_select", "index must be a 1-d i64 tensor, got ",
               dtype_name(index.dtype()), " of shape ", shape_str(index.shape()));
  Shape s = x.shape();
  s[d] = index.numel();
  Tensor y = Tensor::empty(s, x.dtype(), x.device());
  backend_for(x).index_select(x, d, index, y);
  // forward: y = x[index] along d ⇒ dx = zeros, then dx[index] += g (repeats add up)
  return record("index_select", {x}, y, [xs = x.shape(), d, index = save(index, "index_select")](const Tensor& g) {
    Tensor dx = Tensor::zeros(xs, g.dtype(), g.device());
    backend_for(g).index_add(dx, d, index.get(), g);
    return grads({dx});
  });
}

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  const int d = wrap_dim(dim, x.dim(), "gather");
  CONTRA_CHECK(index.dtype() == DType::i64 && index.dim() == x.dim(), "gather", "index must be i64 of rank ", x.dim(),
               ", got ", dtype_name(index.dtype()), " of shape ", shape_str(index.shape()));
  for (int i = 0; i < x.dim(); ++i)
    CONTRA_CHECK(i == d || index.shape()[i] <= x.shape()[i], "gather", "index shape ", shape_str(index.shape()),
                 " exceeds input shape ", shape_str(x.shape()), " on axis ", i);
  Tensor y = Tensor::empty(index.shape(), x.dtype(), x.device());
  backend_for(x).gather(x, d, index, y);
  // forward: y[i][j] = x[i][index[i][j]] ⇒ dx[i][index[i][j]] += g[i][j]
  return record("gather", {x}, y, [xs = x.shape(), d, index = save(index, "gather")](const Tensor& g) {
    Tensor dx = Tensor::zeros(xs, g.dtype(), g.device());
    backend_for(g).scatter_add(dx, d, index.get(), g);
    return grads({dx});
  });
}

}  // namespace contra
