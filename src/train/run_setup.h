// run_setup.h — what a run builds from its configuration: dataset options, augmentation,
// backbone and head. Shared by tools/pretrain and tools/evaluate, so an evaluation
// rebuilds exactly what the training used.
#pragma once

#include <cstdint>
#include <memory>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/dataset_registry.h"
#include "nn/module.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "train/config.h"

namespace contra::train {

// Dataset root, long-tailed construction and synthetic seed of a run (all from
// data.split_seed, so that run.seed varies only the training).
data::DatasetOptions dataset_options(const PretrainConfig& c);

// The data of a run: the pretraining set (long-tailed construction and the seeded
// max_train_images subset applied), the test set, the normalisation statistics, and —
// when asked for — the balanced training set it was drawn from (the pretraining set
// itself when nothing was drawn).
struct RunData {
  std::shared_ptr<const data::Dataset> pretrain, test, balanced_train;
  data::ChannelStats stats;
};
RunData open_run_data(const PretrainConfig& c, bool with_balanced_train);

// The run's augmentation for images of C×H×W (preset, crop scale, jitter, normalisation).
data::AugmentSpec augment_spec(const PretrainConfig& c, int channels, int height, int width,
                               const data::ChannelStats& stats);

// Sets the colour-jitter strength (data.jitter): brightness = contrast (= saturation for
// RGB) = jitter, hue = jitter/4 for RGB, p = 0.8; adds the step when the preset has none;
// jitter < 0 leaves the preset alone.
void apply_jitter(data::AugmentSpec& spec, double jitter, int channels);

nn::ResNetConfig backbone_config(const PretrainConfig& c, std::int64_t in_channels);
nn::ProjectionHeadConfig head_config(const PretrainConfig& c, std::int64_t feature_dim);

// The whole model's tensors: backbone under torchvision's names, the head under "head.".
nn::StateDict model_state(const nn::ResNet& backbone, const nn::Module& head);
nn::NamedTensors model_parameters(const nn::ResNet& backbone, const nn::Module& head);
// Loads model tensors written by model_state (strict; `fc.*` ignored; a missing head is
// allowed for plain backbone weights).
void load_model(const nn::StateDict& weights, nn::ResNet& backbone, nn::Module& head);

// "cifar10_lt" → "cifar10": the balanced dataset a long-tailed one is drawn from.
std::string balanced_dataset_name(const std::string& name);

}  // namespace contra::train
