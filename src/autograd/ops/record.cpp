#include "autograd/ops/record.h"

namespace contra::autograd {

Tensor record(const char* name, const std::vector<Tensor>& inputs, Tensor out, FunctionNode::Backward backward) {
  if (!any_requires_grad(inputs)) return out;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  for (const auto& in : inputs) {
    node->next.push_back(in.defined() && in.requires_grad() ? gradient_edge(in) : nullptr);
    node->inputs.push_back(in.defined() ? InputInfo{in.shape(), in.dtype()} : InputInfo{{}, DType::f32});
  }
  // `out` may be a view sharing its TensorImpl with nobody: give it fresh graph data.
  Tensor result = out.detach();
  AutogradMeta& meta = result.autograd_meta();
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
  return result;
}

}  // namespace contra::autograd

namespace contra::raw {

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x).unary(op, x, out, p);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  CONTRA_CHECK(a_in.device() == b_in.device(), binary_name(op), "operands on different devices: ",
               a_in.device().str(), " and ", b_in.device().str());
  const DType dt = promote(a_in.dtype(), b_in.dtype());
  const Tensor a = a_in.to(dt), b = b_in.to(dt);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), binary_name(op)), dt, a.device());
  backend_for(a).binary(op, a, b, out);
  return out;
}

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& axes) {
  Shape s = x.shape();
  for (int a : axes) s[a] = 1;
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  backend_for(x).reduce(op, x, out);
  return out;
}

Tensor scalar_like(const Tensor& x, double v) { return Tensor::scalar(v, x.dtype(), x.device()); }

}  // namespace contra::raw
