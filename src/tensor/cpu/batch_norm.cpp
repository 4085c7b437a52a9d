// batch_norm.cpp — batch normalisation on the CPU backend: which kernel runs. Two fast f32
// implementations (own OpenMP loops, the default: batch_norm_openmp.cpp; oneDNN's:
// dnnl_batch_norm.cpp), the reference twin otherwise (f64, or reference mode).
//
// With x seen as (N, C, S), S = H·W (1 for a 2-D input), M = N·S values per channel:
//   training:  mean = Σx/M, var = Σ(x − mean)²/M, y = (x − mean)/√(var + ε)·γ + β
//   inference: the same with given (running) mean and var
//   backward:  dβ = Σdy, dγ = Σdy·x̂, dx = γ·r/M·(M·dy − dβ − x̂·dγ)  (batch statistics)
//                                    dx = γ·r·dy                     (fixed statistics)
// Both compute exactly these with the biased (population) variance; the running
// statistics and PyTorch's momentum / unbiased-variance convention live in the op
// (autograd/ops/batch_norm.cpp), not here.
//
// Why two: our activations are plain nchw, where oneDNN 2.6 runs its generic `ncsp_bnorm`
// (several passes over the data; its fast JIT kernels want blocked nChw16c, which would
// cost a reorder each way). Measured single-threaded (min of 20, AVX-512 EPYC):
//                        oneDNN fwd / bwd     OpenMP fwd / bwd    (relu, one pass: )
//   (128, 64, 32, 32)    13.4 / 17.1 ms       4.3 / 5.8 ms        1.6 ms
//   (128, 256, 8, 8)      2.5 /  4.2 ms       1.0 / 1.0 ms        0.3 ms
//   (256, 2048)           6.0 /  7.2 ms       0.14 / 0.20 ms      0.03 ms
// so the OpenMP kernels are the default; `set_batch_norm_impl` / CONTRA_BN_IMPL=onednn
// select oneDNN. Synchronised BN (a BatchNormReduction, batch_norm_reduction.h) runs in the
// OpenMP and reference kernels only. Both are checked against the reference in tests/autograd/ops (parity).
//
// Dimensions: N batch, C channels, S spatial positions, M = N·S.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/batch_norm_kernels.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/reference_norm_pool.h"
#include "tensor/error.h"

namespace contra::cpu {

namespace {
bool use_reference(const Tensor& t) { return reference_kernels() || t.dtype() != DType::f32; }
std::atomic<int> g_bn_impl{-1};  // -1: not chosen yet (read CONTRA_BN_IMPL once)
// oneDNN's primitives keep their sums inside: they cannot be summed over processes.
void refuse_reduction(const BatchNormReduction* reduction, const char* where) {
  CONTRA_CHECK_HINT(reduction == nullptr, where,
                    "unset CONTRA_BN_IMPL (the OpenMP kernels take one), or let dist::sync_batch_norm fall back",
                    "oneDNN's batch norm (CONTRA_BN_IMPL=onednn) cannot sum its statistics over processes");
}
}  // namespace

void set_batch_norm_impl(BatchNormImpl impl) { g_bn_impl = static_cast<int>(impl); }

BatchNormImpl batch_norm_impl() {
  if (g_bn_impl < 0) {
    const char* v = std::getenv("CONTRA_BN_IMPL");
    g_bn_impl = static_cast<int>(v != nullptr && std::strcmp(v, "onednn") == 0 ? BatchNormImpl::onednn
                                                                                 : BatchNormImpl::openmp);
  }
  return static_cast<BatchNormImpl>(g_bn_impl.load());
}

bool CpuBackend::supports_batch_norm_reduction(const Tensor& x) const {
  return use_reference(x) || batch_norm_impl() == BatchNormImpl::openmp;
}

void CpuBackend::batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                             const Tensor& y, const Tensor& mean, const Tensor& var,
                                             BatchNormReduction* reduction) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm", [&](auto v) {
      reference::batch_norm_forward_training<decltype(v)>(x, weight, bias, eps, y, mean, var, reduction);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp)
    return openmp_batch_norm_forward_training(x, weight, bias, eps, y, mean, var, reduction);
  refuse_reduction(reduction, "batch_norm");
  onednn_batch_norm_forward(x, weight, bias, eps, y, mean, var, /*global_stats=*/false);
}

void CpuBackend::batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              const Tensor& mean, const Tensor& var, double eps, const Tensor& y) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm", [&](auto v) {
      reference::batch_norm_forward_inference<decltype(v)>(x, weight, bias, mean, var, eps, y);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp) return openmp_batch_norm_forward_inference(x, weight, bias, mean, var, eps, y);
  onednn_batch_norm_forward(x, weight, bias, eps, y, mean, var, /*global_stats=*/true);
}

void CpuBackend::batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& var, double eps, bool batch_stats, const Tensor& dx,
                                     const Tensor& dweight, const Tensor& dbias, BatchNormReduction* reduction) {
  if (use_reference(x)) {
    dispatch_floating(x.dtype(), "batch_norm backward", [&](auto v) {
      reference::batch_norm_backward<decltype(v)>(dy, x, weight, mean, var, eps, batch_stats, dx, dweight, dbias,
                                                  reduction);
    });
    return;
  }
  if (batch_norm_impl() == BatchNormImpl::openmp)
    return openmp_batch_norm_backward(dy, x, weight, mean, var, eps, batch_stats, dx, dweight, dbias, reduction);
  refuse_reduction(reduction, "batch_norm backward");
  onednn_batch_norm_backward(dy, x, weight, mean, var, eps, batch_stats, dx, dweight, dbias);
}

}  // namespace contra::cpu
