// differentiable_collectives.cpp — all_gather_rows and all_reduce_sum with their backward rules.
// See differentiable_collectives.h for the derivation (equations (1) and (2)).
#include "dist/differentiable_collectives.h"

#include "autograd/ops/record.h"
#include "tensor/error.h"

namespace contra::dist {

using autograd::record;

Tensor all_gather_rows(Communicator& comm, const Tensor& x) {
  CONTRA_CHECK(x.dim() >= 1, "all_gather_rows", "needs rows, got a scalar");
  const Tensor y = comm.all_gather(x.detach().contiguous());  // (K·n, ...)
  Communicator* c = &comm;
    return record("all_gather_rows", {x}, y, [c](const Tensor& g) {
    // forward: Y^(s)[r·n : (r+1)·n] = z_r on every rank s  ⇒  dz_r = Σ_s G_s[r·n : (r+1)·n]
    return std::vector<Tensor>{c->reduce_scatter_sum(g.contiguous())};  // G_s (K·n, ...) → (n, ...)
  });
}

Tensor all_reduce_sum(Communicator& comm, const Tensor& x) {
  Tensor y = x.detach().contiguous().clone();
  comm.all_reduce_sum(y);  // y = Σ_r x_r
  Communicator* c = &comm;
  return record("all_reduce_sum", {x}, y, [c](const Tensor& g) {
    // forward: y^(s) = Σ_r x_r on every rank s  ⇒  dx_r = Σ_s g_s
    Tensor sum = g.contiguous().clone();
    c->all_reduce_sum(sum);
    return std::vector<Tensor>{sum};
  });
}

}  // namespace contra::dist
