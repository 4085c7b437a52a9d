// evaluation.h — what a pretrained encoder is worth: kNN, linear probe, per-class and
// long-tailed group accuracy, the prototype representation bias, and the baselines.
//
// Protocols (recipes.md "Evaluation"):
//  - features: eval-mode backbone (BN running statistics), pooled (N, D), no augmentation,
//    extracted once per encoder and reused by every measurement;
//  - kNN: cosine, k = 200, votes exp(s / 0.1); bank = the balanced training set
//    ("full bank") and, for long-tailed runs, the pretraining subset ("LT bank");
//  - linear probe: on cached features of the balanced training set (full-shot), and
//    few-shot probes on 5 seeded draws of 100 and of 50 images per class (recipes.md);
//  - per-class accuracy and many/medium/few groups by the pretraining class counts;
//  - PRB (docs/derivation.md §3): K augmented views of a seeded, class-balanced subset of the test
//    set through the frozen backbone (features) and head (outputs) ("prb"); for long-tailed
//    runs also of a seeded uniform subset of the pretraining images, so the long tail keeps
//    its proportions ("prb_pretrain");
//  - baselines: the same architecture at its random initialisation, and raw pixels.
// Devices: the forward passes (features, PRB views) run on each encoder's device (the
// backbone's: move it with Module::to first); the features are cached on the host, and the
// kNN and linear probes run there, on the CPU, whatever the encoder's device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/dataset_registry.h"
#include "nn/module.h"
#include "nn/resnet.h"
#include "train/class_metrics.h"
#include "train/knn.h"
#include "train/linear_probe.h"

namespace contra::train {

struct EvalData {
  std::shared_ptr<const data::Dataset> pretrain;  // the (possibly long-tailed) pretraining set
  std::shared_ptr<const data::Dataset> train;     // balanced training set (probe and full kNN bank)
  std::shared_ptr<const data::Dataset> test;      // balanced test set
  data::ChannelStats stats;                       // normalisation
  data::AugmentSpec augment;                      // for the PRB views
};

struct EvalOptions {
  KnnOptions knn;
  LinearProbeOptions probe;
  std::vector<std::int64_t> few_shot = {100, 50};  // images per class (0 entries are skipped)
  int few_shot_draws = 5;
  int prb_views = 8;
  std::int64_t prb_images = 2000;               // test images (class-balanced, seeded), and at most
                                                // this many pretraining images (uniform, seeded)
  bool prb_pretrain = true;                     // PRB on the long-tailed pretraining images too
  bool random_baseline = true;
  bool pixel_baseline = true;
  std::uint64_t seed = 0;
  int workers = 2;
  std::int64_t batch_size = 512;
};

// An encoder under evaluation: the backbone (and optionally the head, for PRB of outputs).
struct Encoder {
  std::string name;                  // "pretrained", "random init"
  nn::ResNet* backbone = nullptr;
  nn::Module* head = nullptr;        // may be null
};

// Eval-mode pooled features for every image of `d`: (N, D) f32.
Tensor extract_features(nn::ResNet& backbone, const std::shared_ptr<const data::Dataset>& d, const data::ChannelStats& stats,
                        std::int64_t batch_size, int workers);
// Normalised, flattened pixels: (N, C·H·W) f32.
Tensor pixel_features(const data::Dataset& d, const data::ChannelStats& stats);

// What an evaluation measured; eval_writer.h turns it into files.
struct EvalResults {
  nlohmann::json json;  // dataset, class counts, protocol, and per encoder: kNN, probes, groups, PRB
  std::vector<std::pair<std::string, Tensor>> test_features;  // ("pretrained" | "random_init", (N, D))
};

// Runs every measurement and returns the results; writes nothing. `log` receives progress lines.
EvalResults evaluate(const std::vector<Encoder>& encoders, const EvalData& data, const EvalOptions& options,
                     const std::function<void(const std::string&)>& log);

}  // namespace contra::train
