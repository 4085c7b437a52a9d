#include "tensor/cpu/cpu_backend.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "tensor/cpu/blas_kernel.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/cpu/elementwise_math.h"
#include "tensor/cpu/reference_kernels.h"
#include "tensor/cpu/strided_loop.h"

namespace contra::cpu {

namespace {

template <typename T>
T* base(const Tensor& t) { return static_cast<T*>(t.storage()->data()); }

bool parallel_worthwhile(std::int64_t work) { return work >= kParallelGrain && omp_get_max_threads() > 1; }

// Runs body(row, offsets) for every row of the loop, in parallel when large.
template <int N, typename Body>
void for_rows(const StridedLoop<N>& L, Body&& body) {
  const std::int64_t rows = L.rows();
  const bool par = parallel_worthwhile(rows * L.inner());
#pragma omp parallel for schedule(static) if (par)
  for (std::int64_t r = 0; r < rows; ++r) body(L.row_offsets(r));
}

template <typename T>
void unary_fast(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) {
  auto L = make_loop<2>(out.shape(), {out.strides(), x.strides()}, {out.offset(), x.offset()});
  T* po = base<T>(out);
  const T* px = base<T>(x);
  const std::int64_t n = L.inner(), so = L.inner_stride(0), sx = L.inner_stride(1);
  with_unary<T>(op, p, [&](auto fn) {
    for_rows(L, [&](const std::array<std::int64_t, 2>& off) {
      T* o = po + off[0];
      const T* a = px + off[1];
      if (so == 1 && sx == 1) {
        for (std::int64_t i = 0; i < n; ++i) o[i] = fn(a[i]);
      } else {
        for (std::int64_t i = 0; i < n; ++i) o[i * so] = fn(a[i * sx]);
      }
    });
  });
}

template <typename T>
void binary_fast(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  auto L = make_loop<3>(out.shape(),
                        {out.strides(), broadcast_strides(a.shape(), a.strides(), out.shape()),
                         broadcast_strides(b.shape(), b.strides(), out.shape())},
                        {out.offset(), a.offset(), b.offset()});
  T* po = base<T>(out);
  const T* pa = base<T>(a);
  const T* pb = base<T>(b);
  const std::int64_t n = L.inner(), so = L.inner_stride(0), sa = L.inner_stride(1), sb = L.inner_stride(2);
  with_binary<T>(op, [&](auto fn) {
    for_rows(L, [&](const std::array<std::int64_t, 3>& off) {
      T* o = po + off[0];
      const T* x = pa + off[1];
      const T* y = pb + off[2];
      if (so == 1 && sa == 1 && sb == 1) {
        for (std::int64_t i = 0; i < n; ++i) o[i] = fn(x[i], y[i]);
      } else if (so == 1 && sa == 1 && sb == 0) {
        const T yv = *y;
        for (std::int64_t i = 0; i < n; ++i) o[i] = fn(x[i], yv);
      } else if (so == 1 && sa == 0 && sb == 1) {
        const T xv = *x;
        for (std::int64_t i = 0; i < n; ++i) o[i] = fn(xv, y[i]);
      } else {
        for (std::int64_t i = 0; i < n; ++i) o[i * so] = fn(x[i * sa], y[i * sb]);
      }
    });
  });
}

template <typename T>
void where_fast(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  auto L = make_loop<4>(out.shape(),
                        {out.strides(), broadcast_strides(cond.shape(), cond.strides(), out.shape()),
                         broadcast_strides(a.shape(), a.strides(), out.shape()),
                         broadcast_strides(b.shape(), b.strides(), out.shape())},
                        {out.offset(), cond.offset(), a.offset(), b.offset()});
  T* po = base<T>(out);
  const T* pc = base<T>(cond);
  const T* pa = base<T>(a);
  const T* pb = base<T>(b);
  const std::int64_t n = L.inner();
  const std::int64_t s0 = L.inner_stride(0), s1 = L.inner_stride(1), s2 = L.inner_stride(2), s3 = L.inner_stride(3);
  for_rows(L, [&](const std::array<std::int64_t, 4>& off) {
    for (std::int64_t i = 0; i < n; ++i)
      po[off[0] + i * s0] = pc[off[1] + i * s1] != T(0) ? pa[off[2] + i * s2] : pb[off[3] + i * s3];
  });
}

// Reduction: x's axes are split into kept (out size ≠ 1 or x size 1) and reduced ones.
template <typename T>
void reduce_fast(ReduceOp op, const Tensor& x, const Tensor& out) {
  Shape kept_shape, red_shape;
  Strides kept_x, kept_out, red_x;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (out.shape()[d] == x.shape()[d]) {
      kept_shape.push_back(x.shape()[d]);
      kept_x.push_back(x.strides()[d]);
      kept_out.push_back(out.strides()[d]);
    } else {
      red_shape.push_back(x.shape()[d]);
      red_x.push_back(x.strides()[d]);
    }
  }
  const auto K = make_loop<2>(kept_shape, {kept_out, kept_x}, {out.offset(), x.offset()});
  const auto R = make_loop<1>(red_shape, {red_x}, {0});
  const std::int64_t n_out = shape_numel(kept_shape), r_rows = R.rows(), r_inner = R.inner();
  const std::int64_t r_stride = R.inner_stride(0);
  const T* px = base<T>(x);
  T* po = base<T>(out);
  const double init = op == ReduceOp::sum   ? 0.0
                      : op == ReduceOp::max ? -std::numeric_limits<double>::infinity()
                                            : std::numeric_limits<double>::infinity();

