// timed_communicator.h — a Communicator that forwards every call to another one and counts the
// wall time spent inside them: the part of communication that computation did not hide
// (a bucket's all-reduce overlapped with backward costs only its poll() and its wait()).
//
//   seconds         Σ wall time inside all_reduce_sum, start_all_reduce_sum, Request::wait,
//                   Request::poll, all_gather, reduce_scatter_sum, broadcast, barrier
//   reduced_bytes   bytes given to all_reduce_sum / start_all_reduce_sum / reduce_scatter_sum
//   gathered_bytes  bytes returned by all_gather (K·n rows)
//   root_wait_seconds  time in barrier_within and (ranks other than 0) run_on_root: waiting
//                   for rank 0's long work alone (the kNN monitor, the final evaluation), kept
//                   apart because it is not communication
//
// On a rank, `seconds` includes waiting for the slowest rank to arrive (a collective cannot
// finish before its last participant enters it): on time-sliced cores this skew is most of it.
// tools/pretrain wraps its world in one when K > 1 and logs `seconds` per step (README, "Data
// parallelism"); bench/dist_train_step does the same around its training step.
#pragma once

#include <cstdint>
#include <memory>

#include "dist/communicator.h"

namespace contra::dist {

struct CommCounters {
  double seconds = 0.0;
  double reduced_bytes = 0.0;
  double gathered_bytes = 0.0;
  double root_wait_seconds = 0.0;
  std::int64_t calls = 0;  // blocking calls and started all-reduces
};

class TimedCommunicator final : public Communicator {
 public:
  explicit TimedCommunicator(std::shared_ptr<Communicator> inner);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::string name() const override { return inner_->name(); }
  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Request> start_all_reduce_sum(const Tensor& x) override;
  Tensor all_gather(const Tensor& x) override;
  Tensor reduce_scatter_sum(const Tensor& x) override;
  void broadcast(const Tensor& x, int root) override;
  void barrier() override;
  void barrier_within(double timeout_s) override;
  void run_on_root(const char* what, const std::function<void()>& work, double max_wait_s) override;

  // Totals since construction (or the last reset); read them between calls.
  const CommCounters& counters() const { return counters_; }
  void reset() { counters_ = {}; }
  Communicator& inner() { return *inner_; }

 private:
  std::shared_ptr<Communicator> inner_;
  CommCounters counters_;
};

}  // namespace contra::dist
