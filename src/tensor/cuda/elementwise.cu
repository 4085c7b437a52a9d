// elementwise.cu — copy/convert, fill, unary, binary and where over strided, broadcast walks.
// The scalar formulas are those of src/tensor/cpu/elementwise_math.h (NaN propagates through
// relu, sign, maximum and minimum as in PyTorch); ops arrive as contra::UnaryOp/BinaryOp values.
#include "tensor/cuda/kernel_common.cuh"

namespace contra::cuda {
namespace {

// contra::UnaryOp order (backend.h).
enum U { neg, exp_, log_, sqrt_, abs_, relu, sigmoid, tanh_, sign, square, reciprocal, pow_scalar, clamp, step, affine };
// contra::BinaryOp order.
enum B { add, sub, mul, div_, maximum, minimum, pow_, eq, ne, gt, ge, lt, le };

template <typename T>
__device__ __forceinline__ T unary_value(int op, T x, T a, T b) {
  switch (op) {
    case neg: return -x;
    case exp_: return exp(x);
    case log_: return log(x);
    case sqrt_: return sqrt(x);
    case abs_: return fabs(x);
    case relu: return x > T(0) || x != x ? x : T(0);
    case sigmoid:
      if (x >= T(0)) return T(1) / (T(1) + exp(-x));
      else { const T e = exp(x); return e / (T(1) + e); }
    case tanh_: return tanh(x);
    case sign: return x != x ? x : T((x > T(0)) - (x < T(0)));
    case square: return x * x;
    case reciprocal: return T(1) / x;
    case pow_scalar: return pow(x, a);
    case clamp: { const T m = x < a ? a : x; return b < m ? b : m; }  // std::min(std::max(x, a), b)
    case step: return x > a ? T(1) : T(0);
    case affine: return a * x + b;
  }
  return x;
}

template <typename T>
__device__ __forceinline__ T binary_value(int op, T x, T y) {
  switch (op) {
    case add: return x + y;
    case sub: return x - y;
    case mul: return x * y;
    case div_: return x / y;
    case maximum: return x > y || x != x ? x : y;
    case minimum: return x < y || x != x ? x : y;
    case pow_: return pow(x, y);
    case eq: return T(x == y);
    case ne: return T(x != y);
    case gt: return T(x > y);
    case ge: return T(x >= y);
    case lt: return T(x < y);
    case le: return T(x <= y);
  }
  return x;
}

template <typename D, typename S>
__device__ __forceinline__ D convert(S v) { return static_cast<D>(v); }

template <typename D, typename S>
__global__ void copy_kernel(D* dst, const S* src, Walk w) {
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[2];
    walk_offsets<2>(w, i, off);
    dst[off[0]] = convert<D>(src[off[1]]);
  }
}

template <typename T>
__global__ void fill_kernel(T* dst, T value, Walk w) {
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[1];
    walk_offsets<1>(w, i, off);
    dst[off[0]] = value;
  }
}

template <typename T>
__global__ void unary_kernel(int op, T a, T b, T* out, const T* x, Walk w) {
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[2];
    walk_offsets<2>(w, i, off);
    out[off[0]] = unary_value<T>(op, x[off[1]], a, b);
  }
}

// The common case (every operand contiguous, no broadcast) without index arithmetic.
template <typename T>
__global__ void unary_flat_kernel(int op, T a, T b, T* out, const T* x, std::int64_t n) {
  CONTRA_GRID_STRIDE(i, n) out[i] = unary_value<T>(op, x[i], a, b);
}

template <typename T>
__global__ void binary_kernel(int op, T* out, const T* a, const T* b, Walk w) {
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[3];
    walk_offsets<3>(w, i, off);
    out[off[0]] = binary_value<T>(op, a[off[1]], b[off[2]]);
  }
}

template <typename T>
__global__ void binary_flat_kernel(int op, T* out, const T* a, const T* b, std::int64_t n) {
  CONTRA_GRID_STRIDE(i, n) out[i] = binary_value<T>(op, a[i], b[i]);
}

template <typename T>
__global__ void where_kernel(T* out, const T* cond, const T* a, const T* b, Walk w) {
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[4];
    walk_offsets<4>(w, i, off);
    out[off[0]] = cond[off[1]] != T(0) ? a[off[2]] : b[off[3]];
  }
}

// One contiguous axis with unit strides for the first `k` operands and zero offsets.
bool flat(const Walk& w, int k) {
  if (w.ndim > 1) return false;
  for (int i = 0; i < k; ++i)
    if (w.offset[i] != 0 || (w.ndim == 1 && w.stride[i][0] != 1)) return false;
  return true;
}

}  // namespace

void launch_copy(Dt dst_t, void* dst, Dt src_t, const void* src, const Walk& w, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_dt(dst_t, [&](auto d) {
    using D = decltype(d);
    dispatch_dt(src_t, [&](auto v) {
      using S = decltype(v);
      copy_kernel<D, S><<<grid_for(w.numel), kThreads, 0, s>>>(static_cast<D*>(dst), static_cast<const S*>(src), w);
    });
  });
}

void launch_fill(Dt t, void* dst, double value, const Walk& w, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_dt(t, [&](auto v) {
    using T = decltype(v);
    fill_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(static_cast<T*>(dst), static_cast<T>(value), w);
  });
}

void launch_unary(Dt t, int op, double a, double b, void* out, const void* x, const Walk& w, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    if (flat(w, 2))
      unary_flat_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(op, T(a), T(b), static_cast<T*>(out),
                                                                 static_cast<const T*>(x), w.numel);
    else
      unary_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(op, T(a), T(b), static_cast<T*>(out),
                                                            static_cast<const T*>(x), w);
  });
}

void launch_binary(Dt t, int op, void* out, const void* a, const void* b, const Walk& w, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    if (flat(w, 3))
      binary_flat_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(
          op, static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), w.numel);
    else
      binary_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(op, static_cast<T*>(out), static_cast<const T*>(a),
                                                             static_cast<const T*>(b), w);
  });
}

void launch_where(Dt t, void* out, const void* cond, const void* a, const void* b, const Walk& w, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    where_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(static_cast<T*>(out), static_cast<const T*>(cond),
                                                          static_cast<const T*>(a), static_cast<const T*>(b), w);
  });
}

}  // namespace contra::cuda