  // Reduction of one output slot starting at x offset `xo`, over reduced rows [r0, r1).
  auto reduce_slot = [&](std::int64_t xo, std::int64_t r0, std::int64_t r1) {
    if (op == ReduceOp::sum) {
      double s = 0.0;
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* p = px + xo + R.row_offsets(r)[0];
        if (r_stride == 1) {
          for (std::int64_t i = 0; i < r_inner; ++i) s += static_cast<double>(p[i]);
        } else {
          for (std::int64_t i = 0; i < r_inner; ++i) s += static_cast<double>(p[i * r_stride]);
        }
      }
      return s;
    }
    double m = init;
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* p = px + xo + R.row_offsets(r)[0];
      for (std::int64_t i = 0; i < r_inner; ++i) {
        const double v = p[i * r_stride];
        if (op == ReduceOp::max ? (v > m || std::isnan(v)) : (v < m || std::isnan(v))) m = v;
      }
    }
    return m;
  };

  const std::int64_t k_inner = K.inner(), k_rows = K.rows();
  const std::int64_t ko = K.inner_stride(0), kx = K.inner_stride(1);
  if (n_out == 1 && parallel_worthwhile(x.numel())) {
    // One output (a full reduction): split the reduced rows over threads.
    const int nt = omp_get_max_threads();
    std::vector<double> partial(static_cast<size_t>(nt), init);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const std::int64_t r0 = r_rows * t / nt, r1 = r_rows * (t + 1) / nt;
      partial[t] = reduce_slot(x.offset(), r0, r1);
    }
    double acc = init;
    for (double v : partial) {
      if (op == ReduceOp::sum) acc += v;
      else if (op == ReduceOp::max) acc = (v > acc || std::isnan(v)) ? v : acc;
      else acc = (v < acc || std::isnan(v)) ? v : acc;
    }
    po[out.offset()] = static_cast<T>(acc);
    return;
  }
  const bool par = parallel_worthwhile(x.numel()) && n_out >= 2;
#pragma omp parallel for schedule(static) if (par)
  for (std::int64_t kr = 0; kr < k_rows; ++kr) {
    const auto off = K.row_offsets(kr);
    for (std::int64_t i = 0; i < k_inner; ++i)
      po[off[0] + i * ko] = static_cast<T>(reduce_slot(off[1] + i * kx, 0, r_rows));
  }
}

// How to hand a (rows × cols) strided matrix to BLAS: row-major (NoTrans) with leading
// dimension ld, or as the transpose of a row-major matrix. Returns false when neither fits.
bool blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t srow, std::int64_t scol,
                 CBLAS_TRANSPOSE& trans, std::int64_t& ld) {
  if (cols == 1 || scol == 1) {
    ld = rows == 1 ? std::max<std::int64_t>(cols, 1) : srow;
    if (ld >= std::max<std::int64_t>(cols, 1)) { trans = CblasNoTrans; return true; }
  }
  if (rows == 1 || srow == 1) {
    ld = cols == 1 ? std::max<std::int64_t>(rows, 1) : scol;
    if (ld >= std::max<std::int64_t>(rows, 1)) { trans = CblasTrans; return true; }
  }
  return false;
}

