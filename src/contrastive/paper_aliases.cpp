// paper_aliases.cpp — the paper's names ν, β, ρ mapped onto the balanced loss's weights
// (balanced.h, docs/derivation.md §6). Its own file because the config parser uses it and must
// link without the autograd ops (fuzz/meson.build compiles only the parsers).
#include <algorithm>
#include <cmath>

#include "contrastive/balanced.h"
#include "tensor/error.h"

namespace contra::contrastive {

BalancedParams with_paper_aliases(BalancedParams p, const PaperAliases& a) {
  const char* where = "balanced loss (paper aliases ν, β, ρ, as we read the paper)";
  if (a.nu) p.attract = *a.nu;  // ν = w_a
  if (a.beta) p.repel = *a.beta;  // β = w_r
  if (a.rho) {
    CONTRA_CHECK(std::isfinite(*a.rho) && *a.rho >= 0.0, where, "ρ must be finite and ≥ 0, got ", *a.rho);
    const double repel = *a.rho * p.attract;  // ρ = β/ν ⇒ w_r = ρ · w_a
    if (a.beta)
      CONTRA_CHECK_HINT(std::abs(repel - *a.beta) <= 1e-12 * std::max(1.0, std::abs(*a.beta)), where,
                        "give two of ν, β, ρ", "β = ", *a.beta, " disagrees with ρ·ν = ", *a.rho, "·", p.attract,
                        " = ", repel);
    p.repel = repel;
  }
  return p;
}

}  // namespace contra::contrastive
