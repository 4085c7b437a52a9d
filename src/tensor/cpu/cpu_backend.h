// cpu_backend.h — the CPU implementation of Backend.
//
// Each kernel runs either the naive reference twin (reference_kernels.h) or the fast path:
// OpenMP over rows of a simplified strided loop for elementwise ops and reductions, and
// OpenBLAS sgemm/dgemm for matmul; oneDNN (f32) for convolution, batch norm and pooling
// (dnnl_*.cpp, with reference twins in reference_conv.h and reference_norm_pool.h); the
// fused optimizer updates in optimizer_kernels.cpp (twins in reference_optimizer.h).
// `set_reference_kernels(true)` forces the reference twin.
#pragma once

#include <string>

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
  void copy_from_host(const void* host_src, const Tensor& dst) override;
  void copy_to_host(const Tensor& src, void* host_dst) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, const Tensor& out) override;
  std::int64_t count_non_finite(const std::vector<Tensor>& xs) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) override;
  void softmax(const Tensor& x, const Tensor& out, bool log) override;
  void index_select(const Tensor& x, int dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& out, int dim, const Tensor& index, const Tensor& src) override;

  // dnnl_conv.cpp
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                      const Conv2dParams& p) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                              const Conv2dParams& p) override;
  void conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx, const Tensor& dw,
                       const Tensor& db, const Conv2dParams& p) override;
  // batch_norm.cpp (chooses batch_norm_openmp.cpp or dnnl_batch_norm.cpp)
  void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                   const Tensor& y, const Tensor& mean, const Tensor& var,
                                   BatchNormReduction* reduction = nullptr) override;
  void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                                    const Tensor& var, double eps, const Tensor& y) override;
  void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                           const Tensor& dbias, BatchNormReduction* reduction = nullptr) override;
  // the OpenMP and reference kernels (not oneDNN's)
  bool supports_batch_norm_reduction(const Tensor& x) const override;
  // dnnl_pool.cpp
  Tensor max_pool2d_forward(const Tensor& x, const Tensor& y, const Pool2dParams& p) override;
  void max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Tensor& dx,
                           const Pool2dParams& p) override;
  void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) override;
  // optimizer_kernels.cpp (reference twins in reference_optimizer.h)
  void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                  const SgdHyper& h) override;
  void lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& momentum_buffers, const LarsHyper& h,
                   const Tensor& trust_ratios) override;
  void adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                    const std::vector<double>& steps, const AdamWHyper& h) override;
  // contrastive row passes: contrastive_rows.cpp
  void contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a, const ContrastiveRowParams& p,
                            const Tensor& stats) override;
  void contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                const Tensor& state) override;
  void contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a, const Tensor& state,
                                 const ContrastiveRowParams& p, const Tensor& row_sum) override;
  void contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) override;
  void contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm, const Tensor& a,
                                      const ContrastiveRowParams& p, const Tensor& df, const Tensor& norms) override;
};

CpuBackend& cpu_backend();

// The oneDNN implementations an f32 convolution of these shapes runs (forward, backward data,
// backward weights; oneDNN's impl_info_str, e.g. "jit:avx512_core"), from the same cached plan
// the kernels use. For tests and benchmarks.
std::string conv2d_kernel_names(const Shape& x, const Shape& w, const Shape& y, bool has_bias, const Conv2dParams& p);

// The fast (f32) batch-norm kernels: own OpenMP loops on the plain layout (the default;
// measured faster on nchw data, see batch_norm.cpp) or oneDNN's. Both have the
// reference kernels as their twin. The default can be set with CONTRA_BN_IMPL=onednn|openmp.
enum class BatchNormImpl { openmp = 0, onednn = 1 };
void set_batch_norm_impl(BatchNormImpl impl);
BatchNormImpl batch_norm_impl();

}  // namespace contra::cpu
