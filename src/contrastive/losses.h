// losses.h — the derived loss (D1), NT-Xent as in SimCLR (NT) and SupCon L_out.
//
// All on logits Λ = S/τ of L2-normalised, view-major embeddings (similarity.h), per anchor i:
//
//  (D1)  docs/derivation.md §5c:  ℓ_i = − (1/|P(i)|) Σ_{p∈P(i)} Λ_ip + λ · log Σ_{k∈N(i)} e^{Λ_ik}        V ≥ 2
//  (NT)  docs/derivation.md §5d:  ℓ_i = − log( e^{Λ_ip} / Σ_{k≠i} e^{Λ_ik} ),   p = (i + N) mod M        V = 2
//        L = (1/2N) Σ_i ℓ_i, as in the SimCLR paper (Chen et al. 2020, eq. 1). SimCLR's TF code
//        returns loss_a + loss_b, i.e. twice this mean; we follow the paper's formula.
//  (SupCon L_out) Khosla et al. 2020, eq. 2:
//        ℓ_i = − (1/|P_y(i)|) Σ_{p∈P_y(i)} log( e^{Λ_ip} / Σ_{a≠i} e^{Λ_ia} ),
//        P_y(i) = { p ≠ i : y_p = y_i } (all other rows of the same class, views included);
//        L = mean over anchors. (SupContrast's code multiplies by τ/base_τ = 1 by default.)
//        Rule: an anchor with P_y(i) empty (possible only with V = 1) is an error naming the
//        row and class — never a silent 0/0 = NaN.
//
// The per-anchor functions take the logits of the layout's anchor rows, (m, M) (layout.h;
// (M, M) by default): "local anchors × global keys" for data parallelism (src/dist).
//
// Dimension letters: N images, V views, M = N·V rows, m anchor rows, D embedding width, C classes.
#pragma once

#include "contrastive/layout.h"
#include "tensor/tensor.h"

namespace contra::contrastive {

// (D1) per anchor from logits.                                            (m, M) → (m,)
Tensor derived_per_anchor(const Tensor& logits, const ViewLayout& layout, double lambda);
// (D1) on unnormalised embeddings f (M, D): mean over anchors.                    → ()
Tensor derived_loss(const Tensor& f, const ViewLayout& layout, double temperature, double lambda = 1.0);

// (NT) per anchor from logits; needs V = 2.                               (m, M) → (m,)
Tensor nt_xent_per_anchor(const Tensor& logits, const ViewLayout& layout);
// (NT) on unnormalised embeddings f (M, D).                                      → ()
Tensor nt_xent(const Tensor& f, const ViewLayout& layout, double temperature);

// SupCon L_out per anchor; row_labels i64 (M,) (see layout.h row_labels).  (m, M) → (m,)
Tensor supcon_per_anchor(const Tensor& logits, const Tensor& row_labels);
// The same for the anchors rows `anchors` (m of them) against all M keys.  (m, M) → (m,)
Tensor supcon_per_anchor(const Tensor& logits, const Tensor& row_labels, const std::vector<std::int64_t>& anchors);
// SupCon L_out on f (M, D), labels (N,) or (M,); any V ≥ 1.                       → ()
Tensor supcon_loss(const Tensor& f, const ViewLayout& layout, const Tensor& labels, double temperature);

}  // namespace contra::contrastive
