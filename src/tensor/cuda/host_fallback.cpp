// host_fallback.cpp — HostMirror (host_fallback.h): host copies of device tensors for the
// Backend methods a CUDA kernel does not cover yet.
#include "tensor/cuda/host_fallback.h"

#include "tensor/cuda/cuda_backend.h"

namespace contra::cuda {

Tensor HostMirror::host(const Tensor& d, bool written) {
  if (!d.defined()) return Tensor();
  const Tensor c = d.is_contiguous() ? d : d.contiguous();
  Tensor h = Tensor::empty(c.shape(), c.dtype(), Device::cpu());
  backend_.copy_to_host(c, h.raw_data());
  if (written) {
    CONTRA_CHECK(d.is_contiguous(), "cuda host fallback", "an output tensor must be contiguous");
    written_.emplace_back(h, d);
  }
  return h;
}

std::vector<Tensor> HostMirror::host(const std::vector<Tensor>& ds, bool written) {
  std::vector<Tensor> hs;
  hs.reserve(ds.size());
  for (const Tensor& d : ds) hs.push_back(host(d, written));
  return hs;
}

void HostMirror::write_back() {
  for (const auto& [h, d] : written_) backend_.copy_from_host(h.raw_data(), d);
  written_.clear();
}

}  // namespace contra::cuda