template <typename T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, double beta, T* c, std::int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    // Float GEMMs go to OpenBLAS unless its loaded core is a fallback far below the CPU
    // (blas_kernel.h explains the measurement behind this choice).
    if (blas_choice().sgemm == GemmLibrary::onednn) {
      const dnnl_status_t st = dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', M, N, K,
                                          static_cast<float>(alpha), a, lda, b, ldb, static_cast<float>(beta), c, ldc);
      CONTRA_CHECK(st == dnnl_success, "matmul", "oneDNN sgemm failed with status ", static_cast<int>(st));
    } else {
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, static_cast<float>(alpha), a, lda, b, ldb, static_cast<float>(beta),
                  c, ldc);
    }
  } else
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void matmul_fast(const Tensor& a_in, const Tensor& b_in, const Tensor& out, double alpha, double beta) {
  const std::int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a_in.size(2);
  if (M == 0 || N == 0) return;
  Tensor a = a_in, b = b_in;
  CBLAS_TRANSPOSE ta = CblasNoTrans, tb = CblasNoTrans;
  std::int64_t lda = 0, ldb = 0;
  if (!blas_layout(M, K, a.stride(1), a.stride(2), ta, lda)) {
    a = a.contiguous();
    blas_layout(M, K, a.stride(1), a.stride(2), ta, lda);
  }
  if (!blas_layout(K, N, b.stride(1), b.stride(2), tb, ldb)) {
    b = b.contiguous();
    blas_layout(K, N, b.stride(1), b.stride(2), tb, ldb);
  }
  T* pc = out.data<T>();
  for (std::int64_t bi = 0; bi < B; ++bi) {
    T* c = pc + bi * out.stride(0);
    if (K == 0) {
      for (std::int64_t i = 0; i < M * N; ++i) c[i] = beta == 0.0 ? T(0) : static_cast<T>(beta * c[i]);
      continue;
    }
    gemm<T>(ta, tb, M, N, K, alpha, a.data<T>() + bi * a.stride(0), lda, b.data<T>() + bi * b.stride(0), ldb, beta, c, N);
  }
}

template <typename T>
void softmax_fast(const Tensor& x_in, const Tensor& out, bool log) {
  const Tensor x = x_in.contiguous();
  const std::int64_t L = x.dim() == 0 ? 1 : x.shape().back();
  const std::int64_t rows = L == 0 ? 0 : x.numel() / L;
  const T* px = x.data<T>();
  T* py = out.data<T>();
#pragma omp parallel for schedule(static) if (parallel_worthwhile(x.numel()))
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = px + r * L;
    T* yr = py + r * L;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t j = 0; j < L; ++j) m = std::max(m, xr[j]);
    double s = 0.0;
    for (std::int64_t j = 0; j < L; ++j) s += std::exp(static_cast<double>(xr[j] - m));
    if (log) {
      const T lse = static_cast<T>(std::log(s));
      for (std::int64_t j = 0; j < L; ++j) yr[j] = xr[j] - m - lse;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t j = 0; j < L; ++j) yr[j] = std::exp(xr[j] - m) * inv;
    }
  }
}

template <typename D, typename S>
void copy_loop(const Tensor& src, const Tensor& dst) {
  auto L = make_loop<2>(dst.shape(), {dst.strides(), broadcast_strides(src.shape(), src.strides(), dst.shape())},
                        {dst.offset(), src.offset()});
  D* pd = base<D>(dst);
  const S* ps = base<S>(src);
  const std::int64_t n = L.inner(), sd = L.inner_stride(0), ss = L.inner_stride(1);
  for_rows(L, [&](const std::array<std::int64_t, 2>& off) {
    for (std::int64_t i = 0; i < n; ++i) pd[off[0] + i * sd] = static_cast<D>(ps[off[1] + i * ss]);
  });
}

void check_index(std::int64_t v, std::int64_t size, const char* op, int dim) {
  CONTRA_CHECK(v >= 0 && v < size, op, "index ", v, " is out of range for axis ", dim, " of size ", size);
}

}  // namespace

