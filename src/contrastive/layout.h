// layout.h — the view-major batch layout and the positive/negative index sets (docs/derivation.md §0, §5c).
//
// A batch holds N images, each seen in V views: M = N·V rows of embeddings, view-major:
//
//     rows [0, N)      view 0 of images 0..N−1
//     rows [N, 2N)     view 1 of images 0..N−1      ...
//     row r  =  image (r mod N), view (r div N);     row(x, v) = v·N + x
//
// For an anchor row i (docs/derivation.md §5c):
//     P(i) = { r ≠ i : image(r) = image(i) }     the other V−1 views of the same image
//     N(i) = { r : image(r) ≠ image(i) }          every view of every other image (M − V rows)
// SimCLR is V = 2, where P(i) = {(i + N) mod M}.
//
// Anchors (data parallelism, src/dist/gathered_loss.h): a process may compute the losses ℓ_i
// of only some anchors against all M keys. The anchors are the rows of the images
// [anchor_first, anchor_first + anchor_images), in every view, in view-major order:
//     anchor a ∈ [0, m),  m = V·n_A:   row  anchor_row(a) = row(anchor_first + a mod n_A, a div n_A)
// which is the order of the process's own embeddings (its images, view-major). The masks
// below and the per-anchor losses then have m rows and M columns. By default every image is
// an anchor (n_A = N, anchor_row(a) = a) and the masks are (M, M).
//
// Dimension letters: N images, V views per image, M = N·V rows, D embedding width.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace contra::contrastive {

struct ViewLayout {
  std::int64_t N = 0;  // images
  std::int64_t V = 0;  // views per image
  std::int64_t anchor_first = 0;    // first anchor image
  std::int64_t anchor_images = -1;  // n_A anchor images; −1: all N

  std::int64_t M() const { return N * V; }
  std::int64_t n_anchor_images() const { return anchor_images < 0 ? N : anchor_images; }
  std::int64_t anchor_rows() const { return V * n_anchor_images(); }  // m
  std::int64_t anchor_row(std::int64_t a) const {
    return row(anchor_first + a % n_anchor_images(), a / n_anchor_images());
  }
  std::vector<std::int64_t> anchor_row_indices() const;  // [anchor_row(a) for a in [0, m)]
  bool all_anchors() const { return anchor_first == 0 && n_anchor_images() == N; }
  // The same keys with the anchors restricted to images [first, first + count).
  // Rule: 0 ≤ first, 1 ≤ count, first + count ≤ N (error naming `where` otherwise).
  ViewLayout with_anchor_images(std::int64_t first, std::int64_t count, const char* where) const;
  std::int64_t image(std::int64_t r) const { return r % N; }
  std::int64_t view(std::int64_t r) const { return r / N; }
  std::int64_t row(std::int64_t image, std::int64_t view) const { return view * N + image; }
  bool same_image(std::int64_t r, std::int64_t k) const { return r % N == k % N; }

  // P(r): the other views of r's image, in view order (|P| = V − 1).
  std::vector<std::int64_t> positives(std::int64_t r) const;
  // N(r): all rows of other images, ascending (|N| = M − V).
  std::vector<std::int64_t> negatives(std::int64_t r) const;

  // The layout of M rows in V views. Rules: V ≥ 1, M ≥ 1, M divisible by V
  // (error naming `where`, M and V otherwise).
  static ViewLayout for_rows(std::int64_t M, std::int64_t V, const char* where);
};

// Rule for every unsupervised loss: at least `min_views` views (2: a positive exists) and
// N ≥ 2 images (N = 1 leaves N(i) empty: "no negatives"). Throws a clear error otherwise.
void require_contrastive_batch(const ViewLayout& layout, std::int64_t min_views, const char* where);

// Masks as (m, M) tensors of `dtype` (1 inside the set, 0 outside), row a for anchor row
// i = anchor_row(a) ((M, M) by default); the diagonal k = i is 0 in both.
Tensor positive_mask(const ViewLayout& layout, DType dtype);  // 1[k ∈ P(i)]
Tensor negative_mask(const ViewLayout& layout, DType dtype);  // 1[k ∈ N(i)]
Tensor self_mask(const ViewLayout& layout, DType dtype);      // 1[k = i]

// The anchors' rows of a per-row tensor x (M, ...) → (m, ...): x itself when every row is an
// anchor, otherwise an index_select (differentiable).
Tensor anchor_rows_of(const Tensor& x, const ViewLayout& layout);

// Labels per row, i64 (M,). Accepts labels per image (N,) — repeated over the views — or
// per row (M,), in which case every view of an image must carry the same label.
// Labels must be ≥ 0.
Tensor row_labels(const Tensor& labels, const ViewLayout& layout, const char* where);

}  // namespace contra::contrastive
