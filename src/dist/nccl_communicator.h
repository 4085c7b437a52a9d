// nccl_communicator.h — the Communicator of a K-rank job whose ranks train on CUDA devices:
// collectives on device tensors run with NCCL on the device backend's stream, those on CPU
// tensors (the small agreements of tools/pretrain: stop signal, non-finite flags, run
// directory) with MPI. Built with -Dcuda=enabled and MPI (src/dist/meson.build: NCCL is then
// required unless -Dnccl=disabled). Compiled in CI's cuda-compile stage; not yet run on GPUs.
//
// Start-up (MPI for the bootstrap, as NCCL's examples do):
//   rank 0: ncclGetUniqueId  →  broadcast over the MPI communicator (under its deadline)
//   every rank: cudaSetDevice(device) and ncclCommInitRankConfig(K, id, r) non-blocking
//
//   device tensor                     NCCL, on CudaBackend::stream() of the tensor's device
//     all_reduce_sum                  ncclAllReduce (in place, ncclSum)
//     all_gather                      ncclAllGather      (n, ...) → (K·n, ...)
//     reduce_scatter_sum              ncclReduceScatter  (K·n, ...) → (n, ...)
//     broadcast                       ncclBroadcast (in place)
//   CPU tensor, barrier               the MPI communicator (mpi_communicator.h)
//
// Deadline (communicator.h's failure contract): the communicator is non-blocking
// (ncclConfig_t::blocking = 0); after each NCCL call a cudaEvent is recorded on the stream,
// and the host polls ncclCommGetAsyncError and cudaEventQuery until the collective has run
// on the device or CommOptions::timeout_s passes. Then:
//   NCCL reports an error      → ncclCommAbort, "rank r of K: <call>: <NCCL error>", MPI_Abort
//   deadline passed            → ncclCommAbort, "rank r of K: <call> did not complete within
//                                T s (a peer rank died or is stuck)", MPI_Abort
// ncclCommAbort frees the device from the collective that will never complete (a plain exit
// could hang in the CUDA context's teardown); MPI_Abort ends every rank (exit 70).
//
// Waiting on the host after every collective keeps the deadline but forgoes overlap: a
// bucket's all-reduce started during backward (start_all_reduce_sum) is ordered on the same
// stream as the backward kernels and its Request::wait() waits for it. Overlap needs a second
// stream with events between the two; that is for when this runs on GPUs.
//
// Requirements: one GPU per rank (NCCL refuses two ranks on one device); every device tensor
// on `device`, contiguous; f32/f64 sums, i64 also for gathers and broadcasts.
#pragma once

#include <memory>

#include "dist/communicator.h"
#include "dist/mpi_communicator.h"
#include "tensor/device.h"

namespace contra::dist {

class NcclCommunicator final : public Communicator {
 public:
  // `host`: the job's MPI communicator (bootstrap, CPU tensors, barriers, ending the job).
  // `device`: this rank's GPU. Collective: every rank constructs it at the same point.
  NcclCommunicator(std::shared_ptr<MpiCommunicator> host, Device device, const CommOptions& options);
  ~NcclCommunicator() override;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string name() const override { return "nccl"; }
  Device device() const { return device_; }
  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Request> start_all_reduce_sum(const Tensor& x) override;
  Tensor all_gather(const Tensor& x) override;
  Tensor reduce_scatter_sum(const Tensor& x) override;
  void broadcast(const Tensor& x, int root) override;
  void barrier() override { host_->barrier(); }
  void barrier_within(double timeout_s) override { host_->barrier_within(timeout_s); }
  void run_on_root(const char* what, const std::function<void()>& work, double max_wait_s) override {
    host_->run_on_root(what, work, max_wait_s);
  }

  struct State;  // NCCL and CUDA handles (nccl_communicator.cpp)

 private:
  std::shared_ptr<MpiCommunicator> host_;
  Device device_;
  std::unique_ptr<State> state_;
};

}  // namespace contra::dist
