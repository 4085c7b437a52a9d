// reference_kernels.h — naive CPU kernels, the ground truth for every fast path.
//
// One element at a time, in row-major order, single-threaded, offsets recomputed from the
// multi-index, sums accumulated in double. Templated on float and double. The fast kernels
// (the OpenMP fast paths in cpu_backend.cpp, OpenBLAS, oneDNN) must agree with these in parity tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/backend.h"
#include "tensor/cpu/elementwise_math.h"

namespace contra::cpu::reference {

// Element offset of linear index `i` (row-major over `shape`) with `strides` and `offset`.
inline std::int64_t offset_at(std::int64_t i, const Shape& shape, const Strides& strides, std::int64_t offset) {
  std::int64_t off = offset;
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

template <typename T>
T* base(const Tensor& t) { return static_cast<T*>(t.storage()->data()); }

template <typename T>
void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) {
  with_unary<T>(op, p, [&](auto fn) {
    for (std::int64_t i = 0, n = out.numel(); i < n; ++i)
      base<T>(out)[offset_at(i, out.shape(), out.strides(), out.offset())] =
          fn(base<T>(x)[offset_at(i, x.shape(), x.strides(), x.offset())]);
  });
}

template <typename T>
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Strides sa = broadcast_strides(a.shape(), a.strides(), out.shape());
  const Strides sb = broadcast_strides(b.shape(), b.strides(), out.shape());
  with_binary<T>(op, [&](auto fn) {
    for (std::int64_t i = 0, n = out.numel(); i < n; ++i) {
      const T x = base<T>(a)[offset_at(i, out.shape(), sa, a.offset())];
      const T y = base<T>(b)[offset_at(i, out.shape(), sb, b.offset())];
      base<T>(out)[offset_at(i, out.shape(), out.strides(), out.offset())] = fn(x, y);
    }
  });
}

template <typename T>
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Strides sc = broadcast_strides(cond.shape(), cond.strides(), out.shape());
  const Strides sa = broadcast_strides(a.shape(), a.strides(), out.shape());
  const Strides sb = broadcast_strides(b.shape(), b.strides(), out.shape());
  for (std::int64_t i = 0, n = out.numel(); i < n; ++i) {
    const bool c = base<T>(cond)[offset_at(i, out.shape(), sc, cond.offset())] != T(0);
    base<T>(out)[offset_at(i, out.shape(), out.strides(), out.offset())] =
        c ? base<T>(a)[offset_at(i, out.shape(), sa, a.offset())]
          : base<T>(b)[offset_at(i, out.shape(), sb, b.offset())];
  }
}

// out (keepdim shape) = reduction of x over the axes where out has size 1.
template <typename T>
void reduce(ReduceOp op, const Tensor& x, const Tensor& out) {
  const std::int64_t n_out = out.numel();
  std::vector<double> acc(static_cast<size_t>(n_out),
                          op == ReduceOp::sum ? 0.0
                          : op == ReduceOp::max ? -std::numeric_limits<double>::infinity()
                                                : std::numeric_limits<double>::infinity());
  // Walk x; find the output slot by zeroing reduced coordinates.
  const Strides out_contig = contiguous_strides(out.shape());
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
    std::int64_t rem = i, slot = 0;
    for (std::int64_t d = x.dim() - 1; d >= 0; --d) {
      const std::int64_t c = rem % x.shape()[d];
      rem /= x.shape()[d];
      if (out.shape()[d] != 1) slot += c * out_contig[d];
    }
    const double v = base<T>(x)[offset_at(i, x.shape(), x.strides(), x.offset())];
    double& a = acc[static_cast<size_t>(slot)];
    if (op == ReduceOp::sum) a += v;
    else if (op == ReduceOp::max) a = (v > a || std::isnan(v)) ? v : a;
    else a = (v < a || std::isnan(v)) ? v : a;
  }
  for (std::int64_t o = 0; o < n_out; ++o)
    base<T>(out)[offset_at(o, out.shape(), out.strides(), out.offset())] = static_cast<T>(acc[o]);
}

// out[b] = alpha · a[b] · b[b] + beta · out[b]; all rank 3.
template <typename T>
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  const std::int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  for (std::int64_t bi = 0; bi < B; ++bi)
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        double s = 0.0;
        for (std::int64_t k = 0; k < K; ++k)
          s += static_cast<double>(base<T>(a)[a.offset() + bi * a.stride(0) + i * a.stride(1) + k * a.stride(2)]) *
               static_cast<double>(base<T>(b)[b.offset() + bi * b.stride(0) + k * b.stride(1) + j * b.stride(2)]);
        T& o = base<T>(out)[out.offset() + bi * out.stride(0) + i * out.stride(1) + j * out.stride(2)];
        o = static_cast<T>(alpha * s + (beta == 0.0 ? 0.0 : beta * static_cast<double>(o)));
      }
}

// Row-wise softmax over the last axis: y = exp(x − max) / Σ exp(x − max);
// log-softmax: y = x − max − log Σ exp(x − max).
template <typename T>
void softmax(const Tensor& x, const Tensor& out, bool log) {
  const std::int64_t L = x.dim() == 0 ? 1 : x.shape().back();
  const std::int64_t rows = L == 0 ? 0 : x.numel() / L;
  for (std::int64_t r = 0; r < rows; ++r) {
    auto xo = [&](std::int64_t j) { return base<T>(x)[offset_at(r * L + j, x.shape(), x.strides(), x.offset())]; };
    auto yo = [&](std::int64_t j) -> T& { return base<T>(out)[offset_at(r * L + j, out.shape(), out.strides(), out.offset())]; };
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < L; ++j) m = std::max(m, static_cast<double>(xo(j)));
    double s = 0.0;
    for (std::int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(xo(j)) - m);
    for (std::int64_t j = 0; j < L; ++j)
      yo(j) = static_cast<T>(log ? static_cast<double>(xo(j)) - m - std::log(s)
                                 : std::exp(static_cast<double>(xo(j)) - m) / s);
  }
}

}  // namespace contra::cpu::reference
