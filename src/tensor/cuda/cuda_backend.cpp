// cuda_backend.cpp — CudaBackend: memory, copies, the glue from Tensors to the kernels of
// cuda_kernels.h, and cuBLAS GEMMs. Convolutions are in cudnn_conv.cpp.
//
// A Tensor becomes a Walk (cuda_kernels.h): its shape and every operand's element strides
// (0 on broadcast axes) with axes coalesced where all operands are contiguous across them,
// so the common contiguous case is a single axis and the kernel takes its flat path.
#include "tensor/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"

namespace contra::cuda {
namespace {

Dt dt(DType t) { return static_cast<Dt>(static_cast<int>(t)); }

// The walk over `shape` of K operands with the given strides and offsets: size-1 axes dropped,
// neighbouring axes merged where every operand steps across them contiguously.
Walk make_walk(const Shape& shape, const std::vector<Strides>& strides, const std::vector<std::int64_t>& offsets,
               const char* op) {
  const int K = static_cast<int>(strides.size());
  std::vector<std::int64_t> size;
  std::vector<std::vector<std::int64_t>> st(K);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    size.push_back(shape[d]);
    for (int k = 0; k < K; ++k) st[k].push_back(strides[k][d]);
  }
  // Merge from the innermost axis outwards: axis d joins d+1 when stride[d] = stride[d+1]·size[d+1].
  std::vector<std::int64_t> msize;
  std::vector<std::vector<std::int64_t>> mst(K);
  for (int d = static_cast<int>(size.size()) - 1; d >= 0; --d) {
    bool merge = !msize.empty();
    for (int k = 0; k < K && merge; ++k) merge = st[k][d] == mst[k].back() * msize.back();
    if (merge) {
      msize.back() *= size[d];
    } else {
      msize.push_back(size[d]);
      for (int k = 0; k < K; ++k) mst[k].push_back(st[k][d]);
    }
  }
  Walk w;
  w.numel = shape_numel(shape);
  CONTRA_CHECK(msize.size() <= static_cast<size_t>(kMaxDims), op, "the CUDA backend walks at most ", kMaxDims,
               " non-contiguous axes, got ", msize.size(), " for shape ", shape_str(shape));
  w.ndim = static_cast<int>(msize.size());
  for (int d = 0; d < w.ndim; ++d) {
    const int src = w.ndim - 1 - d;  // msize is innermost-first
    w.size[d] = msize[src];
    for (int k = 0; k < K; ++k) w.stride[k][d] = mst[k][src];
  }
  for (int k = 0; k < K; ++k) w.offset[k] = offsets[k];
  return w;
}

bool tf32_default() {
#ifdef CONTRA_CUDA_TF32_DEFAULT
  bool on = CONTRA_CUDA_TF32_DEFAULT;
#else
  bool on = false;
#endif
  if (const char* e = std::getenv("CONTRA_CUDA_TF32")) on = std::string(e) == "1";
  return on;
}

void check_same_device(const Tensor& t, Device d, const char* op) {
  CONTRA_CHECK(t.device() == d, op, "a tensor on ", t.device().str(), " was passed to the ", d.str(),
               " backend; move it with .to(", d.str(), ") first");
}

}  // namespace

CudaBackend::CudaBackend(int index) : index_(index), tf32_(tf32_default()), allocator_(index) {
  activate();
  CONTRA_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CONTRA_CUDA(cublasCreate(&cublas_));
  CONTRA_CUDA(cublasSetStream(cublas_, stream_));
  CONTRA_CUDA(cublasSetMathMode(cublas_, tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  CONTRA_CUDA(cudnnCreate(&cudnn_));
  CONTRA_CUDA(cudnnSetStream(cudnn_, stream_));
  CONTRA_CUDA(cudaMalloc(&counter_, sizeof(unsigned long long)));
}

void CudaBackend::activate() const {
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess || current != index_) CONTRA_CUDA(cudaSetDevice(index_));
}

Tensor CudaBackend::on_device(const Tensor& t) const {
  check_same_device(t, device(), "cuda");
  return t.is_contiguous() ? t : t.contiguous();
}

void CudaBackend::synchronize() {
  activate();
  if (take_index_error(stream_))
    throw Error("cuda index op", "an index was out of range (found at the next synchronisation point; the op "
                                 "skipped it)",
                "check the indices on the CPU, or run with CUDA_LAUNCH_BLOCKING=1 to find the op");
  CONTRA_CUDA(cudaStreamSynchronize(stream_));
}

void* CudaBackend::allocate(std::size_t nbytes) {
  activate();
  return allocator_.allocate(nbytes);
}

void CudaBackend::deallocate(void* p) { allocator_.deallocate(p); }

// ---- copies -----------------------------------------------------------------------------

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  activate();
  check_same_device(src, device(), "copy");
  check_same_device(dst, device(), "copy");
  if (src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous()) {
    CONTRA_CUDA(cudaMemcpyAsync(dst.raw_data(), src.raw_data(),
                                static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()),
                                cudaMemcpyDeviceToDevice, stream_));
    return;
  }
  const Walk w = make_walk(dst.shape(), {dst.strides(), broadcast_strides(src.shape(), src.strides(), dst.shape())},
                           {0, 0}, "copy");
  launch_copy(dt(dst.dtype()), dst.raw_data(), dt(src.dtype()), src.raw_data(), w, stream_);
  check_launch("copy");
}

