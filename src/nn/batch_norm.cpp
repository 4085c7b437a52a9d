// batch_norm.cpp — BatchNorm layers over the differentiable `batch_norm` op.
#include "nn/batch_norm.h"

#include "autograd/checkpoint.h"

#include "autograd/grad_mode.h"
#include "autograd/nn_ops.h"
#include "tensor/error.h"

namespace contra::nn {

BatchNorm::BatchNorm(const char* type_name, int input_rank, const BatchNormOptions& o)
    : Module(type_name), rank_(input_rank), opt_(o) {
  CONTRA_CHECK(o.num_features > 0 && o.eps > 0 && o.momentum >= 0 && o.momentum <= 1, type_name,
               "invalid options: num_features=", o.num_features, " eps=", o.eps, " momentum=", o.momentum);
  const std::int64_t C = o.num_features;
  if (o.affine) {
    weight = register_parameter("weight", Tensor::ones({C}, o.dtype));
    bias = register_parameter("bias", Tensor::zeros({C}, o.dtype));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({C}, o.dtype));
  running_var = register_buffer("running_var", Tensor::ones({C}, o.dtype));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
  counted_storage_ = num_batches_tracked.storage();  // holds batches_counted_ = 0
  counted_version_ = num_batches_tracked.version();
}

void BatchNorm::count_batch() {
  const bool ours = counted_storage_.lock() == num_batches_tracked.storage() &&
                    counted_version_ == num_batches_tracked.version();
  if (!ours) batches_counted_ = static_cast<std::int64_t>(num_batches_tracked.item());  // loaded or moved: read once
  num_batches_tracked.fill_(static_cast<double>(++batches_counted_));
  counted_storage_ = num_batches_tracked.storage();
  counted_version_ = num_batches_tracked.version();
}

Tensor BatchNorm::forward(const Tensor& x) {
  CONTRA_CHECK(x.dim() == rank_ && x.size(1) == opt_.num_features, type_name(), "expects input ",
               rank_ == 2 ? "(N, " : "(N, ", opt_.num_features, rank_ == 2 ? ")" : ", H, W)", ", got ",
               shape_str(x.shape()));
  if (is_training()) {
    // (a training_forward over several processes checks the GLOBAL count itself)
    CONTRA_CHECK(training_forward_ || x.numel() / opt_.num_features > 1, type_name(),
                 "training needs more than one value per channel, got input ", shape_str(x.shape()),
                 "; use a batch of at least 2 or eval()");
    {
      autograd::NoGradGuard no_grad;
      // Counted once per batch: not again when a checkpoint recomputes this forward.
      if (!autograd::is_recomputing()) count_batch();
    }
    if (training_forward_) return training_forward_(x, *this);
  }
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), opt_.momentum, opt_.eps);
}

std::string BatchNorm::extra_repr() const {
  return detail::concat(opt_.num_features, ", eps=", opt_.eps, ", momentum=", opt_.momentum,
                        ", affine=", opt_.affine ? "True" : "False");
}

}  // namespace contra::nn
