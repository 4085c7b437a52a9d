#include "train/linear_probe.h"

#include <algorithm>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"
#include "tensor/generator.h"
#include "train/signals.h"

namespace contra::train {

LinearProbeResult linear_probe(const Tensor& train_features, const std::vector<std::int64_t>& train_labels,
                               const Tensor& test_features, int num_classes, const LinearProbeOptions& opt) {
  CONTRA_CHECK(train_features.dim() == 2 && test_features.dim() == 2 && train_features.size(1) == test_features.size(1),
               "linear_probe", "features must be (N, D) and (Q, D), got ", shape_str(train_features.shape()), " and ",
               shape_str(test_features.shape()));
  const std::int64_t N = train_features.size(0), D = train_features.size(1);
  CONTRA_CHECK(static_cast<std::int64_t>(train_labels.size()) == N && N > 0, "linear_probe", train_labels.size(),
               " labels for ", N, " feature rows");
  autograd::EnableGradGuard grad_on;  // callers usually evaluate under NoGradGuard
  const Tensor X = train_features.to(DType::f32).contiguous();
  const Tensor labels = Tensor::from_vector<std::int64_t>(train_labels, {N});
  Generator gen(opt.seed);
  nn::Linear fc(D, num_classes, true, gen);
  const std::int64_t B = std::min(opt.batch_size, N);
  const std::int64_t steps_per_epoch = (N + B - 1) / B;
  const double lr = opt.base_lr * static_cast<double>(B) / 256.0;
  nn::SGD sgd({nn::make_group(fc.named_parameters(), lr, opt.weight_decay)}, nn::SGDOptions{opt.momentum, 0.0, false});
  const nn::WarmupCosineSchedule schedule(lr, 0, opt.epochs * steps_per_epoch, 0.0);

  LinearProbeResult result;
  std::vector<std::int64_t> order(static_cast<size_t>(N));
  std::int64_t step = 0;
  for (std::int64_t epoch = 0; epoch < opt.epochs; ++epoch) {
    stop_point();  // a signal stops the probe between epochs (S4)
    std::iota(order.begin(), order.end(), 0);
    for (std::int64_t i = N - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<std::uint64_t>(i + 1))]);
    double loss_sum = 0.0;
    for (std::int64_t s = 0; s < steps_per_epoch; ++s) {
      const std::int64_t b0 = s * B, b1 = std::min(N, b0 + B);
      const Tensor idx = Tensor::from_vector<std::int64_t>(std::vector<std::int64_t>(order.begin() + b0, order.begin() + b1), {b1 - b0});
      sgd.set_lr(schedule(step++));
      // ℓ = CE(W f + b, y) over the mini-batch
      const Tensor loss = cross_entropy(fc(index_select(X, 0, idx)), index_select(labels, 0, idx));
      backward(loss);
      sgd.step();
      sgd.zero_grad();
      loss_sum += loss.item() * static_cast<double>(b1 - b0);
    }
    result.final_train_loss = loss_sum / static_cast<double>(N);
  }
  autograd::NoGradGuard no_grad;  // prediction only
  const Tensor logits = fc(test_features.to(DType::f32));  // (Q, C)
  const auto lv = logits.contiguous().to_vector<float>();
  const std::int64_t Q = logits.size(0);
  result.predictions.resize(static_cast<size_t>(Q));
  for (std::int64_t q = 0; q < Q; ++q) {
    const float* row = lv.data() + q * num_classes;
    result.predictions[q] = std::max_element(row, row + num_classes) - row;
  }
  return result;
}

}  // namespace contra::train