void CudaBackend::fill(const Tensor& dst, double value) {
  activate();
  if (value == 0.0 && dst.is_contiguous()) {
    CONTRA_CUDA(cudaMemsetAsync(dst.raw_data(), 0, static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()),
                                stream_));
    return;
  }
  const Walk w = make_walk(dst.shape(), {dst.strides()}, {0}, "fill");
  launch_fill(dt(dst.dtype()), dst.raw_data(), value, w, stream_);
  check_launch("fill");
}

void CudaBackend::copy_from_host(const void* host_src, const Tensor& dst) {
  CONTRA_CHECK(dst.is_contiguous(), "CudaBackend::copy_from_host", "dst must be contiguous");
  activate();
  staging_.copy_to_device(host_src, dst.raw_data(), static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()),
                          stream_);
}

void CudaBackend::copy_to_host(const Tensor& src, void* host_dst) {
  CONTRA_CHECK(src.is_contiguous(), "CudaBackend::copy_to_host", "src must be contiguous");
  activate();
  const std::size_t n = static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype());
  if (n) CONTRA_CUDA(cudaMemcpyAsync(host_dst, src.raw_data(), n, cudaMemcpyDeviceToHost, stream_));
  synchronize();
}

// ---- elementwise and reductions ------------------------------------------------------------

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) {
  activate();
  dispatch_floating(x.dtype(), unary_name(op), [](auto) {});
  CONTRA_CHECK(out.dtype() == x.dtype() && out.shape() == x.shape(), unary_name(op), "out must have x's shape and dtype");
  const Walk w = make_walk(out.shape(), {out.strides(), x.strides()}, {0, 0}, unary_name(op));
  launch_unary(dt(x.dtype()), static_cast<int>(op), p.a, p.b, out.raw_data(), x.raw_data(), w, stream_);
  check_launch(unary_name(op));
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  activate();
  dispatch_floating(out.dtype(), binary_name(op), [](auto) {});
  CONTRA_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype(), binary_name(op),
               "a, b and out must have one dtype, got ", dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), ", ",
               dtype_name(out.dtype()));
  const Walk w = make_walk(out.shape(),
                           {out.strides(), broadcast_strides(a.shape(), a.strides(), out.shape()),
                            broadcast_strides(b.shape(), b.strides(), out.shape())},
                           {0, 0, 0}, binary_name(op));
  launch_binary(dt(out.dtype()), static_cast<int>(op), out.raw_data(), a.raw_data(), b.raw_data(), w, stream_);
  check_launch(binary_name(op));
}

