// layout.cpp — view-major layout and index sets (docs/derivation.md §0, §5c). See layout.h.
#include "contrastive/layout.h"

#include "autograd/ops.h"
#include "tensor/error.h"

namespace contra::contrastive {

std::vector<std::int64_t> ViewLayout::positives(std::int64_t r) const {
  std::vector<std::int64_t> p;
  p.reserve(static_cast<size_t>(V > 0 ? V - 1 : 0));
  for (std::int64_t v = 0; v < V; ++v)
    if (row(image(r), v) != r) p.push_back(row(image(r), v));
  return p;
}

std::vector<std::int64_t> ViewLayout::negatives(std::int64_t r) const {
  std::vector<std::int64_t> n;
  n.reserve(static_cast<size_t>(M() - V));
  for (std::int64_t k = 0; k < M(); ++k)
    if (!same_image(r, k)) n.push_back(k);
  return n;
}

ViewLayout ViewLayout::for_rows(std::int64_t M, std::int64_t V, const char* where) {
  CONTRA_CHECK_HINT(V >= 1, where, "pass the number of views per image (2 for SimCLR)", "views V must be ≥ 1, got ", V);
  CONTRA_CHECK(M >= 1, where, "empty batch: M = ", M, " rows");
  CONTRA_CHECK_HINT(M % V == 0, where,
                    "rows are view-major [x_1..x_N (view 1), x_1..x_N (view 2), ...]: M must be N·V",
                    "M = ", M, " rows is not divisible by V = ", V, " views");
  return ViewLayout{M / V, V};
}

std::vector<std::int64_t> ViewLayout::anchor_row_indices() const {
  std::vector<std::int64_t> rows(static_cast<size_t>(anchor_rows()));
  for (std::int64_t a = 0; a < anchor_rows(); ++a) rows[a] = anchor_row(a);
  return rows;
}

ViewLayout ViewLayout::with_anchor_images(std::int64_t first, std::int64_t count, const char* where) const {
  CONTRA_CHECK_HINT(first >= 0 && count >= 1 && first + count <= N, where,
                    "anchors are a range of the batch's images: 0 ≤ first, 1 ≤ count, first + count ≤ N",
                    "anchor images [", first, ", ", first + count, ") do not lie in [0, N = ", N, ")");
  ViewLayout L = *this;
  L.anchor_first = first;
  L.anchor_images = count;
  return L;
}

void require_contrastive_batch(const ViewLayout& layout, std::int64_t min_views, const char* where) {
  CONTRA_CHECK_HINT(layout.V >= min_views, where, "each image needs at least two views so that P(i) is not empty",
                    "V = ", layout.V, " views per image; this loss needs V ≥ ", min_views);
  CONTRA_CHECK_HINT(layout.N >= 2, where, "a batch needs at least 2 images",
                    "N = ", layout.N, " image (M = ", layout.M(),
                    " rows): no negatives, the set N(i) of other images is empty (docs/derivation.md §6)");
}

namespace {
// 1[in_set(i, k)] for the anchors' rows i and every key k, built on the host (a mask of the
// layout, not of data) and converted to dtype.                                       (m, M)
template <typename Pred>
Tensor make_mask(const ViewLayout& L, DType dtype, Pred in_set) {
  const std::int64_t M = L.M(), rows = L.anchor_rows();
  std::vector<double> m(static_cast<size_t>(rows * M), 0.0);
  for (std::int64_t a = 0; a < rows; ++a) {
    const std::int64_t i = L.anchor_row(a);
    for (std::int64_t k = 0; k < M; ++k)
      if (in_set(i, k)) m[static_cast<size_t>(a * M + k)] = 1.0;
  }
  CONTRA_CHECK(is_floating(dtype), "mask", "masks are floating, got ", dtype_name(dtype));
  return Tensor::from_vector(m, {rows, M}).to(dtype);
}
}  // namespace

Tensor positive_mask(const ViewLayout& L, DType dtype) {
  return make_mask(L, dtype, [&](std::int64_t i, std::int64_t k) { return k != i && L.same_image(i, k); });
}
Tensor negative_mask(const ViewLayout& L, DType dtype) {
  return make_mask(L, dtype, [&](std::int64_t i, std::int64_t k) { return !L.same_image(i, k); });
}
Tensor self_mask(const ViewLayout& L, DType dtype) {
  return make_mask(L, dtype, [&](std::int64_t i, std::int64_t k) { return k == i; });
}

Tensor anchor_rows_of(const Tensor& x, const ViewLayout& L) {
  if (L.all_anchors()) return x;
  return index_select(x, 0, Tensor::from_vector(L.anchor_row_indices(), {L.anchor_rows()}, x.device()));
}

Tensor row_labels(const Tensor& labels, const ViewLayout& L, const char* where) {
  CONTRA_CHECK_HINT(labels.defined(), where, "pass labels (one per image)", "this loss needs labels");
  CONTRA_CHECK(labels.dim() == 1 && (labels.size(0) == L.N || labels.size(0) == L.M()), where,
               "labels must have shape (N,) = (", L.N, ",) or (M,) = (", L.M(), ",), got ", shape_str(labels.shape()));
  std::vector<std::int64_t> y;
  if (labels.dtype() == DType::i64) {
    y = labels.to_vector<std::int64_t>();
  } else {
    for (double v : labels.to_vector<double>()) {
      CONTRA_CHECK(v == static_cast<double>(static_cast<std::int64_t>(v)), where, "label ", v, " is not an integer");
      y.push_back(static_cast<std::int64_t>(v));
    }
  }
  for (auto v : y) CONTRA_CHECK(v >= 0, where, "labels must be ≥ 0, got ", v);
  std::vector<std::int64_t> rows(static_cast<size_t>(L.M()));
  for (std::int64_t r = 0; r < L.M(); ++r) {
    if (static_cast<std::int64_t>(y.size()) == L.N) {
      rows[r] = y[L.image(r)];
    } else {
      rows[r] = y[r];
      CONTRA_CHECK(y[r] == y[L.image(r)], where, "row ", r, " (image ", L.image(r), ", view ", L.view(r),
                   ") has label ", y[r], " but view 0 of the same image has label ", y[L.image(r)]);
    }
  }
  return Tensor::from_vector(rows, {L.M()});
}

}  // namespace contra::contrastive
