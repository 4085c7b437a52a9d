// backend.h — the compute interface every device implements.
//
// Ops above this layer never name a library: they ask `backend_for(device)` and call
// these kernels. Kernels know nothing about autograd. Contracts, for every method:
//   requires: tensors are defined, on this backend's device; `out` already has the
//             documented shape and dtype (callers allocate it); inputs may be strided
//             (any strides, including 0 for broadcast axes) unless stated otherwise.
//   ensures:  `out` is assigned (overwritten), never accumulated, unless stated otherwise.
//   aliasing: `out` must not overlap an input unless stated otherwise.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace contra {

enum class UnaryOp {
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh, sign, square, reciprocal,
  pow_scalar,   // x^p,               params.a = p
  clamp,        // min(max(x, a), b), params.a = lo, params.b = hi
  step,         // 1[x > a],          params.a = threshold (ReLU's derivative at a = 0)
  affine,       // a·x + b
};

struct UnaryParams {
  double a = 0.0, b = 0.0;
};

enum class BinaryOp { add, sub, mul, div, maximum, minimum, pow, eq, ne, gt, ge, lt, le };

enum class ReduceOp { sum, max, min };

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;

  virtual void* allocate(std::size_t nbytes) = 0;
  virtual void deallocate(void* p) = 0;

  // dst ← src. requires: src broadcastable to dst.shape(); any dtypes (converted).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  // dst ← value (converted to dst's dtype), any dtype.
  virtual void fill(const Tensor& dst, double value) = 0;

  // out = op(x). requires: floating dtype; out same shape and dtype as x.
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) = 0;
  // out = a op b, broadcasting. requires: a, b, out of one floating dtype; out has the
  // broadcast shape. Comparisons write 1 or 0 in that dtype. out may alias a or b exactly
  // (same storage, offset and strides: in-place update).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out = cond ≠ 0 ? a : b, broadcasting all three to out's shape.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // Reduces x over the axes where out has size 1 and x does not (out has x's rank: keepdim).
  virtual void reduce(ReduceOp op, const Tensor& x, const Tensor& out) = 0;

  // out = alpha · op(a) · op(b) + beta · out for stacks of matrices.
  // requires: a (B, M, K), b (B, K, N), out (B, M, N) contiguous, rank 3, one floating
  // dtype; a and b may be strided (the CPU backend maps transposed views to BLAS flags).
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha,
                      double beta) = 0;

  // Softmax (or log-softmax) over the last axis. out: x's shape and dtype, contiguous.
  virtual void softmax(const Tensor& x, const Tensor& out, bool log) = 0;

  // out = x.index_select(dim, index): out.shape[dim] = index.numel(); index i64 1-d.
  virtual void index_select(const Tensor& x, int dim, const Tensor& index, const Tensor& out) = 0;
  // out.index_select(dim, index) += src  (accumulates; repeated indices add up).
  virtual void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) = 0;
  // out[i][j] = x[i][index[i][j]] along dim (torch.gather); index i64 with out's shape.
  virtual void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) = 0;
  // out[i][index[i][j]] += src[i][j] along dim (accumulates).
  virtual void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) = 0;
};

// The backend of a device. The one place that knows which backends were compiled is
// backend_registry.cpp. A cuda device in a build without CUDA throws a clear error.
Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }

// Forces the naive reference kernels everywhere (for parity checks and debugging).
void set_reference_kernels(bool on);
bool reference_kernels();

// RAII switch for the reference kernels.
class ReferenceKernelsGuard {
 public:
  explicit ReferenceKernelsGuard(bool on) : prev_(reference_kernels()) { set_reference_kernels(on); }
  ~ReferenceKernelsGuard() { set_reference_kernels(prev_); }
 private:
  bool prev_;
};

// Threads used by the CPU kernels (OpenMP, OpenBLAS, oneDNN). 0 = library default.
void set_num_threads(int n);
int num_threads();

// True when this build has a CUDA backend and a device is present.
bool cuda_available();

}  // namespace contra
