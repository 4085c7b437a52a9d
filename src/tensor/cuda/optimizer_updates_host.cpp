// optimizer_updates_host.cpp — the fused optimizer updates (backend.h, "fused multi-tensor
// optimizer updates") on a CUDA device, computed for now by the CPU kernels on host copies
// (host_fallback.h): the CPU backend's results exactly, at the cost of copying every
// parameter, gradient and state tensor device → host → device each step. A multi-tensor
// CUDA kernel per optimizer replaces this file (issue 11, left open).
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/host_fallback.h"

namespace contra::cuda {

void CudaBackend::sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                             const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                             const SgdHyper& h) {
  HostMirror m(*this);
  cpu::cpu_backend().sgd_update(m.host(params, true), m.host(grads), m.host(momentum_buffers, true), first_step, h);
  m.write_back();
}

void CudaBackend::lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                              const std::vector<Tensor>& momentum_buffers, const LarsHyper& h,
                              const Tensor& trust_ratios) {
  HostMirror m(*this);
  cpu::cpu_backend().lars_update(m.host(params, true), m.host(grads), m.host(momentum_buffers, true), h,
                                 m.host(trust_ratios, true));
  m.write_back();
}

void CudaBackend::adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                               const std::vector<double>& steps, const AdamWHyper& h) {
  HostMirror m(*this);
  cpu::cpu_backend().adamw_update(m.host(params, true), m.host(grads), m.host(exp_avgs, true),
                                  m.host(exp_avg_sqs, true), steps, h);
  m.write_back();
}

}  // namespace contra::cuda