void CudaBackend::where(const Tensor& cond_in, const Tensor& a, const Tensor& b, const Tensor& out) {
  activate();
  dispatch_floating(out.dtype(), "where", [](auto) {});
  Tensor cond = cond_in;
  if (cond.dtype() != out.dtype()) {  // read the condition in out's dtype
    cond = Tensor::empty(cond_in.shape(), out.dtype(), device());
    copy(cond_in, cond);
  }
  const Walk w = make_walk(out.shape(),
                           {out.strides(), broadcast_strides(cond.shape(), cond.strides(), out.shape()),
                            broadcast_strides(a.shape(), a.strides(), out.shape()),
                            broadcast_strides(b.shape(), b.strides(), out.shape())},
                           {0, 0, 0, 0}, "where");
  launch_where(dt(out.dtype()), out.raw_data(), cond.raw_data(), a.raw_data(), b.raw_data(), w, stream_);
  check_launch("where");
}

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const Tensor& out) {
  activate();
  dispatch_floating(x.dtype(), "reduce", [](auto) {});
  CONTRA_CHECK(out.dim() == x.dim() && out.dtype() == x.dtype(), "reduce", "out must have x's rank and dtype");
  const size_t D = x.shape().size();
  Shape reduced_shape(D, 1);
  Strides kept_x(D, 0), zeros(D, 0);
  for (size_t d = 0; d < D; ++d) {
    if (out.shape()[d] == 1 && x.shape()[d] != 1) reduced_shape[d] = x.shape()[d];
    else kept_x[d] = x.strides()[d];
  }
  const Walk kept = make_walk(out.shape(), {out.strides(), kept_x}, {0, 0}, "reduce");
  const Walk reduced = make_walk(reduced_shape, {zeros, x.strides()}, {0, 0}, "reduce");
  launch_reduce(dt(x.dtype()), static_cast<int>(op), out.raw_data(), x.raw_data(), kept, reduced, stream_);
  check_launch("reduce");
}

std::int64_t CudaBackend::count_non_finite(const std::vector<Tensor>& xs) {
  activate();
  CONTRA_CUDA(cudaMemsetAsync(counter_, 0, sizeof(unsigned long long), stream_));
  for (const Tensor& x : xs) {
    if (!x.defined() || !is_floating(x.dtype())) continue;
    check_same_device(x, device(), "count_non_finite");
    const Walk w = make_walk(x.shape(), {x.strides()}, {0}, "count_non_finite");
    launch_count_non_finite(dt(x.dtype()), x.raw_data(), w, counter_, stream_);
    check_launch("count_non_finite");
  }
  unsigned long long count = 0;
  CONTRA_CUDA(cudaMemcpyAsync(&count, counter_, sizeof count, cudaMemcpyDeviceToHost, stream_));
  synchronize();
  return static_cast<std::int64_t>(count);
}

// ---- GEMM ---------------------------------------------------------------------------------

namespace {

// A row-major (R, Cc) matrix with strides (sr, sc) as cuBLAS sees it (column-major): with
// sc = 1 it is the column-major (Cc, R) matrix, op N, ld = sr; with sr = 1 it is the
// transpose of the column-major (R, Cc) matrix, op T, ld = sc. Otherwise false.
bool gemm_layout(std::int64_t R, std::int64_t Cc, std::int64_t sr, std::int64_t sc, cublasOperation_t& op,
                 std::int64_t& ld) {
  if (sc == 1 && (R <= 1 || sr >= std::max<std::int64_t>(1, Cc))) {
    op = CUBLAS_OP_N;
    ld = R <= 1 ? std::max<std::int64_t>(1, Cc) : sr;
    return true;
  }
  if (sr == 1 && (Cc <= 1 || sc >= std::max<std::int64_t>(1, R))) {
    op = CUBLAS_OP_T;
    ld = Cc <= 1 ? std::max<std::int64_t>(1, R) : sc;
    return true;
  }
  return false;
}

}  // namespace

void CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out, double alpha, double beta) {
  activate();
  dispatch_floating(out.dtype(), "matmul", [](auto) {});
  CONTRA_CHECK(out.is_contiguous() && out.dim() == 3 && a_in.dim() == 3 && b_in.dim() == 3, "matmul",
               "the CUDA matmul needs rank-3 operands and a contiguous out");
  const std::int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a_in.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: out = beta · out (never read when beta = 0)
    if (beta == 0.0) fill(out, 0.0);
    else unary(UnaryOp::affine, out, out, {beta, 0.0});
    return;
  }
  Tensor a = a_in, b = b_in;
  cublasOperation_t ta, tb;
  std::int64_t lda = 0, ldb = 0;
  if (!gemm_layout(M, K, a.stride(1), a.stride(2), ta, lda)) {
    a = a.contiguous();
    gemm_layout(M, K, a.stride(1), a.stride(2), ta, lda);
  }
  if (!gemm_layout(K, N, b.stride(1), b.stride(2), tb, ldb)) {
    b = b.contiguous();
    gemm_layout(K, N, b.stride(1), b.stride(2), tb, ldb);
  }
  const long long sa = B == 1 ? 0 : a.stride(0), sb = B == 1 ? 0 : b.stride(0), sc = M * N;
  // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: cuBLAS gets (B, A) with m = N, n = M.
  if (out.dtype() == DType::f32) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    CONTRA_CUDA(cublasSgemmStridedBatched(cublas_, tb, ta, static_cast<int>(N), static_cast<int>(M),
                                          static_cast<int>(K), &al, static_cast<const float*>(b.raw_data()),
                                          static_cast<int>(ldb), sb, static_cast<const float*>(a.raw_data()),
                                          static_cast<int>(lda), sa, &be, static_cast<float*>(out.raw_data()),
                                          static_cast<int>(N), sc, static_cast<int>(B)));
  } else {
    CONTRA_CUDA(cublasDgemmStridedBatched(cublas_, tb, ta, static_cast<int>(N), static_cast<int>(M),
                                          static_cast<int>(K), &alpha, static_cast<const double*>(b.raw_data()),
                                          static_cast<int>(ldb), sb, static_cast<const double*>(a.raw_data()),
                                          static_cast<int>(lda), sa, &beta, static_cast<double*>(out.raw_data()),
                                          static_cast<int>(N), sc, static_cast<int>(B)));
  }
}

