// single_process_communicator.cpp — K = 1. See single_process_communicator.h.
#include "dist/single_process_communicator.h"

#include "tensor/error.h"

namespace contra::dist {

namespace {
struct CompletedRequest final : Request {
  void wait() override {}
  bool poll() override { return true; }
};
}  // namespace

void SingleProcessCommunicator::all_reduce_sum(const Tensor& x) {
  check_buffer(x, "all_reduce_sum", true, x.device());  // Σ over one rank: x itself
}

std::unique_ptr<Request> SingleProcessCommunicator::start_all_reduce_sum(const Tensor& x) {
  check_buffer(x, "start_all_reduce_sum", true, x.device());
  return std::make_unique<CompletedRequest>();
}

Tensor SingleProcessCommunicator::all_gather(const Tensor& x) {
  check_buffer(x, "all_gather", false, x.device());
  return x.clone();  // (1·n, ...): a fresh tensor, as with K > 1
}

Tensor SingleProcessCommunicator::reduce_scatter_sum(const Tensor& x) {
  check_buffer(x, "reduce_scatter_sum", true, x.device());
  return x.clone();  // (1·n, ...) → (n, ...)
}

void SingleProcessCommunicator::broadcast(const Tensor& x, int root) {
  check_buffer(x, "broadcast", false, x.device());
  CONTRA_CHECK(root == 0, "broadcast", "root rank ", root, " does not exist in a world of size 1");
}

}  // namespace contra::dist
