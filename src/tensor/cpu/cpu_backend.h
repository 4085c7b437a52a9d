// cpu_backend.h — the CPU implementation of Backend.
//
// Each kernel runs either the naive reference twin (reference_kernels.h) or the fast path:
// OpenMP over rows of a simplified strided loop for elementwise ops and reductions, and
// OpenBLAS sgemm/dgemm for matmul. `set_reference_kernels(true)` forces the reference twin.
#pragma once

#include "tensor/backend.h"

namespace contra::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  const char* name() const override { return "cpu"; }
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* p) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) override;
  void softmax(const Tensor& x, const Tensor& out, bool log) override;
  void index_select(const Tensor& x, int dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;
};

CpuBackend& cpu_backend();

}  // namespace contra::cpu