void CudaBackend::softmax(const Tensor& x_in, const Tensor& out, bool log) {
  activate();
  dispatch_floating(x_in.dtype(), log ? "log_softmax" : "softmax", [](auto) {});
  CONTRA_CHECK(out.is_contiguous(), "softmax", "out must be contiguous");
  const Tensor x = on_device(x_in);
  const std::int64_t L = x.dim() == 0 ? 1 : x.shape().back();
  const std::int64_t R = L == 0 ? 0 : x.numel() / L;
  launch_softmax(dt(x.dtype()), x.raw_data(), out.raw_data(), R, L, log, stream_);
  check_launch("softmax");
}

// ---- indexing -------------------------------------------------------------------------------

namespace {
struct AxisSplit {
  std::int64_t outer, size, inner;
};
AxisSplit split_at(const Shape& s, int dim) {
  return {shape_numel(Shape(s.begin(), s.begin() + dim)), s[static_cast<size_t>(dim)],
          shape_numel(Shape(s.begin() + dim + 1, s.end()))};
}
}  // namespace

void CudaBackend::index_select(const Tensor& x_in, int dim, const Tensor& index_in, const Tensor& out) {
  activate();
  CONTRA_CHECK(out.is_contiguous(), "index_select", "out must be contiguous");
  const Tensor x = on_device(x_in), index = on_device(index_in);
  const AxisSplit s = split_at(x.shape(), dim);
  launch_index_select(dt(x.dtype()), x.raw_data(), static_cast<const std::int64_t*>(index.raw_data()), out.raw_data(),
                      s.outer, s.size, s.inner, index.numel(), stream_);
  check_launch("index_select");
}

void CudaBackend::index_add(const Tensor& out, int dim, const Tensor& index_in, const Tensor& src_in) {
  activate();
  CONTRA_CHECK(out.is_contiguous(), "index_add", "out must be contiguous");
  dispatch_floating(out.dtype(), "index_add", [](auto) {});
  const Tensor src = on_device(src_in), index = on_device(index_in);
  const AxisSplit s = split_at(out.shape(), dim);
  launch_index_add(dt(out.dtype()), out.raw_data(), static_cast<const std::int64_t*>(index.raw_data()),
                   src.raw_data(), s.outer, s.size, s.inner, index.numel(), stream_);
  check_launch("index_add");
  out.bump_version();
}

void CudaBackend::gather(const Tensor& x, int dim, const Tensor& index_in, const Tensor& out) {
  activate();
  const Tensor index = on_device(index_in);
  Strides xs = x.strides();
  xs[static_cast<size_t>(dim)] = 0;  // the indexed axis is added from the index value
  const Walk w = make_walk(index.shape(), {out.strides(), xs, contiguous_strides(index.shape())}, {0, 0, 0}, "gather");
  launch_gather(dt(x.dtype()), x.raw_data(), static_cast<const std::int64_t*>(index.raw_data()), out.raw_data(), w,
                dim, x.shape()[static_cast<size_t>(dim)], x.strides()[static_cast<size_t>(dim)], stream_);
  check_launch("gather");
}