// ---- memory ------------------------------------------------------------------------------

void* CpuBackend::allocate(std::size_t nbytes) { return cached_allocate(nbytes); }

void CpuBackend::deallocate(void* p) { cached_free(p); }

// ---- copy and fill -----------------------------------------------------------------------

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  if (src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()));
    return;
  }
  dispatch_all(dst.dtype(), [&](auto d) {
    dispatch_all(src.dtype(), [&](auto s) { copy_loop<decltype(d), decltype(s)>(src, dst); });
  });
}

void CpuBackend::fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), [&](auto v) {
    using T = decltype(v);
    const T x = static_cast<T>(value);
    auto L = make_loop<1>(dst.shape(), {dst.strides()}, {dst.offset()});
    T* p = base<T>(dst);
    const std::int64_t n = L.inner(), s = L.inner_stride(0);
    for_rows(L, [&](const std::array<std::int64_t, 1>& off) {
      for (std::int64_t i = 0; i < n; ++i) p[off[0] + i * s] = x;
    });
  });
}

// Host and CPU memory are the same memory: both transfers are one memcpy.
void CpuBackend::copy_from_host(const void* host_src, const Tensor& dst) {
  CONTRA_CHECK(dst.is_contiguous(), "CpuBackend::copy_from_host", "dst must be contiguous");
  std::memcpy(dst.raw_data(), host_src, static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()));
}

void CpuBackend::copy_to_host(const Tensor& src, void* host_dst) {
  CONTRA_CHECK(src.is_contiguous(), "CpuBackend::copy_to_host", "src must be contiguous");
  std::memcpy(host_dst, src.raw_data(), static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype()));
}

// ---- elementwise and reductions ----------------------------------------------------------

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) {
  dispatch_floating(x.dtype(), unary_name(op), [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::unary<T>(op, x, out, p);
    else unary_fast<T>(op, x, out, p);
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_floating(out.dtype(), binary_name(op), [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::binary<T>(op, a, b, out);
    else binary_fast<T>(op, a, b, out);
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_floating(out.dtype(), "where", [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::where<T>(cond, a, b, out);
    else where_fast<T>(cond, a, b, out);
  });
}

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const Tensor& out) {
  dispatch_floating(x.dtype(), "reduce", [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::reduce<T>(op, x, out);
    else reduce_fast<T>(op, x, out);
  });
}

// Σ over xs of #{non-finite elements}: contiguous tensors (parameters, gradients) in
// parallel chunks, others row by row; one integer comes back.
std::int64_t CpuBackend::count_non_finite(const std::vector<Tensor>& xs) {
  std::int64_t count = 0;
  for (const Tensor& x : xs) {
    if (!x.defined() || !is_floating(x.dtype())) continue;
    dispatch_floating(x.dtype(), "count_non_finite", [&](auto v) {
      using T = decltype(v);
      const T* p = base<T>(x);
      if (x.is_contiguous()) {
        const T* q = p + x.offset();
        const std::int64_t n = x.numel();
        std::int64_t c = 0;
#pragma omp parallel for schedule(static) reduction(+ : c) if (parallel_worthwhile(n))
        for (std::int64_t i = 0; i < n; ++i) c += !std::isfinite(q[i]);
        count += c;
        return;
      }
      auto L = make_loop<1>(x.shape(), {x.strides()}, {x.offset()});
      const std::int64_t n = L.inner(), s = L.inner_stride(0);
      for (std::int64_t r = 0; r < L.rows(); ++r) {
        const std::int64_t off = L.row_offsets(r)[0];
        for (std::int64_t i = 0; i < n; ++i) count += !std::isfinite(p[off + i * s]);
      }
    });
  }
  return count;
}

void CpuBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  dispatch_floating(out.dtype(), "matmul", [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::matmul<T>(a, b, out, alpha, beta);
    else matmul_fast<T>(a, b, out, alpha, beta);
  });
}

void CpuBackend::softmax(const Tensor& x, const Tensor& out, bool log) {
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&](auto v) {
    using T = decltype(v);
    if (reference_kernels()) reference::softmax<T>(x, out, log);
    else softmax_fast<T>(x, out, log);
  });
}

// ---- indexing (simple loops; one implementation serves as both reference and fast) ------

