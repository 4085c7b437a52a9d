// gathered_loss.cpp — local anchors × global keys. See gathered_loss.h for the derivation.
#include "dist/gathered_loss.h"

#include <vector>

#include "autograd/ops.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/losses.h"
#include "contrastive/prototypes.h"
#include "contrastive/similarity.h"
#include "dist/differentiable_collectives.h"
#include "tensor/error.h"

namespace contra::dist {

using contrastive::ViewLayout;

ViewLayout sharded_layout(const Communicator& comm, std::int64_t local_rows, std::int64_t V, const char* where) {
  const ViewLayout local = ViewLayout::for_rows(local_rows, V, where);  // n = local_rows / V
  const std::int64_t n = local.N, K = comm.size();
  return ViewLayout{K * n, V}.with_anchor_images(comm.rank() * n, n, where);
}

Tensor gather_view_major(Communicator& comm, const Tensor& f_local, std::int64_t V) {
  const char* where = "gather_view_major";
  CONTRA_CHECK(f_local.dim() == 2, where, "embeddings must be (V·n, D), got ", shape_str(f_local.shape()));
  const ViewLayout local = ViewLayout::for_rows(f_local.size(0), V, where);
  const std::int64_t K = comm.size(), n = local.N, D = f_local.size(1);
  const Tensor Y = all_gather_rows(comm, f_local);       // (K·V·n, D): rank-major
  const Tensor Y4 = reshape(Y, {K, V, n, D});             // [r, v, x]
  return reshape(permute(Y4, {1, 0, 2, 3}), {V * K * n, D});  // [v, r, x] → row v·N + r·n + x  (M, D)
}

Tensor anchor_logits(const Tensor& f_global, const ViewLayout& L, double temperature) {
  const Tensor z = contrastive::normalize_embeddings(f_global);  // z̄ = f/‖f‖         (M, D)
  const Tensor z_anchor = contrastive::anchor_rows_of(z, L);     // Z̄_A               (m, D)
  const Tensor S = matmul(z_anchor, transpose(z, 0, 1));        // S_A = Z̄_A Z̄ᵀ      (m, M)
  return contrastive::scaled_logits(S, temperature);             // Λ_A = S_A / τ     (m, M)
}

namespace {
// loss_r = K · Σ_{i∈A_r} ℓ_i / M                                      (m,) → ()
Tensor rank_share_of_mean(const Tensor& per_anchor, const ViewLayout& L, int K) {
  return scale(sum(per_anchor), static_cast<double>(K) / static_cast<double>(L.M()));
}

// Every rank's image labels, labels_local i64 (n,) → (N,): image r·n + x.
Tensor gathered_labels(Communicator& comm, const Tensor& labels_local, const ViewLayout& L, const char* where) {
  CONTRA_CHECK(labels_local.dtype() == DType::i64 && labels_local.dim() == 1 && labels_local.size(0) == L.n_anchor_images(),
               where, "labels must be i64 (n,) = (", L.n_anchor_images(), ",), one per local image, got ",
               shape_str(labels_local.shape()));
  return comm.all_gather(labels_local.contiguous());
}
}  // namespace

Tensor gathered_nt_xent(Communicator& comm, const Tensor& f_local, std::int64_t V, double temperature) {
  const ViewLayout L = sharded_layout(comm, f_local.size(0), V, "gathered_nt_xent");
  const Tensor F = gather_view_major(comm, f_local, V);
  return rank_share_of_mean(contrastive::nt_xent_per_anchor(anchor_logits(F, L, temperature), L), L, comm.size());
}

Tensor gathered_derived_loss(Communicator& comm, const Tensor& f_local, std::int64_t V, double temperature,
                             double lambda) {
  const ViewLayout L = sharded_layout(comm, f_local.size(0), V, "gathered_derived_loss");
  const Tensor F = gather_view_major(comm, f_local, V);
  return rank_share_of_mean(contrastive::derived_per_anchor(anchor_logits(F, L, temperature), L, lambda), L,
                            comm.size());
}

Tensor gathered_supcon_loss(Communicator& comm, const Tensor& f_local, std::int64_t V, const Tensor& labels_local,
                            double temperature) {
  const char* where = "gathered_supcon_loss";
  const ViewLayout L = sharded_layout(comm, f_local.size(0), V, where);
  const Tensor y = contrastive::row_labels(gathered_labels(comm, labels_local, L, where), L, where);  // (M,)
  const Tensor F = gather_view_major(comm, f_local, V);
  return rank_share_of_mean(
      contrastive::supcon_per_anchor(anchor_logits(F, L, temperature), y, L.anchor_row_indices()), L, comm.size());
}

Tensor gathered_supervised_prototype_loss(Communicator& comm, const Tensor& f_local, std::int64_t V,
                                          const Tensor& labels_local, double lambda) {
  const char* where = "gathered_supervised_prototype_loss (S1)";
  const ViewLayout L = sharded_layout(comm, f_local.size(0), V, where);
  const Tensor y = contrastive::row_labels(gathered_labels(comm, labels_local, L, where), L, where);  // (M,)
  const Tensor F = gather_view_major(comm, f_local, V);                                            // (M, D)
  const Tensor z = contrastive::normalize_embeddings(F);                                           // z̄ (M, D)
  const contrastive::ClassPrototypes protos = contrastive::class_prototypes(z, y);  // μ_c over the global batch
  const auto y_all = y.to_vector<std::int64_t>();
  std::vector<std::int64_t> y_a;  // the anchors' labels y_i, i ∈ A_r   (m,)
  for (const std::int64_t i : L.anchor_row_indices()) y_a.push_back(y_all[static_cast<size_t>(i)]);
  const Tensor y_anchor = Tensor::from_vector(y_a, {L.anchor_rows()});
  const Tensor per_anchor =
      contrastive::supervised_prototype_per_anchor(contrastive::anchor_rows_of(z, L), y_anchor, protos, lambda);
  return rank_share_of_mean(per_anchor, L, comm.size());
}

Tensor gathered_balanced_loss(Communicator& comm, const Tensor& f_local, std::int64_t V,
                              const contrastive::BalancedParams& p, Tensor* f_global) {
  const char* where = "gathered_balanced_loss";
  const ViewLayout L = sharded_layout(comm, f_local.size(0), V, where);
  contrastive::validate(p, L, where);
  const Tensor F = gather_view_major(comm, f_local, V);
  if (f_global) *f_global = F;
  const Tensor per_anchor = contrastive::balanced_per_anchor(anchor_logits(F, L, p.temperature), L, p);  // ℓ_A (m,)
  if (!p.anchor_weights.defined()) return rank_share_of_mean(per_anchor, L, comm.size());
  // loss_r = K · Σ_{i∈A_r} α_i ℓ_i / Σ_{all i} α_i
  const Tensor alpha = p.anchor_weights.to(per_anchor.dtype()).detach();  // (M,)
  const double alpha_total = sum(alpha).item();
  return scale(sum(per_anchor * contrastive::anchor_rows_of(alpha, L)), comm.size() / alpha_total);
}

contrastive::LossTelemetry global_balanced_telemetry(const Tensor& f_global, std::int64_t V,
                                                     const contrastive::BalancedParams& p, bool gradient_norms) {
  const ViewLayout L = ViewLayout::for_rows(f_global.size(0), V, "global_balanced_telemetry");  // all M anchors
  contrastive::FusedOptions fo;
  fo.gradient_norms = gradient_norms;
  return contrastive::balanced_loss(f_global.detach(), L, p, fo).telemetry;
}

double global_mean(Communicator& comm, const Tensor& local_loss) {
  const Tensor v = Tensor::scalar(local_loss.detach().item(), DType::f64).view({1});
  comm.all_reduce_sum(v);
  return v.item() / comm.size();
}

}  // namespace contra::dist