void CudaBackend::scatter_add(const Tensor& out, int dim, const Tensor& index_in, const Tensor& src) {
  activate();
  dispatch_floating(out.dtype(), "scatter_add", [](auto) {});
  const Tensor index = on_device(index_in);
  Strides os = out.strides();
  os[static_cast<size_t>(dim)] = 0;
  const Walk w = make_walk(index.shape(), {src.strides(), os, contiguous_strides(index.shape())}, {0, 0, 0},
                           "scatter_add");
  launch_scatter_add(dt(out.dtype()), out.raw_data(), static_cast<const std::int64_t*>(index.raw_data()),
                     src.raw_data(), w, dim, out.shape()[static_cast<size_t>(dim)],
                     out.strides()[static_cast<size_t>(dim)], stream_);
  check_launch("scatter_add");
  out.bump_version();
}

// ---- batch norm and pooling -------------------------------------------------------------------

namespace {
struct NCS {
  std::int64_t N, C, S;
};
NCS ncs(const Shape& x) {
  NCS g{x[0], x[1], 1};
  for (size_t d = 2; d < x.size(); ++d) g.S *= x[d];
  return g;
}
const void* ptr_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
void* mut_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
}  // namespace

void CudaBackend::batch_norm_forward_training(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps,
                                              const Tensor& y, const Tensor& mean, const Tensor& var,
                                              BatchNormReduction* reduction) {
  CONTRA_CHECK_HINT(reduction == nullptr, "batch_norm", "synchronise BN with dist::sync_batch_norm (it falls back to "
                    "all-reduced composed ops on CUDA)", "the CUDA kernels cannot sum their statistics over processes");
  activate();
  dispatch_floating(x_in.dtype(), "batch_norm", [](auto) {});
  const Tensor x = on_device(x_in);
  const NCS g = ncs(x.shape());
  const Tensor w = weight.defined() ? on_device(weight) : weight, b = bias.defined() ? on_device(bias) : bias;
  launch_bn_forward_training(dt(x.dtype()), x.raw_data(), ptr_or_null(w), ptr_or_null(b), eps, y.raw_data(),
                             mean.raw_data(), var.raw_data(), g.N, g.C, g.S, stream_);
  check_launch("batch_norm_forward_training");
}

void CudaBackend::batch_norm_forward_inference(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                                               const Tensor& mean, const Tensor& var, double eps, const Tensor& y) {
  activate();
  dispatch_floating(x_in.dtype(), "batch_norm", [](auto) {});
  const Tensor x = on_device(x_in);
  const NCS g = ncs(x.shape());
  const Tensor w = weight.defined() ? on_device(weight) : weight, b = bias.defined() ? on_device(bias) : bias;
  const Tensor m = on_device(mean), v = on_device(var);
  launch_bn_forward_inference(dt(x.dtype()), x.raw_data(), ptr_or_null(w), ptr_or_null(b), m.raw_data(), v.raw_data(),
                              eps, y.raw_data(), g.N, g.C, g.S, stream_);
  check_launch("batch_norm_forward_inference");
}

void CudaBackend::batch_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& weight, const Tensor& mean,
                                      const Tensor& var, double eps, bool batch_stats, const Tensor& dx,
                                      const Tensor& dweight, const Tensor& dbias, BatchNormReduction* reduction) {
  CONTRA_CHECK_HINT(reduction == nullptr, "batch_norm_backward", "synchronise BN with dist::sync_batch_norm (it falls "
                    "back to all-reduced composed ops on CUDA)", "the CUDA kernels cannot sum their statistics over processes");
  activate();
  dispatch_floating(x_in.dtype(), "batch_norm_backward", [](auto) {});
  const Tensor x = on_device(x_in), dy = on_device(dy_in);
  const NCS g = ncs(x.shape());
  const Tensor w = weight.defined() ? on_device(weight) : weight;
  const Tensor m = on_device(mean), v = on_device(var);
  launch_bn_backward(dt(x.dtype()), dy.raw_data(), x.raw_data(), ptr_or_null(w), m.raw_data(), v.raw_data(), eps,
                     batch_stats, dx.raw_data(), mut_or_null(dweight), mut_or_null(dbias), g.N, g.C, g.S, stream_);
  check_launch("batch_norm_backward");
}

namespace {
PoolGeom pool_geom(const Tensor& x, const Tensor& y, const Pool2dParams* p) {
  PoolGeom g{};
  g.NC = x.size(0) * x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.Ho = y.size(2);
  g.Wo = y.size(3);
  if (p) {
    g.kh = p->kernel_h;
    g.kw = p->kernel_w;
    g.sh = p->stride_h;
    g.sw = p->stride_w;
    g.ph = p->pad_h;
    g.pw = p->pad_w;
  }
  return g;
}
}  // namespace

