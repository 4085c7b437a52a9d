// batch_norm.h — BatchNorm1d over (N, C) and BatchNorm2d over (N, C, H, W).
//
// Training: y = γ · (x − μ_B) / √(σ²_B + ε) + β with batch statistics over all axes but C,
// and running statistics updated in place (PyTorch semantics):
//   running_mean ← (1 − m) · running_mean + m · μ_B
//   running_var  ← (1 − m) · running_var  + m · σ²_B · n / (n − 1)     (unbiased)
//   num_batches_tracked += 1
// Eval: the running statistics replace the batch ones.
// Names as PyTorch: weight, bias (parameters); running_mean, running_var,
// num_batches_tracked (i64 scalar) (buffers). Init: γ = 1, β = 0, mean 0, var 1.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "nn/module.h"

namespace contra::nn {

struct BatchNormOptions {
  std::int64_t num_features = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;  // learnable γ and β
  DType dtype = DType::f32;
};

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  const BatchNormOptions& options() const { return opt_; }

  // Replaces the training-mode normalisation (after the shape check and num_batches_tracked
  // update; the per-channel count rule is then the replacement's): it gets the input and this layer and must update the running statistics
  // itself. Used for statistics over the global batch of several processes
  // (dist/sync_batch_norm.h: synchronise_batch_norms). Empty (default): this batch's own.
  using TrainingForward = std::function<Tensor(const Tensor& x, BatchNorm& layer)>;
  void set_training_forward(TrainingForward f) { training_forward_ = std::move(f); }
  bool has_training_forward() const { return static_cast<bool>(training_forward_); }

  Tensor weight, bias;                                     // (C,) each, or undefined
  Tensor running_mean, running_var, num_batches_tracked;  // (C,), (C,), () i64

 protected:
  BatchNorm(const char* type_name, int input_rank, const BatchNormOptions& options);
  std::string extra_repr() const override;

 private:
  // num_batches_tracked += 1 without reading the buffer each step (on a GPU item() is a
  // synchronisation point, once per layer per step): the count is kept on the host and
  // written with fill_ (a kernel, no read back). The buffer is read once more only when
  // someone else wrote or replaced it since this layer's last write (load_state_dict,
  // Module::to, copy_, fill_): its storage or version then differs from the recorded one.
  void count_batch();
  std::int64_t batches_counted_ = 0;
  std::weak_ptr<Storage> counted_storage_;  // the buffer's storage at the last write
  std::uint64_t counted_version_ = 0;       // and its version after that write

  int rank_;
  BatchNormOptions opt_;
  TrainingForward training_forward_;
};

// Over (N, C): heads and MLPs.
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNorm("BatchNorm1d", 2, options) {}
  explicit BatchNorm1d(std::int64_t num_features) : BatchNorm1d(BatchNormOptions{num_features}) {}
};

// Over (N, C, H, W): convolutional networks.
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNorm("BatchNorm2d", 4, options) {}
  explicit BatchNorm2d(std::int64_t num_features) : BatchNorm2d(BatchNormOptions{num_features}) {}
};

}  // namespace contra::nn
