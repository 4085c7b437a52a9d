// augment.cpp — drawing and rendering augmentation views (see augment.h).
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "tensor/error.h"

namespace contra::data {

namespace {
const char* kWhere = "augment";

void check_p(double p, const char* what) {
  CONTRA_CHECK(p >= 0.0 && p <= 1.0, kWhere, what, " probability ", p, " is outside [0, 1]");
}

template <class... F> struct Overloaded : F... { using F::operator()...; };
template <class... F> Overloaded(F...) -> Overloaded<F...>;
}  // namespace

std::shared_ptr<const ResampleWeights> AugmentWorkspace::weights_for(int in_size, int out_size, Interpolation mode) {
  const std::uint64_t key = static_cast<std::uint64_t>(in_size) << 32 |
                            static_cast<std::uint64_t>(out_size) << 1 |
                            (mode == Interpolation::bicubic ? 1u : 0u);
  for (const auto& [k, w] : weights)
    if (k == key) return w;
  if (weights.size() >= 512) weights.clear();
  weights.emplace_back(key, std::make_shared<const ResampleWeights>(resample_weights(in_size, out_size, mode)));
  return weights.back().second;
}

CropBox random_resized_crop_box(int height, int width, const RandomResizedCrop& c, Generator& gen) {
  const double area = static_cast<double>(height) * width;
  const double log_r0 = std::log(c.ratio_min), log_r1 = std::log(c.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * gen.uniform(c.scale_min, c.scale_max);
    const double aspect = std::exp(gen.uniform(log_r0, log_r1));
    // Python's round(): half to even, which nearbyint gives in the default rounding mode.
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target * aspect)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = static_cast<int>(gen.below(static_cast<std::uint64_t>(height - h + 1)));
      const int left = static_cast<int>(gen.below(static_cast<std::uint64_t>(width - w + 1)));
      return CropBox{top, left, h, w};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w, h;
  if (in_ratio < c.ratio_min) {
    w = width;
    h = static_cast<int>(std::nearbyint(w / c.ratio_min));
  } else if (in_ratio > c.ratio_max) {
    h = height;
    w = static_cast<int>(std::nearbyint(h * c.ratio_max));
  } else {
    w = width;
    h = height;
  }
  return CropBox{(height - h) / 2, (width - w) / 2, h, w};
}

Augment::Augment(AugmentSpec spec) : spec_(std::move(spec)) {
  const auto& s = spec_;
  CONTRA_CHECK(s.out_height > 0 && s.out_height <= 4096 && s.out_width > 0 && s.out_width <= 4096,
               kWhere, "output size ", s.out_height, "x", s.out_width, " is outside [1, 4096]");
  CONTRA_CHECK(s.crop.scale_min > 0 && s.crop.scale_min <= s.crop.scale_max && s.crop.scale_max <= 1.0,
               kWhere, "crop scale (", s.crop.scale_min, ", ", s.crop.scale_max,
               ") must satisfy 0 < min ≤ max ≤ 1");
  CONTRA_CHECK(s.crop.ratio_min > 0 && s.crop.ratio_min <= s.crop.ratio_max, kWhere, "crop ratio (",
               s.crop.ratio_min, ", ", s.crop.ratio_max, ") must satisfy 0 < min ≤ max");
  check_p(s.hflip_p, "flip");
  CONTRA_CHECK(s.mean.size() == s.std.size(), kWhere, "normalisation has ", s.mean.size(),
               " means but ", s.std.size(), " stds");
  for (float v : s.std) CONTRA_CHECK(v > 0.f, kWhere, "normalisation std ", v, " must be positive");
  for (const auto& op : s.ops)
    std::visit(Overloaded{
                   [](const ColorJitter& j) {
                     check_p(j.p, "colour jitter");
                     CONTRA_CHECK(j.brightness >= 0 && j.contrast >= 0 && j.saturation >= 0,
                                  kWhere, "colour jitter strengths must be ≥ 0");
                     CONTRA_CHECK(j.hue >= 0 && j.hue <= 0.5, kWhere, "hue ", j.hue,
                                  " is outside [0, 0.5]");
                   },
                   [](const RandomGrayscale& g) { check_p(g.p, "grayscale"); },
                   [](const GaussianBlur& b) {
                     check_p(b.p, "blur");
                     CONTRA_CHECK(b.kernel_size >= 1 && b.kernel_size % 2 == 1, kWhere,
                                  "blur kernel size ", b.kernel_size, " must be odd and positive");
                     CONTRA_CHECK(b.sigma_min > 0 && b.sigma_min <= b.sigma_max, kWhere,
                                  "blur sigma range (", b.sigma_min, ", ", b.sigma_max,
                                  ") must satisfy 0 < min ≤ max");
                   },
                   [](const Solarize& z) {
                     check_p(z.p, "solarize");
                     CONTRA_CHECK(z.threshold >= 0 && z.threshold <= 1, kWhere,
                                  "solarize threshold ", z.threshold, " is outside [0, 1]");
                   }},
               op);
}

ViewParams Augment::draw(int channels, int height, int width, Generator& gen) const {
  ViewParams p;
  if (spec_.random_crop) p.crop = random_resized_crop_box(height, width, spec_.crop, gen);
  else p.crop = CropBox{0, 0, height, width};
  p.flip = spec_.hflip_p > 0 && gen.uniform() < spec_.hflip_p;
  p.ops.resize(spec_.ops.size());
  for (std::size_t i = 0; i < spec_.ops.size(); ++i) {
    ViewParams::Op& o = p.ops[i];
    std::visit(Overloaded{
                   [&](const ColorJitter& j) {
                     o.applied = gen.uniform() < j.p;
                     if (!o.applied) return;
                     // torchvision: fn_idx = randperm(4), then b, c, s, h in that order.
                     for (int k = 3; k > 0; --k)
                       std::swap(o.order[static_cast<std::size_t>(k)],
                                 o.order[gen.below(static_cast<std::uint64_t>(k + 1))]);
                     if (j.brightness > 0) o.factors[0] = static_cast<float>(gen.uniform(std::max(0.0, 1 - j.brightness), 1 + j.brightness));
                     if (j.contrast > 0) o.factors[1] = static_cast<float>(gen.uniform(std::max(0.0, 1 - j.contrast), 1 + j.contrast));
                     if (j.saturation > 0) o.factors[2] = static_cast<float>(gen.uniform(std::max(0.0, 1 - j.saturation), 1 + j.saturation));
                     if (j.hue > 0) o.factors[3] = static_cast<float>(gen.uniform(-j.hue, j.hue));
                   },
                   [&](const RandomGrayscale& g) { o.applied = gen.uniform() < g.p; },
                   [&](const GaussianBlur& b) {
                     o.applied = gen.uniform() < b.p;
                     if (o.applied) o.sigma = static_cast<float>(gen.uniform(b.sigma_min, b.sigma_max));
                   },
                   [&](const Solarize& z) { o.applied = gen.uniform() < z.p; }},
               spec_.ops[i]);
  }
  (void)channels;
  return p;
}

void Augment::render(const std::uint8_t* src, int C, int H, int W, const ViewParams& p, float* out,
                     AugmentWorkspace& ws) const {
  const int OH = spec_.out_height, OW = spec_.out_width;
  CONTRA_CHECK(C == 1 || C == 3, kWhere, "images must have 1 or 3 channels, got ", C);
  CONTRA_CHECK(spec_.mean.empty() || static_cast<int>(spec_.mean.size()) == C, kWhere, "preset '",
               spec_.name, "' normalises ", spec_.mean.size(), " channels but the image has ", C);
  CONTRA_ASSERT(p.ops.size() == spec_.ops.size(), "view params from another spec");
  const std::size_t plane = static_cast<std::size_t>(OH) * OW;
  if (ws.image.size() < plane * C) ws.image.resize(plane * C);
  PlanarImage img{ws.image.data(), C, OH, OW};
  const CropBox& b = p.crop;
  CONTRA_ASSERT(b.top >= 0 && b.left >= 0 && b.height > 0 && b.width > 0 && b.top + b.height <= H &&
                    b.left + b.width <= W,
                "crop box outside the image");
  if (b.height == OH && b.width == OW) {
    // No resampling needed: convert (and mirror) directly.
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < OH; ++y) {
        const std::uint8_t* s = src + (static_cast<std::size_t>(c) * H + b.top + y) * W + b.left;
        float* d = img.channel(c) + static_cast<std::size_t>(y) * OW;
        if (p.flip) for (int x = 0; x < OW; ++x) d[OW - 1 - x] = s[x] * (1.f / 255.f);
        else for (int x = 0; x < OW; ++x) d[x] = s[x] * (1.f / 255.f);
      }
  } else {
    const Interpolation mode = spec_.random_crop ? spec_.crop.interpolation : Interpolation::bilinear;
    const auto wxp = ws.weights_for(b.width, OW, mode);
    const auto wyp = ws.weights_for(b.height, OH, mode);
    const ResampleWeights& wx = *wxp;
    const ResampleWeights& wy = *wyp;
    const std::size_t need = static_cast<std::size_t>(b.height) * OW;
    if (ws.scratch.size() < need) ws.scratch.resize(need);
    for (int c = 0; c < C; ++c)
      resample_plane_u8(src + static_cast<std::size_t>(c) * H * W, W, b.top, b.left, b.height,
                        b.width, wx, wy, p.flip, img.channel(c), ws.scratch.data());
  }
  for (std::size_t i = 0; i < spec_.ops.size(); ++i) {
    const ViewParams::Op& o = p.ops[i];
    if (!o.applied) continue;
    std::visit(Overloaded{
                   [&](const ColorJitter& j) {
                     for (int k : o.order) {
                       const float f = o.factors[static_cast<std::size_t>(k)];
                       if (k == 0 && j.brightness > 0) adjust_brightness(img, f);
                       else if (k == 1 && j.contrast > 0) adjust_contrast(img, f);
                       else if (k == 2 && j.saturation > 0) adjust_saturation(img, f);
                       else if (k == 3 && j.hue > 0) adjust_hue(img, f);
                     }
                   },
                   [&](const RandomGrayscale&) { to_grayscale(img); },
                   [&](const GaussianBlur& bl) {
                     if (ws.scratch.size() < plane) ws.scratch.resize(plane);
                     gaussian_blur(img, bl.kernel_size, o.sigma, ws.scratch.data());
                   },
                   [&](const Solarize& z) { solarize(img, static_cast<float>(z.threshold)); }},
               spec_.ops[i]);
  }
  if (spec_.mean.empty()) std::memcpy(out, img.data, plane * C * sizeof(float));
  else normalize(img, spec_.mean.data(), spec_.std.data(), out);
}