// The workspace is an i64 tensor shaped like y: each window's argmax as an index into H·W
// (the reference kernels' form).
Tensor CudaBackend::max_pool2d_forward(const Tensor& x_in, const Tensor& y, const Pool2dParams& p) {
  activate();
  dispatch_floating(x_in.dtype(), "max_pool2d", [](auto) {});
  const Tensor x = on_device(x_in);
  Tensor argmax = Tensor::empty(y.shape(), DType::i64, device());
  launch_max_pool_forward(dt(x.dtype()), x.raw_data(), y.raw_data(), static_cast<std::int64_t*>(argmax.raw_data()),
                          pool_geom(x, y, &p), stream_);
  check_launch("max_pool2d_forward");
  return argmax;
}

void CudaBackend::max_pool2d_backward(const Tensor& dy_in, const Tensor& workspace, const Tensor& dx,
                                      const Pool2dParams& p) {
  activate();
  CONTRA_CHECK(workspace.defined() && workspace.dtype() == DType::i64 && workspace.shape() == dy_in.shape(),
               "max_pool2d_backward", "the workspace must come from the CUDA max_pool2d_forward on the same shapes");
  const Tensor dy = on_device(dy_in);
  launch_max_pool_backward(dt(dy.dtype()), dy.raw_data(), static_cast<const std::int64_t*>(workspace.raw_data()),
                           dx.raw_data(), pool_geom(dx, dy, &p), stream_);
  check_launch("max_pool2d_backward");
}

void CudaBackend::adaptive_avg_pool2d_forward(const Tensor& x_in, const Tensor& y) {
  activate();
  dispatch_floating(x_in.dtype(), "adaptive_avg_pool2d", [](auto) {});
  const Tensor x = on_device(x_in);
  launch_adaptive_avg_pool_forward(dt(x.dtype()), x.raw_data(), y.raw_data(), pool_geom(x, y, nullptr), stream_);
  check_launch("adaptive_avg_pool2d_forward");
}

void CudaBackend::adaptive_avg_pool2d_backward(const Tensor& dy_in, const Tensor& dx) {
  activate();
  const Tensor dy = on_device(dy_in);
  launch_adaptive_avg_pool_backward(dt(dy.dtype()), dy.raw_data(), dx.raw_data(), pool_geom(dx, dy, nullptr), stream_);
  check_launch("adaptive_avg_pool2d_backward");
}

}  // namespace contra::cuda

// ---- the registry's entry points (backend_registry.cpp) -----------------------------------------

namespace contra {

namespace {
// The number of devices, or -1 with the reason when the runtime cannot see any (no driver,
// no GPU): asked once.
struct CudaDevices {
  int count = 0;
  std::string why;
};
const CudaDevices& cuda_devices() {
  static const CudaDevices d = [] {
    CudaDevices r;
    const cudaError_t e = cudaGetDeviceCount(&r.count);
    if (e != cudaSuccess) {
      r.count = 0;
      r.why = cudaGetErrorString(e);
      cudaGetLastError();
    } else if (r.count == 0) {
      r.why = "no CUDA device found";
    }
    return r;
  }();
  return d;
}
}  // namespace

bool cuda_backend_available() { return cuda_devices().count > 0; }

Backend& cuda_backend(int index) {
  const CudaDevices& d = cuda_devices();
  if (d.count == 0)
    throw Error("device cuda:" + std::to_string(index), "no usable CUDA device (" + d.why + ")",
                "this build has the CUDA backend but the machine has no GPU or driver; run on the CPU");
  CONTRA_CHECK_HINT(index >= 0 && index < d.count, "device cuda:" + std::to_string(index),
                    "use cuda:0 … cuda:" + std::to_string(d.count - 1), "no such CUDA device: this machine has ",
                    d.count, " device(s)");
  static std::mutex mu;
  static std::vector<cuda::CudaBackend*> backends(static_cast<size_t>(d.count), nullptr);
  std::lock_guard<std::mutex> lock(mu);
  auto& be = backends[static_cast<size_t>(index)];
  if (!be) be = new cuda::CudaBackend(index);  // never deleted: lives as long as the CUDA context
  return *be;
}

}  // namespace contra
