// resample.cpp — Pillow-compatible separable resampling (see resample.h for the math).
#include "data/resample.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace contra::data {

const char* interpolation_name(Interpolation m) {
  return m == Interpolation::bilinear ? "bilinear" : "bicubic";
}

namespace {
double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic_filter(double x) {  // Keys cubic, a = −0.5 (Pillow)
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

const float kU8ToUnit[256] = {
#define V(i) float(i) / 255.0f
#define R16(b) V(b), V(b + 1), V(b + 2), V(b + 3), V(b + 4), V(b + 5), V(b + 6), V(b + 7), \
               V(b + 8), V(b + 9), V(b + 10), V(b + 11), V(b + 12), V(b + 13), V(b + 14), V(b + 15)
    R16(0), R16(16), R16(32), R16(48), R16(64), R16(80), R16(96), R16(112),
    R16(128), R16(144), R16(160), R16(176), R16(192), R16(208), R16(224), R16(240)
#undef R16
#undef V
};

// Horizontal pass over rows [y0, y1) of the box, then the vertical pass; T = source type.
template <typename T, bool kClamp>
void resample_plane(const T* src, int stride, int top, int left, int h, int w,
                    const ResampleWeights& wx, const ResampleWeights& wy, bool flip, float* out,
                    float* scratch) {
  CONTRA_ASSERT(wy.out > 0 && wx.out > 0, "empty resample");
  const int ow = wx.out, oh = wy.out;
  // Rows the vertical pass reads.
  const int y0 = wy.start[0];
  const int y1 = wy.start[oh - 1] + wy.count[oh - 1];
  for (int y = y0; y < y1; ++y) {
    const T* row = src + static_cast<std::ptrdiff_t>(top + y) * stride + left;
    float* t = scratch + static_cast<std::ptrdiff_t>(y) * ow;
    for (int x = 0; x < ow; ++x) {
      const float* k = wx.w.data() + static_cast<std::size_t>(x) * wx.taps;
      const T* s = row + wx.start[x];
      float acc = 0.f;
      const int n = wx.taps;
      for (int i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, std::uint8_t>) acc += k[i] * kU8ToUnit[s[i]];
        else acc += k[i] * s[i];
      }
      if constexpr (kClamp) acc = std::clamp(acc, 0.f, 1.f);
      t[flip ? ow - 1 - x : x] = acc;
    }
  }
  for (int y = 0; y < oh; ++y) {
    const float* k = wy.w.data() + static_cast<std::size_t>(y) * wy.taps;
    const float* base = scratch + static_cast<std::ptrdiff_t>(wy.start[y]) * ow;
    float* o = out + static_cast<std::ptrdiff_t>(y) * ow;
    const int n = wy.taps;
    for (int x = 0; x < ow; ++x) o[x] = 0.f;
    for (int i = 0; i < n; ++i) {
      const float kk = k[i];
      const float* r = base + static_cast<std::ptrdiff_t>(i) * ow;
      for (int x = 0; x < ow; ++x) o[x] += kk * r[x];
    }
    if constexpr (kClamp)
      for (int x = 0; x < ow; ++x) o[x] = std::clamp(o[x], 0.f, 1.f);
  }
  (void)h; (void)w;
}
}  // namespace

ResampleWeights resample_weights(int in_size, int out_size, Interpolation mode) {
  CONTRA_CHECK(in_size > 0 && out_size > 0, "resample", "sizes must be positive, got in ",
               in_size, ", out ", out_size);
  const double support0 = mode == Interpolation::bilinear ? 1.0 : 2.0;
  auto filter = mode == Interpolation::bilinear ? bilinear_filter : bicubic_filter;
  const double scale = static_cast<double>(in_size) / out_size;
  const double fs = std::max(scale, 1.0);
  const double support = support0 * fs;
  ResampleWeights r;
  r.out = out_size;
  // Fixed taps per output (zero-padded, window shifted inside the box) so the inner loops
  // have a constant trip count; the non-zero weights are exactly Pillow's.
  r.taps = std::min(static_cast<int>(std::ceil(support)) * 2 + 1, in_size);
  r.start.resize(out_size);
  r.count.resize(out_size);
  r.w.assign(static_cast<std::size_t>(out_size) * r.taps, 0.f);
  std::vector<double> k(static_cast<std::size_t>(r.taps));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    // Pillow truncates toward zero here ((int) cast), then clamps to the box.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    int n = xmax - xmin;
    CONTRA_ASSERT(n >= 1 && n <= r.taps, "taps ", n, " of ", r.taps);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      k[static_cast<std::size_t>(i)] = filter((i + xmin - center + 0.5) / fs);
      sum += k[static_cast<std::size_t>(i)];
    }
    const int start = std::min(xmin, in_size - r.taps);
    const int offset = xmin - start;
    for (int i = 0; i < n; ++i)
      r.w[static_cast<std::size_t>(o) * r.taps + offset + i] =
          static_cast<float>(sum != 0.0 ? k[static_cast<std::size_t>(i)] / sum : 0.0);
    r.start[o] = start;
    r.count[o] = r.taps;
  }
  return r;
}

void resample_plane_u8(const std::uint8_t* src, int stride, int top, int left, int h, int w,
                       const ResampleWeights& wx, const ResampleWeights& wy, bool flip,
                       float* out, float* scratch) {
  resample_plane<std::uint8_t, true>(src, stride, top, left, h, w, wx, wy, flip, out, scratch);
}

void resample_plane_f32(const float* src, int stride, int top, int left, int h, int w,
                        const ResampleWeights& wx, const ResampleWeights& wy, bool flip,
                        float* out, float* scratch) {
  resample_plane<float, false>(src, stride, top, left, h, w, wx, wy, flip, out, scratch);
}

}  // namespace contra::data