void Augment::apply(const std::uint8_t* src, int channels, int height, int width, std::uint64_t seed,
                    std::uint64_t epoch, std::uint64_t index, std::uint64_t view, float* out,
                    AugmentWorkspace& ws) const {
  Generator g = Generator::derive(seed, {epoch, index, view});
  const ViewParams p = draw(channels, height, width, g);
  render(src, channels, height, width, p, out, ws);
}

std::string AugmentSpec::describe() const {
  std::ostringstream s;
  s << name << " (" << source << "):\n";
  if (random_crop)
    s << "  RandomResizedCrop " << out_height << "x" << out_width << " scale [" << crop.scale_min
      << ", " << crop.scale_max << "] ratio [" << crop.ratio_min << ", " << crop.ratio_max << "] "
      << interpolation_name(crop.interpolation) << "\n";
  else
    s << "  Resize to " << out_height << "x" << out_width << " when needed (bilinear)\n";
  if (hflip_p > 0) s << "  HorizontalFlip p=" << hflip_p << "\n";
  for (const auto& op : ops)
    std::visit(Overloaded{
                   [&](const ColorJitter& j) {
                     s << "  ColorJitter p=" << j.p << " brightness=" << j.brightness
                       << " contrast=" << j.contrast << " saturation=" << j.saturation
                       << " hue=" << j.hue << " (random order)\n";
                   },
                   [&](const RandomGrayscale& g) { s << "  RandomGrayscale p=" << g.p << "\n"; },
                   [&](const GaussianBlur& b) {
                     s << "  GaussianBlur p=" << b.p << " kernel=" << b.kernel_size << " sigma ["
                       << b.sigma_min << ", " << b.sigma_max << "]\n";
                   },
                   [&](const Solarize& z) {
                     s << "  Solarize p=" << z.p << " threshold=" << z.threshold << "\n";
                   }},
               op);
  if (!mean.empty()) {
    s << "  Normalize mean (";
    for (std::size_t i = 0; i < mean.size(); ++i) s << (i ? ", " : "") << mean[i];
    s << ") std (";
    for (std::size_t i = 0; i < std.size(); ++i) s << (i ? ", " : "") << std[i];
    s << ")\n";
  }
  return s.str();
}

