// ops.h — the differentiable operations (the public math API of the engine).
//
// Every function computes its forward through the tensor's Backend and, when grad mode is
// on and an input requires a gradient, records a node whose backward is written next to
// the forward in ops/*.cpp. Binary ops broadcast (NumPy rules) and promote f32 + f64 to
// f64. Axes may be negative. Shapes below: x (...), a/b broadcastable.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace contra {

// ---- elementwise (ops/elementwise.cpp) -------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // ties send the gradient half/half
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);       // a^b, a > 0 where b is not an integer
Tensor pow(const Tensor& x, double p);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);   // gradient sign(x), 0 at 0
Tensor square(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient passes where lo ≤ x ≤ hi
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor scale(const Tensor& x, double alpha);          // alpha · x
Tensor add_scalar(const Tensor& x, double c);         // x + c
// Comparisons (not differentiable): 1 where true, 0 elsewhere, in the promoted dtype.
Tensor compare(const Tensor& a, const Tensor& b, BinaryOp op);
// cond ≠ 0 ? a : b (broadcasting); gradients flow to the chosen side.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask ≠ 0.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// Differentiable dtype conversion (the gradient is converted back).
Tensor cast(const Tensor& x, DType dtype);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double c);
Tensor operator-(const Tensor& a, double c);
Tensor operator*(const Tensor& a, double c);
Tensor operator/(const Tensor& a, double c);
Tensor operator+(double c, const Tensor& a);
Tensor operator-(double c, const Tensor& a);
Tensor operator*(double c, const Tensor& a);
Tensor operator/(double c, const Tensor& a);

// ---- reductions (ops/reduction.cpp) ----------------------------------------------------
// `axes` empty means all axes. keepdim keeps reduced axes with size 1.
Tensor sum(const Tensor& x, std::vector<std::int64_t> axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<std::int64_t> axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, std::vector<std::int64_t> axes = {}, bool keepdim = false);  // ties share the gradient
Tensor min(const Tensor& x, std::vector<std::int64_t> axes = {}, bool keepdim = false);
// log Σ exp(x) over axes, computed as m + log Σ exp(x − m), m = max.
Tensor logsumexp(const Tensor& x, std::vector<std::int64_t> axes = {}, bool keepdim = false);
// Sums a broadcast gradient back to `shape` (the adjoint of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra (ops/linalg.cpp) ---------------------------------------------------
// a (M, K) · b (K, N) → (M, N); batched: (..., M, K) · (..., K, N) with broadcast batch axes.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- shapes and indexing (ops/shape.cpp) -----------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // copies only when a view is impossible
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
Tensor squeeze(const Tensor& x, std::int64_t dim);
Tensor expand(const Tensor& x, const Shape& shape);
// x[start:end:step] along `dim` (a view). end is clipped to the size.
Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor cat(const std::vector<Tensor>& xs, std::int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, std::int64_t dim);
// index: i64, 1-d. out.shape[dim] = index.numel().
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
// index: i64 with x's rank; out[i][j] = x[i][index[i][j]] along dim.
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);
Tensor contiguous(const Tensor& x);

// ---- activations and losses (ops/nn_functional.cpp) ------------------------------------
Tensor softmax(const Tensor& x, std::int64_t dim = -1);
Tensor log_softmax(const Tensor& x, std::int64_t dim = -1);
// logits (N, C), target i64 (N,), optional weight (C,). Mean reduction as PyTorch:
// Σ_i w_{y_i} · (−log softmax(x_i)_{y_i}) / Σ_i w_{y_i}.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor());
// Rows scaled to unit L2 norm along `dim`: z = x / max(‖x‖, eps).
Tensor l2_normalize(const Tensor& x, std::int64_t dim = -1, double eps = 1e-12);

}  // namespace contra
