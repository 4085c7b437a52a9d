// transforms.cpp — the deterministic transforms of transforms.h, in float, per image.
// Loops run over whole planes so the compiler vectorises them; no per-pixel dispatch.
#include "data/transforms.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace contra::data {

namespace {
constexpr float kR = 0.2989f, kG = 0.587f, kB = 0.114f;

inline float clamp01(float v) { return std::min(std::max(v, 0.f), 1.f); }
}  // namespace

void adjust_brightness(const PlanarImage& img, float f) {
  const std::int64_t n = img.plane() * img.channels;
  float* p = img.data;
  for (std::int64_t i = 0; i < n; ++i) p[i] = clamp01(f * p[i]);
}

void adjust_contrast(const PlanarImage& img, float f) {
  const std::int64_t n = img.plane();
  double sum = 0.0;
  if (img.channels == 3) {
    const float *r = img.channel(0), *g = img.channel(1), *b = img.channel(2);
    float acc = 0.f;  // float partial sums per row keep it fast; double across rows
    for (std::int64_t i = 0; i < n; ++i) {
      acc += kR * r[i] + kG * g[i] + kB * b[i];
      if ((i & 255) == 255) { sum += acc; acc = 0.f; }
    }
    sum += acc;
  } else {
    for (std::int64_t i = 0; i < n; ++i) sum += img.data[i];
  }
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float add = (1.f - f) * mean;
  const std::int64_t total = n * img.channels;
  for (std::int64_t i = 0; i < total; ++i) img.data[i] = clamp01(f * img.data[i] + add);
}

void adjust_saturation(const PlanarImage& img, float f) {
  if (img.channels != 3) return;
  float *r = img.channel(0), *g = img.channel(1), *b = img.channel(2);
  const float w = 1.f - f;
  for (std::int64_t i = 0, n = img.plane(); i < n; ++i) {
    const float l = kR * r[i] + kG * g[i] + kB * b[i];
    r[i] = clamp01(f * r[i] + w * l);
    g[i] = clamp01(f * g[i] + w * l);
    b[i] = clamp01(f * b[i] + w * l);
  }
}

void adjust_hue(const PlanarImage& img, float shift) {
  if (img.channels != 3) return;
  float* __restrict R = img.channel(0);
  float* __restrict G = img.channel(1);
  float* __restrict B = img.channel(2);
  // Branch-free so the loop vectorises; each line is the torchvision operation it mirrors.
  for (std::int64_t i = 0, n = img.plane(); i < n; ++i) {
    const float r = R[i], g = G[i], b = B[i];
    // _rgb2hsv
    const float maxc = std::max(r, std::max(g, b));
    const float minc = std::min(r, std::min(g, b));
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.f : maxc);
    const float crd = eqc ? 1.f : cr;
    const float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    const float hr = (maxc == r) ? (bc - gc) : 0.f;
    const bool is_r = maxc == r, is_g = maxc == g;  // `&`, not `&&`: no branches
    const float hg = (is_g & !is_r) ? (2.f + rc - bc) : 0.f;
    const float hb = (!is_g & !is_r) ? (4.f + gc - rc) : 0.f;
    float h = (hr + hg + hb) / 6.f + 1.f;  // in [0, 2)
    h = h >= 1.f ? h - 1.f : h;            // fmod(h, 1): exact for h in [1, 2) (Sterbenz)
    const float v = maxc;
    // (h + shift) % 1.0 with the sign of the divisor
    h = h + shift;
    h = h - std::floor(h);
    // _hsv2rgb
    const float h6 = h * 6.f;
    float sector = std::floor(h6);
    const float fr = h6 - sector;
    sector = sector >= 6.f ? sector - 6.f : sector;  // i % 6
    const float p = clamp01(v * (1.f - s));
    const float q = clamp01(v * (1.f - s * fr));
    const float t = clamp01(v * (1.f - s * (1.f - fr)));
    // sector: 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q)
    const bool s0 = sector == 0.f, s1 = sector == 1.f, s2 = sector == 2.f;
    const bool s3 = sector == 3.f, s4 = sector == 4.f, s5 = sector == 5.f;
    const float r1 = s4 ? t : p, g1 = s3 ? q : p, b1 = s5 ? q : p;
    const float r2 = s1 ? q : r1, g2 = s0 ? t : g1, b2 = s2 ? t : b1;
    R[i] = (s0 | s5) ? v : r2;
    G[i] = (s1 | s2) ? v : g2;
    B[i] = (s3 | s4) ? v : b2;
  }
}

void to_grayscale(const PlanarImage& img) {
  if (img.channels != 3) return;
  float *r = img.channel(0), *g = img.channel(1), *b = img.channel(2);
  for (std::int64_t i = 0, n = img.plane(); i < n; ++i) {
    const float l = kR * r[i] + kG * g[i] + kB * b[i];
    r[i] = l; g[i] = l; b[i] = l;
  }
}

void gaussian_blur(const PlanarImage& img, int k, float sigma, float* scratch) {
  CONTRA_CHECK(k >= 1 && k % 2 == 1, "gaussian_blur", "kernel size must be odd and positive, got ", k);
  CONTRA_CHECK(sigma > 0.f, "gaussian_blur", "sigma must be positive, got ", sigma);
  const int H = img.height, W = img.width, half = k / 2;
  CONTRA_CHECK(half < H && half < W, "gaussian_blur", "kernel ", k, " too large for a ", H, "x", W,
               " image (reflect padding needs kernel ≤ 2·side − 1)");
  std::vector<float> w(static_cast<std::size_t>(k));
  float sum = 0.f;
  for (int i = 0; i < k; ++i) {
    const float x = -half + static_cast<float>(i);  // linspace(−(k−1)/2, (k−1)/2, k)
    const float t = x / sigma;
    w[static_cast<std::size_t>(i)] = std::exp(-0.5f * t * t);
    sum += w[static_cast<std::size_t>(i)];
  }
  for (auto& v : w) v /= sum;
  auto reflect = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  for (int c = 0; c < img.channels; ++c) {
    float* p = img.channel(c);
    // Horizontal pass into scratch, vertical pass back (torch conv2d with reflect padding).
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        float acc = 0.f;
        for (int i = 0; i < k; ++i) acc += w[static_cast<std::size_t>(i)] * p[y * W + reflect(x + i - half, W)];
        scratch[y * W + x] = acc;
      }
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        float acc = 0.f;
        for (int i = 0; i < k; ++i) acc += w[static_cast<std::size_t>(i)] * scratch[reflect(y + i - half, H) * W + x];
        p[y * W + x] = acc;
      }
  }
}

void solarize(const PlanarImage& img, float threshold) {
  for (std::int64_t i = 0, n = img.plane() * img.channels; i < n; ++i)
    img.data[i] = img.data[i] >= threshold ? 1.f - img.data[i] : img.data[i];
}

void normalize(const PlanarImage& img, const float* mean, const float* std, float* out) {
  const std::int64_t n = img.plane();
  for (int c = 0; c < img.channels; ++c) {
    const float m = mean[c], inv = 1.f / std[c];
    const float* s = img.channel(c);
    float* o = out + c * n;
    for (std::int64_t i = 0; i < n; ++i) o[i] = (s[i] - m) * inv;
  }
}

}  // namespace contra::data
