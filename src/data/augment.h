// augment.h — random augmentation pipelines (SimCLR-style), drawn per (seed, epoch, index, view).
//
// A pipeline is data (AugmentSpec): an optional RandomResizedCrop fused with the
// horizontal flip (one resampling pass per channel, u8 → float), then an ordered list of
// pixel transforms, each applied with its own probability, then Normalize fused into the
// write to the batch tensor. Each view is drawn then rendered:
//   ViewParams p = aug.draw(C, H, W, gen);   // all randomness, in a fixed order
//   aug.render(src, C, H, W, p, out, ws);    // deterministic (transforms.h)
// Draw order per view: crop (torchvision's up-to-10 attempts: area fraction, log-ratio,
// then top, left), flip coin, then for each pixel transform its coin and, if applied, its
// parameters (ColorJitter: the order of the four, then brightness, contrast, saturation,
// hue factors, as torchvision's get_params). The generator for view v of sample i in
// epoch e is Generator::derive(seed, {e, i, v}): identical whatever the thread count (P1).
//
// RandomResizedCrop (torchvision.transforms.RandomResizedCrop.get_params):
//   for 10 attempts: target = area · U(scale), aspect = exp(U(log r0, log r1)),
//     w = round(√(target·aspect)), h = round(√(target/aspect))  (round half to even)
//     if 0 < w ≤ W and 0 < h ≤ H: top = U{0..H−h}, left = U{0..W−w}; done
//   fallback: centre crop with the aspect clamped to [r0, r1].
// Resampling: Pillow's (resample.h), bilinear or bicubic.
//
// Dimension legend: C channels, H, W source size, OH, OW output size.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "data/resample.h"
#include "data/transforms.h"
#include "tensor/generator.h"

namespace contra::data {

struct RandomResizedCrop {
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  Interpolation interpolation = Interpolation::bicubic;
};

struct ColorJitter {
  double p = 0.8;  // RandomApply probability
  double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;
};

struct RandomGrayscale {
  double p = 0.2;
};

struct GaussianBlur {
  double p = 0.5;
  int kernel_size = 3;  // odd
  double sigma_min = 0.1, sigma_max = 2.0;
};

struct Solarize {
  double p = 0.0;
  double threshold = 0.5;
};

using PixelTransform = std::variant<ColorJitter, RandomGrayscale, GaussianBlur, Solarize>;

struct AugmentSpec {
  std::string name;    // e.g. "simclr_cifar"
  std::string source;  // which published system it follows
  int out_height = 32, out_width = 32;
  bool random_crop = true;   // false: no crop (the image is resized to the output when sizes differ)
  RandomResizedCrop crop;
  double hflip_p = 0.5;
  std::vector<PixelTransform> ops;  // in order
  std::vector<float> mean, std;     // per channel; empty = no normalisation
  std::string describe() const;     // one line per step, for --help and logs
};

// The parameters drawn for one view.
struct ViewParams {
  CropBox crop;
  bool flip = false;
  struct Op {
    bool applied = false;
    std::array<int, 4> order{0, 1, 2, 3};  // ColorJitter: 0 brightness, 1 contrast, 2 saturation, 3 hue
    std::array<float, 4> factors{1.f, 1.f, 1.f, 0.f};
    float sigma = 0.f;  // GaussianBlur
  };
  std::vector<Op> ops;  // one per spec op
};

// Per-thread scratch buffers (reused across views; no allocation after the first view).
struct AugmentWorkspace {
  std::vector<float> image, scratch;
  // Resampling weights by (input size, output size, interpolation): crops of small images
  // repeat sizes, so this avoids recomputing the filter for every view.
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const ResampleWeights>>> weights;
  std::shared_ptr<const ResampleWeights> weights_for(int in_size, int out_size, Interpolation mode);
};

class Augment {
 public:
  Augment() = default;
  explicit Augment(AugmentSpec spec);  // validates the spec (throws contra::Error)

  const AugmentSpec& spec() const { return spec_; }
  int out_height() const { return spec_.out_height; }
  int out_width() const { return spec_.out_width; }

  ViewParams draw(int channels, int height, int width, Generator& gen) const;
  // src: (C, H, W) u8; out: (C, OH, OW) float, normalised.
  void render(const std::uint8_t* src, int channels, int height, int width, const ViewParams& p,
              float* out, AugmentWorkspace& ws) const;
  // draw + render with Generator::derive(seed, {epoch, index, view}).
  void apply(const std::uint8_t* src, int channels, int height, int width, std::uint64_t seed,
             std::uint64_t epoch, std::uint64_t index, std::uint64_t view, float* out,
             AugmentWorkspace& ws) const;

 private:
  AugmentSpec spec_;
};

// torchvision RandomResizedCrop.get_params.
CropBox random_resized_crop_box(int height, int width, const RandomResizedCrop& c, Generator& gen);

// Presets. Each names the system it follows (recipes.md).
//   simclr_cifar:   RRC 32 (scale 0.08–1, ratio 3/4–4/3, bicubic as SimCLR's official
//                   data_util.py), flip 0.5, ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8,
//                   grayscale p 0.2, no blur, CIFAR mean/std.
//   fashion_mnist:  one channel: RRC 28 (scale 0.2–1, bilinear, as the measured
//                   Fashion-MNIST-LT job in recipes.md), flip 0.5, no colour steps,
//                   Fashion-MNIST mean/std (0.2860, 0.3530).
//   simclr_imagenet: RRC size (bicubic), flip, jitter 0.8/(0.4, 0.4, 0.4, 0.1) — SimCLR
//                   uses s = 1.0 (0.8, 0.8, 0.8, 0.2) — grayscale 0.2, blur p 0.5,
//                   σ ∈ [0.1, 2], kernel ≈ 10% of the side (odd).
//   eval:           no randomness; normalisation only.
AugmentSpec simclr_cifar_preset(std::vector<float> mean = {0.4914f, 0.4822f, 0.4465f},
                                std::vector<float> std = {0.2470f, 0.2435f, 0.2616f},
                                Interpolation interpolation = Interpolation::bicubic, int size = 32);
AugmentSpec fashion_mnist_preset(std::vector<float> mean = {0.2860f}, std::vector<float> std = {0.3530f},
                                 int size = 28, double scale_min = 0.2);
AugmentSpec simclr_imagenet_preset(std::vector<float> mean, std::vector<float> std, int size,
                                   double strength = 1.0);
AugmentSpec eval_preset(std::vector<float> mean, std::vector<float> std, int height, int width);

// By name: "simclr_cifar", "fashion_mnist", "simclr_imagenet", "eval"; `channels`,
// `height`, `width` and the stats come from the dataset. Unknown names list valid ones.
AugmentSpec augment_preset(const std::string& name, int channels, int height, int width,
                           std::vector<float> mean, std::vector<float> std);
// The preset a dataset uses by default: 1 channel → fashion_mnist, else simclr_cifar
// (≤ 64 px) or simclr_imagenet.
std::string default_preset_for(int channels, int height);

}  // namespace contra::data
