// gradient_buckets.h — data-parallel gradient averaging, started during the backward pass.
//
//   ḡ_θ = (1/K) Σ_r g_θ^(r)                      for every parameter θ, on every rank
//
// With each rank's loss scaled as in gathered_loss.h (the mean of the K local losses is the
// one-process loss L), ḡ is ∂L/∂θ of one process with the global batch.
//
// Buckets (PyTorch DDP's design): the parameters are packed, in REVERSE registration order
// (backward reaches the last layers first), into buckets of about bucket_bytes. A
// post-accumulate-grad hook on each parameter (autograd/leaf_hooks.h) marks it ready; when
// every parameter of a bucket is ready the bucket copies the gradients into its flat
// buffer and STARTS the all-reduce (Communicator::start_all_reduce_sum), while the backward
// pass goes on computing the earlier layers' gradients (every later gradient's hook polls the
// buckets in flight, since MPI advances a transfer only inside its calls). finish() waits for all buckets,
// scales by 1/K and writes ḡ back into each parameter's .grad.
//
// Ordering: buckets start in the order their last gradient arrives, which is the same on
// every rank (same graph, deterministic engine order), as MPI requires. A parameter that got
// no gradient in the pass counts as zero: finish() starts the unfinished buckets, in bucket
// order, with zeros for the missing gradients (the same on every rank, or the job times out).
//
// One bucket holds one dtype. Each rank must construct the buckets from the same parameter
// list (the same model). One backward pass per finish(): a second gradient for a parameter
// before finish() (gradient accumulation over several passes) is an error, since its bucket
// may already be on the wire.
//
// Dimension letters: K ranks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/leaf_hooks.h"
#include "dist/communicator.h"
#include "tensor/tensor.h"

namespace contra::dist {

struct BucketOptions {
  std::int64_t bucket_bytes = 4 << 20;  // ~4 MiB per all-reduce (fewer, larger messages; DDP uses 25 MiB)
};

class GradientBuckets {
 public:
  GradientBuckets(std::shared_ptr<Communicator> comm, std::vector<Tensor> params, const BucketOptions& options = {});
  GradientBuckets(const GradientBuckets&) = delete;  // the hooks hold `this`
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // After backward: waits for every bucket, writes ḡ = (1/K) Σ_r g^(r) into each .grad
  // (a zero gradient for parameters the pass did not reach), and rearms for the next pass.
  void finish();

  std::int64_t buckets() const { return static_cast<std::int64_t>(buckets_.size()); }
  // Seconds finish() spent waiting for the all-reduces that backward did not hide (last call).
  double last_wait_seconds() const { return last_wait_s_; }
  // Buckets whose all-reduce started during backward in the last pass (before finish()).
  std::int64_t last_started_during_backward() const { return last_started_early_; }

 private:
  struct Bucket {
    std::vector<std::int64_t> members;  // indices into params_
    std::vector<std::int64_t> offsets;  // element offset of each member in `flat`
    Tensor flat;                        // (Σ numel,) the bucket's buffer
    std::int64_t ready = 0;             // members whose gradient arrived this pass
    std::unique_ptr<Request> pending;   // the started all-reduce
  };
  void on_ready(std::int64_t param);
  void start(Bucket& b);

  std::shared_ptr<Communicator> comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::int64_t> bucket_of_;  // param → bucket
  std::vector<char> arrived_;            // param → gradient arrived this pass
  std::vector<autograd::LeafHookHandle> hooks_;
  double last_wait_s_ = 0.0;
  std::int64_t started_ = 0, last_started_early_ = 0;
};

}  // namespace contra::dist
