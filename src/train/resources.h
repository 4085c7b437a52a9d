// resources.h — what a run takes from the machine, checked before it is taken:
//  - memory: one training step's needs, estimated from the model and the batch before the
//    first step (reliability.md I8) and compared with tensor/system.h's available_memory();
//  - the run directory: an exclusive lock (flock), so two trainers never write one run (C7).
#pragma once

#include <cstdint>
#include <string>

#include "train/config.h"

namespace contra::train {

// Bytes one training step holds at its peak (f32), by part. The activations are the
// tensors autograd keeps for backward plus the gradients alive during it, modelled as
// kActivationFactor × (the elements of every convolution output) × 4 bytes × M (M = batch ×
// views). The factor comes from measured peak resident memory of `pretrain` (ResNet-18 width
// 1/4–1 at batch 64–256 and ResNet-50: the whole estimate is 1.0–1.5× the peak RSS), which
// exceeds the caching allocator's peak of live tensors (cached free blocks, oneDNN's own
// buffers); test_train_infra checks estimate / allocator peak stays within [1, 3].
struct StepMemory {
  std::uint64_t parameters = 0;   // weights, gradients and optimizer state
  std::uint64_t activations = 0;  // backbone and head, forward + backward
  std::uint64_t loss = 0;         // the M × M similarity, logits and their gradient
  std::uint64_t batches = 0;      // the batch in use and the loader's prefetched ones
  std::uint64_t per_image = 0;    // what one more image (all its views) adds
  std::uint64_t total() const { return parameters + activations + loss + batches; }
};
inline constexpr double kActivationFactor = 3.0;

// Parameters of the backbone and head that `c` builds for `channels` input channels.
std::uint64_t count_parameters(const PretrainConfig& c, std::int64_t channels);
StepMemory estimate_step_memory(const PretrainConfig& c, std::int64_t channels, std::int64_t height,
                                std::int64_t width);

// Throws contra::Error when the step does not fit: "one training step (...) needs X GiB,
// this machine has Y GiB available (...)" with a hint naming the largest batch that fits.
// CONTRA_SKIP_MEMORY_CHECK=1 skips it (an allocation that then fails still ends in the same
// kind of message, from the allocator).
void check_step_memory(const PretrainConfig& c, std::int64_t channels, std::int64_t height, std::int64_t width);

// An exclusive lock on a run directory: `<dir>/lock`, flock(LOCK_EX | LOCK_NB), holding the
// owner's PID. Released when the object dies or the process ends (even by kill -9). A second
// holder is refused with a UsageError naming the first one's PID.
class RunLock {
 public:
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// A run directory that this process may have created: unless keep() is called (once the
// run has written into it), the destructor removes what it created while it is still
// empty (the lock, empty checkpoints/ and eval/, the directory itself), so a refused or
// failed start leaves no empty run directory behind. Never removes anything else.
class NewRunDirectory {
 public:
  explicit NewRunDirectory(std::string dir);
  ~NewRunDirectory();
  void keep() { keep_ = true; }

 private:
  std::string dir_;
  bool existed_ = true, keep_ = false;
};

}  // namespace contra::train
