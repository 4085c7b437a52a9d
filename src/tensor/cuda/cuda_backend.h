// cuda_backend.h — the Backend of one CUDA device (built with -Dcuda=enabled).
//
// Everything a device runs goes on its one stream (kernels, cuBLAS, cuDNN, copies), so work
// is ordered without events and the host waits only where it reads a value: copy_to_host and
// count_non_finite. Memory comes from a caching allocator (cuda_allocator.h); host-to-device
// copies go through pinned staging buffers and return before the transfer ends.
//   matmul      cuBLAS strided-batched GEMM; transposed views become op flags (as the CPU
//               backend maps them to BLAS flags), other layouts are made contiguous first.
//   conv2d      cuDNN 9 (legacy convolution API): forward, backward data, backward filter and
//               bias; algorithms chosen by cudnnFind…AlgorithmEx once per shape and cached
//               with their workspace size (cudnn_conv.cpp).
//   the rest    contra's own kernels (cuda_kernels.h: elementwise.cu, reduce.cu, index.cu,
//               norm_pool.cu, contrastive_rows.cu, optimizer_updates.cu).
// TF32: off by default (float32 GEMMs and convolutions compute in full float32). The build
// option -Dtf32=true turns it on by default; the environment variable CONTRA_CUDA_TF32=0|1
// overrides the build's choice at start-up.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <mutex>

#include "tensor/backend.h"
#include "tensor/cuda/cuda_allocator.h"

namespace contra::cuda {

struct ConvCache;  // cudnn_conv.cpp

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  Device device() const override { return Device::cuda(index_); }
  const char* name() const override { return "cuda"; }

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

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                      const Conv2dParams& p) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                              const Conv2dParams& p) override;

  void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                   const Tensor& y, const Tensor& mean, const Tensor& var,
                                   BatchNormReduction* reduction = nullptr) override;
  void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                                    const Tensor& var, double eps, const Tensor& y) override;
  void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                           const Tensor& var, double eps, bool batch_stats, const Tensor& dx, const Tensor& dweight,
                           const Tensor& dbias, BatchNormReduction* reduction = nullptr) override;

  Tensor max_pool2d_forward(const Tensor& x, const Tensor& y, const Pool2dParams& p) override;
  void max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Tensor& dx,
                           const Pool2dParams& p) override;
  void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) override;

  // The fused optimizer updates: one multi-tensor launch per dtype of the list (LARS: three),
  // no host synchronisation (optimizer_updates_backend.cpp, optimizer_updates.cu).
  void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                  const SgdHyper& h) override;
  void lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& momentum_buffers, const LarsHyper& h, const Tensor& trust_ratios) override;
  void adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                    const std::vector<double>& steps, const AdamWHyper& h) override;

  // The contrastive row passes: one block per anchor row, sums in double
  // (contrastive_rows_backend.cpp, contrastive_rows.cu).
  void contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a, const ContrastiveRowParams& p,
                            const Tensor& stats) override;
  void contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                const Tensor& state) override;
  void contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a, const Tensor& state,
                                 const ContrastiveRowParams& p, const Tensor& row_sum) override;
  void contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) override;
  void contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm, const Tensor& a,
                                      const ContrastiveRowParams& p, const Tensor& df, const Tensor& norms) override;

  // Waits for everything enqueued on this device's stream; throws if an index op since the
  // last synchronisation saw an out-of-range index.
  void synchronize();
  cudaStream_t stream() const { return stream_; }
  bool tf32() const { return tf32_; }
  DeviceAllocator& allocator() { return allocator_; }

 private:
  void activate() const;  // makes this device current on the calling thread
  Tensor on_device(const Tensor& t) const;  // t, contiguous (a device copy when it is not)

  int index_;
  bool tf32_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  unsigned long long* counter_ = nullptr;  // count_non_finite's device accumulator
  DeviceAllocator allocator_;
  PinnedStaging staging_;
  ConvCache* conv_ = nullptr;  // never freed: backends live until the process ends
  std::mutex conv_mu_;
};

}  // namespace contra::cuda