void CpuBackend::index_select(const Tensor& x_in, int dim, const Tensor& index_in, const Tensor& out) {
  const Tensor x = x_in.contiguous(), index = index_in.contiguous();
  const std::int64_t outer = shape_numel(Shape(x.shape().begin(), x.shape().begin() + dim));
  const std::int64_t size = x.shape()[dim];
  const std::int64_t inner = shape_numel(Shape(x.shape().begin() + dim + 1, x.shape().end()));
  const std::int64_t n = index.numel(), es = static_cast<std::int64_t>(dtype_size(x.dtype()));
  const std::int64_t* idx = index.data<std::int64_t>();
  for (std::int64_t j = 0; j < n; ++j) check_index(idx[j], size, "index_select", dim);
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < n; ++j)
      std::memcpy(po + ((o * n + j) * inner) * es, px + ((o * size + idx[j]) * inner) * es,
                  static_cast<std::size_t>(inner * es));
}

void CpuBackend::index_add(const Tensor& out, int dim, const Tensor& index_in, const Tensor& src_in) {
  CONTRA_ASSERT(out.is_contiguous());
  const Tensor src = src_in.contiguous(), index = index_in.contiguous();
  const std::int64_t outer = shape_numel(Shape(out.shape().begin(), out.shape().begin() + dim));
  const std::int64_t size = out.shape()[dim];
  const std::int64_t inner = shape_numel(Shape(out.shape().begin() + dim + 1, out.shape().end()));
  const std::int64_t n = index.numel();
  const std::int64_t* idx = index.data<std::int64_t>();
  for (std::int64_t j = 0; j < n; ++j) check_index(idx[j], size, "index_add", dim);
  dispatch_floating(out.dtype(), "index_add", [&](auto v) {
    using T = decltype(v);
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t j = 0; j < n; ++j) {
        T* dst = po + (o * size + idx[j]) * inner;
        const T* s = ps + (o * n + j) * inner;
        for (std::int64_t i = 0; i < inner; ++i) dst[i] += s[i];
      }
  });
  out.bump_version();
}

void CpuBackend::gather(const Tensor& x, int dim, const Tensor& index_in, const Tensor& out) {
  const Tensor index = index_in.contiguous();
  const std::int64_t* idx = index.data<std::int64_t>();
  dispatch_all(x.dtype(), [&](auto v) {
    using T = decltype(v);
    const T* px = base<T>(x);
    T* po = base<T>(out);
    for (std::int64_t i = 0, n = index.numel(); i < n; ++i) {
      std::int64_t rem = i, xo = x.offset(), oo = out.offset();
      for (std::int64_t d = index.dim() - 1; d >= 0; --d) {
        const std::int64_t c = rem % index.shape()[d];
        rem /= index.shape()[d];
        oo += c * out.strides()[d];
        if (d == dim) {
          check_index(idx[i], x.shape()[d], "gather", dim);
          xo += idx[i] * x.strides()[d];
        } else {
          xo += c * x.strides()[d];
        }
      }
      po[oo] = px[xo];
    }
  });
}

void CpuBackend::scatter_add(const Tensor& out, int dim, const Tensor& index_in, const Tensor& src) {
  const Tensor index = index_in.contiguous();
  const std::int64_t* idx = index.data<std::int64_t>();
  dispatch_floating(out.dtype(), "scatter_add", [&](auto v) {
    using T = decltype(v);
    const T* ps = base<T>(src);
    T* po = base<T>(out);
    for (std::int64_t i = 0, n = index.numel(); i < n; ++i) {
      std::int64_t rem = i, so = src.offset(), oo = out.offset();
      for (std::int64_t d = index.dim() - 1; d >= 0; --d) {
        const std::int64_t c = rem % index.shape()[d];
        rem /= index.shape()[d];
        so += c * src.strides()[d];
        if (d == dim) {
          check_index(idx[i], out.shape()[d], "scatter_add", dim);
          oo += idx[i] * out.strides()[d];
        } else {
          oo += c * out.strides()[d];
        }
      }
      po[oo] += ps[so];
    }
  });
  out.bump_version();
}

CpuBackend& cpu_backend() {
  static CpuBackend be;
  return be;
}

}  // namespace contra::cpu
