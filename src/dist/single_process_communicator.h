// single_process_communicator.h — the world of one rank (K = 1): every collective is the identity.
//
//   all_reduce_sum: x ← x      all_gather, reduce_scatter_sum: x (a copy)      broadcast, barrier: nothing
//
// Tensors on any device (nothing moves).
//
// Always built; what a build without MPI, or a program started without mpirun, runs on. The
// data-parallel code paths (gathered losses, synchronised BN, gradient buckets) then reduce to
// the one-process computation, so one code path serves K = 1 and K > 1.
#pragma once

#include "dist/communicator.h"

namespace contra::dist {

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single-process"; }
  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Request> start_all_reduce_sum(const Tensor& x) override;
  Tensor all_gather(const Tensor& x) override;
  Tensor reduce_scatter_sum(const Tensor& x) override;
  void broadcast(const Tensor& x, int root) override;
  void barrier() override {}
  void barrier_within(double) override {}
  void run_on_root(const char*, const std::function<void()>& work, double) override { work(); }
};

}  // namespace contra::dist
