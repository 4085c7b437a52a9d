// contrastive_rows_host.cpp — the contrastive row passes (backend.h, "contrastive row
// passes") on a CUDA device, computed for now by the CPU kernels on host copies
// (host_fallback.h). The results are the CPU backend's exactly; each call costs a device →
// host → device round trip of S (M² values), so on a GPU this is the step to replace with
// CUDA kernels (issue 11, left open).
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/host_fallback.h"

namespace contra::cuda {

void CudaBackend::contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a,
                                       const ContrastiveRowParams& p, const Tensor& stats) {
  HostMirror m(*this);
  cpu::cpu_backend().contrastive_row_pass(m.host(s, true), m.host(omega), m.host(a), p, m.host(stats, true));
  m.write_back();
}

void CudaBackend::contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                           const Tensor& state) {
  HostMirror m(*this);
  cpu::cpu_backend().contrastive_tile_forward(m.host(s), m.host(omega), p, m.host(state, true));
  m.write_back();
}

void CudaBackend::contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a,
                                            const Tensor& state, const ContrastiveRowParams& p,
                                            const Tensor& row_sum) {
  HostMirror m(*this);
  cpu::cpu_backend().contrastive_tile_gradient(m.host(s, true), m.host(omega), m.host(a), m.host(state), p,
                                               m.host(row_sum, true));
  m.write_back();
}

void CudaBackend::contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) {
  HostMirror m(*this);
  cpu::cpu_backend().contrastive_normalize_rows(m.host(f), m.host(z, true), m.host(norm, true));
  m.write_back();
}

void CudaBackend::contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm,
                                                 const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                                 const Tensor& norms) {
  HostMirror m(*this);
  cpu::cpu_backend().contrastive_normalize_backward(m.host(z), m.host(dz), m.host(norm), m.host(a), p,
                                                    m.host(df, true), m.host(norms, true));
  m.write_back();
}

}  // namespace contra::cuda
