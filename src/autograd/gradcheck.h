// gradcheck.h — analytic gradients against central finite differences, in double precision.
//
// numeric ∂L/∂xₖ ≈ (L(x + ε eₖ) − L(x − ε eₖ)) / 2ε, with the reference kernels forced on.
//
// Two modes:
//  - full Jacobian (small problems): one backward per output element, one pair of
//    forwards per input element; every entry J[out, in] is compared;
//  - random projection (default for larger outputs): L = Σ u ⊙ f(x) with a seeded random u,
//    one backward, and finite differences of L for every input element (or a seeded
//    sample of `max_elements` of them).
// An entry passes when |analytic − numeric| ≤ atol + rtol·|numeric|. The result names the
// worst entry: input, element index, output element (full mode), analytic and numeric.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace contra {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  enum class Mode { automatic, full_jacobian, projection } mode = Mode::automatic;
  std::int64_t full_jacobian_max = 4096;  // automatic: full when n_in · n_out ≤ this
  std::int64_t max_elements = 0;          // projection: check at most this many per input (0 = all)
  std::uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::int64_t checked = 0;       // entries compared
  double worst_error = 0.0;       // |analytic − numeric| of the worst entry (by tolerance ratio)
  double worst_ratio = 0.0;       // error / (atol + rtol·|numeric|); ≤ 1 passes
  double max_rel_error = 0.0;     // max |a − n| / max(|n|, 1e-12) over entries with |n| > atol
  size_t input = 0;
  std::int64_t element = -1;
  std::int64_t output_element = -1;  // full-Jacobian mode only
  double analytic = 0.0, numeric = 0.0;
  std::string mode;
  std::string message;            // a readable summary
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be f64. Those with requires_grad set are checked; others are constants.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace contra
