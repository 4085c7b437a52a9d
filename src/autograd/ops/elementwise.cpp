// elementwise.cpp — pointwise ops, forward and backward side by side.
//
// Broadcasting: the forward stretches size-1 axes; the backward undoes it with
// sum_to(g, input shape) (the adjoint of broadcasting).
#include <memory>

#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

// dtype of the promoted result and the gradient cast back to each input's dtype.
Tensor to_input(const Tensor& g, const Shape& shape, DType dt) { return cast(sum_to(g, shape), dt); }
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::add, a, b);
  // forward: y = a + b ⇒ da = g, db = g
  return record("add", {a, b}, y, [sa = a.shape(), sb = b.shape(), da = a.dtype(), db = b.dtype()](const Tensor& g) {
    return grads({to_input(g, sa, da), to_input(g, sb, db)});
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::sub, a, b);
  // forward: y = a − b ⇒ da = g, db = −g
  return record("sub", {a, b}, y, [sa = a.shape(), sb = b.shape(), da = a.dtype(), db = b.dtype()](const Tensor& g) {
    return grads({to_input(g, sa, da), to_input(neg(g), sb, db)});
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::mul, a, b);
  // forward: y = a · b ⇒ da = g · b, db = g · a
  return record("mul", {a, b}, y, [a = save(a, "mul"), b = save(b, "mul")](const Tensor& g) {
    const Tensor av = a.get(), bv = b.get();
    return grads({to_input(g * bv, av.shape(), av.dtype()), to_input(g * av, bv.shape(), bv.dtype())});
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::div, a, b);
  // forward: y = a / b ⇒ da = g / b, db = −g · a / b² = −g · y / b
  return record("div", {a, b}, y, [a = save(a, "div"), b = save(b, "div"), y = save(y, "div")](const Tensor& g) {
    const Tensor av = a.get(), bv = b.get();
    return grads({to_input(g / bv, av.shape(), av.dtype()), to_input(neg(g * y.get() / bv), bv.shape(), bv.dtype())});
  });
}

namespace {
// maximum/minimum: the gradient goes to the selected input; on ties half to each.
Tensor extremum(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  Tensor y = raw::binary(op, a, b);
  return record(name, {a, b}, y, [a = save(a, name), b = save(b, name), op](const Tensor& g) {
    const Tensor av = a.get(), bv = b.get();
    const BinaryOp wins = op == BinaryOp::maximum ? BinaryOp::gt : BinaryOp::lt;
    // forward: y = max(a, b) ⇒ da = g · (1[a > b] + ½·1[a = b]), db = g · (1[b > a] + ½·1[a = b])
    const Tensor tie = raw::binary(BinaryOp::eq, av, bv) * 0.5;
    const Tensor wa = raw::binary(wins, av, bv) + tie;
    const Tensor wb = raw::binary(wins, bv, av) + tie;
    return grads({to_input(g * wa, av.shape(), av.dtype()), to_input(g * wb, bv.shape(), bv.dtype())});
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, BinaryOp::maximum, "maximum"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, BinaryOp::minimum, "minimum"); }

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = raw::binary(BinaryOp::pow, a, b);
  // forward: y = a^b ⇒ da = g · b · a^(b−1), db = g · y · log a
  return record("pow", {a, b}, y, [a = save(a, "pow"), b = save(b, "pow"), y = save(y, "pow"),
                                   b_needs = b.requires_grad()](const Tensor& g) {
    const Tensor av = a.get(), bv = b.get();
    Tensor da = to_input(g * bv * pow(av, bv - 1.0), av.shape(), av.dtype());
    Tensor db = b_needs ? to_input(g * y.get() * log(av), bv.shape(), bv.dtype()) : Tensor();
    return grads({da, db});
  });
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = raw::unary(UnaryOp::pow_scalar, x, {p});
  // forward: y = x^p ⇒ dx = g · p · x^(p−1)
  return record("pow", {x}, y, [x = save(x, "pow"), p](const Tensor& g) {
    return grads({g * (p * pow(x.get(), p - 1.0))});
  });
}

Tensor neg(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::neg, x);
  // forward: y = −x ⇒ dx = −g
  return record("neg", {x}, y, [](const Tensor& g) { return grads({neg(g)}); });
}

Tensor exp(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::exp, x);
  // forward: y = eˣ ⇒ dx = g · y
  return record("exp", {x}, y, [y = save(y, "exp")](const Tensor& g) { return grads({g * y.get()}); });
}

Tensor log(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::log, x);
  // forward: y = log x ⇒ dx = g / x
  return record("log", {x}, y, [x = save(x, "log")](const Tensor& g) { return grads({g / x.get()}); });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::sqrt, x);
  // forward: y = √x ⇒ dx = g / (2y)
  return record("sqrt", {x}, y, [y = save(y, "sqrt")](const Tensor& g) { return grads({g / (2.0 * y.get())}); });
}

Tensor abs(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::abs, x);
  // forward: y = |x| ⇒ dx = g · sign(x)   (0 at x = 0)
  return record("abs", {x}, y, [x = save(x, "abs")](const Tensor& g) {
    return grads({g * raw::unary(UnaryOp::sign, x.get())});
  });
}

