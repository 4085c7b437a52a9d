// resample.h — separable image resampling with PIL's (Pillow's) convolution semantics.
//
// Output pixel x (of `out` pixels) covering an input box [0, in) samples around
//   center = (x + 0.5) · scale,  scale = in / out,
// with weights k((i + 0.5 − center) / fs) over input pixels i, fs = max(scale, 1)
// (antialiasing when downscaling), support = s·fs, weights renormalised to sum to 1 over
// the pixels inside the box (so crops never read outside themselves).
//   bilinear: k(t) = max(0, 1 − |t|), s = 1
//   bicubic:  Keys kernel with a = −0.5, s = 2 (Pillow's and torchvision's antialias path;
//             not torch's a = −0.75 upsampling kernel)
// This is Pillow's ImagingResample (src/libImaging/Resample.c), which torchvision's
// RandomResizedCrop runs on PIL images. Pillow works in 8-bit fixed point with the
// horizontal pass rounded to uint8; we work in float and clamp between passes, so results
// agree within a couple of uint8 levels (tests/data checks ≤ 2/255, see the fixture).
//
// Dimension legend: H, W input (box) size; OH, OW output size; T taps per output pixel.
#pragma once

#include <cstdint>
#include <vector>

namespace contra::data {

enum class Interpolation { bilinear, bicubic };

const char* interpolation_name(Interpolation m);

// Per-axis weights: output o reads input pixels start[o] .. start[o] + taps − 1 with
// weights w[o · taps + k] (zero-padded: count[o] = taps for every o).
struct ResampleWeights {
  int out = 0, taps = 0;
  std::vector<int> start, count;  // (out)
  std::vector<float> w;           // (out, taps)
};

ResampleWeights resample_weights(int in_size, int out_size, Interpolation mode);

// Resizes the box (top, left, h, w) of one u8 plane (row stride `stride`) to (oh, ow)
// floats in [0, 1]. `flip` mirrors the output horizontally (x → ow − 1 − x), fused here
// so a flip costs nothing. `scratch` needs h · ow floats. wx/wy from resample_weights(w, ow)
// and (h, oh).
void resample_plane_u8(const std::uint8_t* src, int stride, int top, int left, int h, int w,
                       const ResampleWeights& wx, const ResampleWeights& wy, bool flip,
                       float* out, float* scratch);

// Same for a float plane (values kept unclamped except between the passes).
void resample_plane_f32(const float* src, int stride, int top, int left, int h, int w,
                        const ResampleWeights& wx, const ResampleWeights& wy, bool flip,
                        float* out, float* scratch);

}  // namespace contra::data
