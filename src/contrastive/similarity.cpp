// similarity.cpp — z̄ = f/‖f‖, S = Z̄Z̄ᵀ, Λ = S/τ (docs/derivation.md §0, §6). See similarity.h.
#include "contrastive/similarity.h"

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive {

void check_embeddings(const Tensor& f, const char* where) {
  CONTRA_CHECK(f.defined(), where, "embeddings are undefined");
  CONTRA_CHECK_HINT(f.dim() == 2, where, "pass embeddings as (M, D) rows, view-major",
                    "embeddings must be (M, D), got ", shape_str(f.shape()));
  CONTRA_CHECK(f.size(0) >= 1 && f.size(1) >= 1, where, "empty embeddings ", shape_str(f.shape()));
  dispatch_floating(f.dtype(), where, [](auto) {});  // floating dtypes only
  // The common case on the device, with one host read: no non-finite entry, and
  // ‖f_i‖² = Σ_d f_id² (in double) above kMinEmbeddingNorm² for every row.
  const Tensor c = f.detach();
  const Tensor n2 = sum(square(c.to(DType::f64)), {1});
  const std::vector<double> norms2 = n2.to_vector<double>();
  bool ok = backend_for(c).count_non_finite({c}) == 0;
  for (double v : norms2) ok = ok && std::sqrt(v) > kMinEmbeddingNorm;
  if (ok) return;
  // An error: find the first offending entry, row by row, on the host to name it.
  const std::vector<double> p = c.contiguous().to_vector<double>();
  const std::int64_t M = c.size(0), D = c.size(1);
  for (std::int64_t i = 0; i < M; ++i) {
    double n2i = 0.0;
    for (std::int64_t d = 0; d < D; ++d) {
      const double v = p[static_cast<size_t>(i * D + d)];
      CONTRA_CHECK_HINT(std::isfinite(v), where, "check the encoder output and the learning rate",
                        "non-finite input: embedding row ", i, ", column ", d, " is ", v);
      n2i += v * v;
    }
    CONTRA_CHECK_HINT(std::sqrt(n2i) > kMinEmbeddingNorm, where,
                      "z̄ = f/‖f‖ is undefined for f = 0 (docs/derivation.md §0: f ∈ R^d \\ {0}); check the projection head",
                      "zero-norm embedding: row ", i, " has ‖f‖ = ", std::sqrt(n2i), " ≤ ", kMinEmbeddingNorm);
  }
}

void check_temperature(double temperature, const char* where) {
  CONTRA_CHECK_HINT(std::isfinite(temperature) && temperature > 0.0, where, "SimCLR uses 0.1–0.5",
                    "temperature τ must be finite and > 0, got ", temperature);
}

Tensor normalize_embeddings(const Tensor& f) {
  check_embeddings(f, "normalize_embeddings");
  // docs/derivation.md §0: z̄ = f/‖f‖ (l2_normalize's ε clamp is never active after the check above)
  return l2_normalize(f, 1, kMinEmbeddingNorm);
}

Tensor similarity_matrix(const Tensor& z) {
  CONTRA_CHECK(z.dim() == 2, "similarity_matrix", "expects (M, D) rows, got ", shape_str(z.shape()));
  // S = Z̄ Z̄ᵀ (M, M); matmul's backward gives dZ̄ = (dS + dSᵀ) Z̄
  return matmul(z, transpose(z, 0, 1));
}

Tensor cosine_similarity_matrix(const Tensor& f) { return similarity_matrix(normalize_embeddings(f)); }

Tensor scaled_logits(const Tensor& S, double temperature) {
  check_temperature(temperature, "scaled_logits");
  return scale(S, 1.0 / temperature);  // Λ = S/τ
}

}  // namespace contra::contrastive
