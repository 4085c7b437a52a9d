// similarity.cpp — z̄ = f/‖f‖, S = Z̄Z̄ᵀ, Λ = S/τ (docs/derivation.md §0, §6). See similarity.h.
#include "contrastive/similarity.h"

#include <cmath>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace contra::contrastive {

void check_embeddings(const Tensor& f, const char* where) {
  CONTRA_CHECK(f.defined(), where, "embeddings are undefined");
  CONTRA_CHECK_HINT(f.dim() == 2, where, "pass embeddings as (M, D) rows, view-major",
                    "embeddings must be (M, D), got ", shape_str(f.shape()));
  CONTRA_CHECK(f.size(0) >= 1 && f.size(1) >= 1, where, "empty embeddings ", shape_str(f.shape()));
  dispatch_floating(f.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const Tensor c = f.detach().contiguous();
    const T* p = c.data<T>();
    const std::int64_t M = c.size(0), D = c.size(1);
    for (std::int64_t i = 0; i < M; ++i) {
      double n2 = 0.0;
      for (std::int64_t d = 0; d < D; ++d) {
        const double v = static_cast<double>(p[i * D + d]);
        CONTRA_CHECK_HINT(std::isfinite(v), where, "check the encoder output and the learning rate",
                          "non-finite input: embedding row ", i, ", column ", d, " is ", v);
        n2 += v * v;
      }
      CONTRA_CHECK_HINT(std::sqrt(n2) > kMinEmbeddingNorm, where,
                        "z̄ = f/‖f‖ is undefined for f = 0 (docs/derivation.md §0: f ∈ R^d \\ {0}); check the projection head",
                        "zero-norm embedding: row ", i, " has ‖f‖ = ", std::sqrt(n2), " ≤ ", kMinEmbeddingNorm);
    }
  });
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