Tensor square(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::square, x);
  // forward: y = x² ⇒ dx = 2 · g · x
  return record("square", {x}, y, [x = save(x, "square")](const Tensor& g) { return grads({2.0 * g * x.get()}); });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  CONTRA_CHECK(lo <= hi, "clamp", "lower bound ", lo, " is above the upper bound ", hi);
  Tensor y = raw::unary(UnaryOp::clamp, x, {lo, hi});
  // forward: y = min(max(x, lo), hi) ⇒ dx = g · 1[lo ≤ x ≤ hi]
  return record("clamp", {x}, y, [x = save(x, "clamp"), lo, hi](const Tensor& g) {
    const Tensor xv = x.get();
    const Tensor inside = raw::binary(BinaryOp::ge, xv, raw::scalar_like(xv, lo)) *
                          raw::binary(BinaryOp::le, xv, raw::scalar_like(xv, hi));
    return grads({g * inside});
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::relu, x);
  // ReLU of a recomputable value (a batch norm's output) is recomputable too: the saved y
  // below (and the next convolution's saved input) keeps the recipe, not y (node.h).
  // The recipe lives while a saved copy of y holds it (the save below, when x was marked).
  std::shared_ptr<const autograd::RecomputeFn> recipe;
  if (autograd::any_requires_grad({x}))
    if (auto xf = autograd::recompute_of(x)) {
      recipe = std::make_shared<const autograd::RecomputeFn>([xf] { return raw::unary(UnaryOp::relu, (*xf)()); });
      autograd::mark_recomputable(y, recipe);
    }
  // forward: y = max(x, 0) ⇒ dx = g · 1[x > 0]
  return record("relu", {x}, y, [y = save(y, "relu")](const Tensor& g) {
    return grads({g * raw::unary(UnaryOp::step, y.get(), {0.0})});
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::sigmoid, x);
  // forward: y = σ(x) ⇒ dx = g · y · (1 − y)
  return record("sigmoid", {x}, y, [y = save(y, "sigmoid")](const Tensor& g) {
    const Tensor yv = y.get();
    return grads({g * yv * (1.0 - yv)});
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = raw::unary(UnaryOp::tanh, x);
  // forward: y = tanh x ⇒ dx = g · (1 − y²)
  return record("tanh", {x}, y, [y = save(y, "tanh")](const Tensor& g) {
    return grads({g * (1.0 - square(y.get()))});
  });
}

Tensor scale(const Tensor& x, double alpha) {
  Tensor y = raw::unary(UnaryOp::affine, x, {alpha, 0.0});
  // forward: y = α x ⇒ dx = α g
  return record("scale", {x}, y, [alpha](const Tensor& g) { return grads({scale(g, alpha)}); });
}

Tensor add_scalar(const Tensor& x, double c) {
  Tensor y = raw::unary(UnaryOp::affine, x, {1.0, c});
  // forward: y = x + c ⇒ dx = g
  return record("add_scalar", {x}, y, [](const Tensor& g) { return grads({g}); });
}

Tensor compare(const Tensor& a, const Tensor& b, BinaryOp op) { return raw::binary(op, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const DType dt = promote(a.dtype(), b.dtype());
  const Tensor av = a.to(dt), bv = b.to(dt), c = cond.to(dt);
  Shape s = broadcast_shapes(broadcast_shapes(c.shape(), av.shape(), "where"), bv.shape(), "where");
  Tensor y = Tensor::empty(s, dt, a.device());
  backend_for(y).where(c, av, bv, y);
  // forward: y = c ? a : b ⇒ da = g · 1[c], db = g · 1[¬c]
  return record("where", {a, b}, y, [c = save(c, "where"), sa = a.shape(), sb = b.shape(), da = a.dtype(),
                                     db = b.dtype()](const Tensor& g) {
    const Tensor zero = raw::scalar_like(g, 0.0);
    Tensor ga = Tensor::empty(g.shape(), g.dtype(), g.device()), gb = Tensor::empty(g.shape(), g.dtype(), g.device());
    backend_for(g).where(c.get(), g, zero, ga);
    backend_for(g).where(c.get(), zero, g, gb);
    return grads({to_input(ga, sa, da), to_input(gb, sb, db)});
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  CONTRA_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape(), "masked_fill", "mask shape ",
               shape_str(mask.shape()), " does not broadcast to ", shape_str(x.shape()));
  return where(mask, raw::scalar_like(x, value), x);
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor y = x.to(dtype);
  // forward: y = x (converted) ⇒ dx = g (converted back)
  return record("cast", {x}, y, [from = x.dtype()](const Tensor& g) { return grads({g.to(from)}); });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double c) { return add_scalar(a, c); }
Tensor operator-(const Tensor& a, double c) { return add_scalar(a, -c); }
Tensor operator*(const Tensor& a, double c) { return scale(a, c); }
Tensor operator/(const Tensor& a, double c) { return scale(a, 1.0 / c); }
Tensor operator+(double c, const Tensor& a) { return add_scalar(a, c); }
Tensor operator-(double c, const Tensor& a) { return add_scalar(neg(a), c); }
Tensor operator*(double c, const Tensor& a) { return scale(a, c); }
Tensor operator/(double c, const Tensor& a) { return div(raw::scalar_like(a, c), a); }

}  // namespace contra
