// host_fallback.h — runs a CPU kernel for a CUDA device's tensors on host copies.
//
// For the Backend methods that have no CUDA kernel yet (the contrastive row passes,
// contrastive_rows_host.cpp; the optimizer updates, optimizer_updates_host.cpp): every
// tensor argument is copied device → host (copy_to_host, a synchronisation point), the CPU
// backend computes, and the arguments the method writes are copied back (copy_from_host). Correct by construction (the CPU kernels are the ones the
// parity harness checks), slow by design: a CUDA kernel replaces each use (issue 11).
#pragma once

#include <initializer_list>
#include <vector>

#include "tensor/tensor.h"

namespace contra::cuda {

class CudaBackend;

class HostMirror {
 public:
  explicit HostMirror(CudaBackend& backend) : backend_(backend) {}
  // A host copy of device tensor `d` (contiguous; undefined stays undefined). When `written`
  // is true the copy is remembered and write_back() puts it into `d` (which must be contiguous,
  // as the Backend contracts require of outputs).
  Tensor host(const Tensor& d, bool written = false);
  // host() of every tensor of a list.
  std::vector<Tensor> host(const std::vector<Tensor>& ds, bool written = false);
  // Copies every remembered host result back to its device tensor.
  void write_back();

 private:
  CudaBackend& backend_;
  std::vector<std::pair<Tensor, Tensor>> written_;  // (host copy, device tensor)
};

}  // namespace contra::cuda