AugmentSpec simclr_cifar_preset(std::vector<float> mean, std::vector<float> std,
                                Interpolation interpolation, int size) {
  AugmentSpec s;
  s.name = "simclr_cifar";
  s.source = "SimCLR official CIFAR recipe (google-research/simclr data_util.py; bicubic crop resize)";
  s.out_height = s.out_width = size;
  s.crop = RandomResizedCrop{0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, interpolation};
  s.hflip_p = 0.5;
  s.ops = {ColorJitter{0.8, 0.4, 0.4, 0.4, 0.1}, RandomGrayscale{0.2}};
  s.mean = std::move(mean);
  s.std = std::move(std);
  return s;
}

AugmentSpec fashion_mnist_preset(std::vector<float> mean, std::vector<float> std, int size,
                                 double scale_min) {
  AugmentSpec s;
  s.name = "fashion_mnist";
  s.source = "recipes.md Fashion-MNIST-LT job: random resized crop (scale 0.2-1) + flip, one channel";
  s.out_height = s.out_width = size;
  s.crop = RandomResizedCrop{scale_min, 1.0, 3.0 / 4.0, 4.0 / 3.0, Interpolation::bilinear};
  s.hflip_p = 0.5;
  s.mean = std::move(mean);
  s.std = std::move(std);
  return s;
}

