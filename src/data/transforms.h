// transforms.h — deterministic image transforms on planar float images, torchvision
// (0.14) tensor semantics. The random parameters are drawn elsewhere (augment.h); every
// function here is a pure function of its inputs, which is what the parity fixture checks.
//
// Images are (C, H, W) float in [0, 1], C ∈ {1, 3}, planes contiguous.
//   gray(r, g, b)         = 0.2989 r + 0.587 g + 0.114 b            (rgb_to_grayscale)
//   blend(x, y, f)        = clamp(f·x + (1 − f)·y, 0, 1)            (_blend)
//   brightness(x, f)      = blend(x, 0, f)
//   contrast(x, f)        = blend(x, mean(gray(x)), f)   (1 channel: mean(x))
//   saturation(x, f)      = blend(x, gray(x), f)         (1 channel: identity)
//   hue(x, δ)             = hsv→rgb((h + δ) mod 1, s, v) (1 channel: identity)
//   grayscale(x)          = gray(x) in all 3 channels     (1 channel: identity)
//   gaussian_blur(x, k, σ) separable kernel exp(−t²/2σ²), t = −(k−1)/2 … (k−1)/2,
//                          normalised, reflect padding (torch "reflect")
//   solarize(x, θ)        = x ≥ θ ? 1 − x : x
//   normalize(x)          = (x − mean_c) / std_c
// The RGB↔HSV conversion follows torchvision's _rgb2hsv / _hsv2rgb operation by operation.
#pragma once

#include <cstdint>
#include <vector>

namespace contra::data {

struct PlanarImage {
  float* data = nullptr;  // (C, H, W)
  int channels = 0, height = 0, width = 0;
  std::int64_t plane() const { return static_cast<std::int64_t>(height) * width; }
  float* channel(int c) const { return data + c * plane(); }
};

// The area (top, left, height, width) of a random resized crop, in source pixels.
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox&) const = default;
};

void adjust_brightness(const PlanarImage& img, float factor);
void adjust_contrast(const PlanarImage& img, float factor);
void adjust_saturation(const PlanarImage& img, float factor);
void adjust_hue(const PlanarImage& img, float hue_shift);  // shift in [−0.5, 0.5]
void to_grayscale(const PlanarImage& img);
// `scratch` needs H·W floats. Requires odd kernel_size ≤ 2·min(H, W) − 1, sigma > 0.
void gaussian_blur(const PlanarImage& img, int kernel_size, float sigma, float* scratch);
void solarize(const PlanarImage& img, float threshold);
// out[c] = (img[c] − mean[c]) / std[c]; out may equal img.data.
void normalize(const PlanarImage& img, const float* mean, const float* std, float* out);

}  // namespace contra::data
