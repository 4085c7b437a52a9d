// timed_communicator.cpp — wall time and bytes of every collective. See timed_communicator.h.
#include "dist/timed_communicator.h"

#include <chrono>

namespace contra::dist {

namespace {

using Clock = std::chrono::steady_clock;

double bytes_of(const Tensor& x) { return static_cast<double>(x.numel()) * static_cast<double>(dtype_size(x.dtype())); }

// Adds the wall time of its lifetime to *sum.
struct Stopwatch {
  double* sum;
  Clock::time_point t0 = Clock::now();
  explicit Stopwatch(double* s) : sum(s) {}
  ~Stopwatch() { *sum += std::chrono::duration<double>(Clock::now() - t0).count(); }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;
};

// A started all-reduce whose wait() and poll() are timed into the owner's counters.
struct TimedRequest final : Request {
  std::unique_ptr<Request> inner;
  CommCounters* counters;
  TimedRequest(std::unique_ptr<Request> r, CommCounters* c) : inner(std::move(r)), counters(c) {}
  void wait() override {
    Stopwatch w(&counters->seconds);
    inner->wait();
  }
  bool poll() override {
    Stopwatch w(&counters->seconds);
    return inner->poll();
  }
  ~TimedRequest() override {
    Stopwatch w(&counters->seconds);  // the inner request's destructor may still wait
    inner.reset();
  }
};

}  // namespace

TimedCommunicator::TimedCommunicator(std::shared_ptr<Communicator> inner) : inner_(std::move(inner)) {}

void TimedCommunicator::all_reduce_sum(const Tensor& x) {
  Stopwatch w(&counters_.seconds);
  inner_->all_reduce_sum(x);
  counters_.reduced_bytes += bytes_of(x);
  ++counters_.calls;
}

std::unique_ptr<Request> TimedCommunicator::start_all_reduce_sum(const Tensor& x) {
  Stopwatch w(&counters_.seconds);
  auto r = std::make_unique<TimedRequest>(inner_->start_all_reduce_sum(x), &counters_);
  counters_.reduced_bytes += bytes_of(x);
  ++counters_.calls;
  return r;
}

Tensor TimedCommunicator::all_gather(const Tensor& x) {
  Stopwatch w(&counters_.seconds);
  Tensor y = inner_->all_gather(x);
  counters_.gathered_bytes += bytes_of(y);
  ++counters_.calls;
  return y;
}

Tensor TimedCommunicator::reduce_scatter_sum(const Tensor& x) {
  Stopwatch w(&counters_.seconds);
  Tensor y = inner_->reduce_scatter_sum(x);
  counters_.reduced_bytes += bytes_of(x);
  ++counters_.calls;
  return y;
}

void TimedCommunicator::broadcast(const Tensor& x, int root) {
  Stopwatch w(&counters_.seconds);
  inner_->broadcast(x, root);
  ++counters_.calls;
}

void TimedCommunicator::barrier() {
  Stopwatch w(&counters_.seconds);
  inner_->barrier();
  ++counters_.calls;
}

void TimedCommunicator::barrier_within(double timeout_s) {
  Stopwatch w(&counters_.root_wait_seconds);
  inner_->barrier_within(timeout_s);
}

void TimedCommunicator::run_on_root(const char* what, const std::function<void()>& work, double max_wait_s) {
  if (rank() == 0) return inner_->run_on_root(what, work, max_wait_s);  // rank 0 works: not waiting time
  Stopwatch w(&counters_.root_wait_seconds);
  inner_->run_on_root(what, work, max_wait_s);
}

}  // namespace contra::dist