AugmentSpec simclr_imagenet_preset(std::vector<float> mean, std::vector<float> std, int size,
                                   double strength) {
  AugmentSpec s;
  s.name = "simclr_imagenet";
  s.source = "SimCLR paper appendix A (colour strength s, blur p 0.5 with kernel 10% of the side)";
  s.out_height = s.out_width = size;
  s.crop = RandomResizedCrop{0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, Interpolation::bicubic};
  s.hflip_p = 0.5;
  int k = std::max(3, static_cast<int>(std::lround(size * 0.1)));
  if (k % 2 == 0) ++k;
  s.ops = {ColorJitter{0.8, 0.8 * strength, 0.8 * strength, 0.8 * strength, std::min(0.5, 0.2 * strength)},
           RandomGrayscale{0.2}, GaussianBlur{0.5, k, 0.1, 2.0}};
  s.mean = std::move(mean);
  s.std = std::move(std);
  return s;
}

AugmentSpec eval_preset(std::vector<float> mean, std::vector<float> std, int height, int width) {
  AugmentSpec s;
  s.name = "eval";
  s.source = "evaluation transform: normalisation only (recipes.md)";
  s.out_height = height;
  s.out_width = width;
  s.random_crop = false;
  s.hflip_p = 0.0;
  s.mean = std::move(mean);
  s.std = std::move(std);
  return s;
}

std::string default_preset_for(int channels, int height) {
  if (channels == 1) return "fashion_mnist";
  return height <= 64 ? "simclr_cifar" : "simclr_imagenet";
}

AugmentSpec augment_preset(const std::string& name, int channels, int height, int width,
                           std::vector<float> mean, std::vector<float> std) {
  if (name == "simclr_cifar") {
    CONTRA_CHECK_HINT(channels == 3, kWhere, "use fashion_mnist for one-channel images",
                      "simclr_cifar needs 3 channels, the dataset has ", channels);
    return simclr_cifar_preset(std::move(mean), std::move(std), Interpolation::bicubic, height);
  }
  if (name == "fashion_mnist") return fashion_mnist_preset(std::move(mean), std::move(std), height);
  if (name == "simclr_imagenet") return simclr_imagenet_preset(std::move(mean), std::move(std), height);
  if (name == "eval") return eval_preset(std::move(mean), std::move(std), height, width);
  throw Error(kWhere, "unknown augmentation preset '" + name + "'",
              "valid: simclr_cifar, fashion_mnist, simclr_imagenet, eval");
}

}  // namespace contra::data
