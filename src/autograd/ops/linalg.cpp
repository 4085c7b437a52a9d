// linalg.cpp — matrix products.
//
// Shapes: a (..., M, K), b (..., K, N) → y (..., M, N); batch axes broadcast.
// The backend receives rank-3 stacks (B, M, K); transposed views are passed as strides so
// the CPU backend maps them to BLAS transpose flags without copying.
#include "autograd/ops/record.h"

namespace contra {

using autograd::grads;
using autograd::record;
using autograd::save;

namespace {

// x (batch..., R, C) expanded to `batch` → rank-3 (B, R, C), a view when possible.
Tensor as_stack(const Tensor& x, const Shape& batch) {
  const std::int64_t R = x.size(-2), C = x.size(-1);
  Shape full = batch;
  full.push_back(R);
  full.push_back(C);
  Strides st = broadcast_strides(x.shape(), x.strides(), full);
  // The batch axes merge into one stride when each outer stride equals the inner stride
  // times the inner size (stride 0 for broadcast axes merges too).
  const std::int64_t B = shape_numel(batch);
  std::int64_t bstride = 0, expect = -1;
  bool mergeable = true;
  for (size_t i = batch.size(); i-- > 0;) {
    if (batch[i] == 1) continue;
    if (expect < 0) bstride = st[i];
    else if (st[i] != expect) mergeable = false;
    expect = st[i] * batch[i];
  }
  if (mergeable) return x.as_strided({B, R, C}, {bstride, st[full.size() - 2], st[full.size() - 1]}, x.offset());
  Tensor c = x.as_strided(full, st, x.offset()).contiguous();
  return c.view({B, R, C});
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  CONTRA_CHECK(a_in.dim() >= 2 && b_in.dim() >= 2, "matmul", "needs operands of rank ≥ 2, got ",
               shape_str(a_in.shape()), " and ", shape_str(b_in.shape()), "",
               " (hint: unsqueeze a vector to a 1-row or 1-column matrix)");
  CONTRA_CHECK(a_in.size(-1) == b_in.size(-2), "matmul", "inner sizes differ: ", shape_str(a_in.shape()), " · ",
               shape_str(b_in.shape()), " (", a_in.size(-1), " vs ", b_in.size(-2), ")");
  const DType dt = promote(a_in.dtype(), b_in.dtype());
  const Tensor a = a_in.to(dt), b = b_in.to(dt);
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  const std::int64_t M = a.size(-2), N = b.size(-1);
  const Tensor A = as_stack(a, batch), B = as_stack(b, batch);
  Tensor out = Tensor::empty({shape_numel(batch), M, N}, dt, a.device());
  backend_for(out).matmul(A, B, out, 1.0, 0.0);
  Shape ys = batch;
  ys.push_back(M);
  ys.push_back(N);
  Tensor y = out.view(ys);
  // forward: Y = A·B ⇒ dA = G·Bᵀ, dB = Aᵀ·G   (summed over broadcast batch axes)
  return record("matmul", {a_in, b_in}, y, [a = save(a, "matmul"), b = save(b, "matmul"), da = a_in.dtype(),
                                           db = b_in.dtype()](const Tensor& g) {
    const Tensor av = a.get(), bv = b.get();
    Tensor ga = sum_to(matmul(g, transpose(bv, -1, -2)), av.shape());
    Tensor gb = sum_to(matmul(transpose(av, -1, -2), g), bv.shape());
    return grads({cast(ga, da), cast(gb, db)});
  });
}

}  // namespace contra
