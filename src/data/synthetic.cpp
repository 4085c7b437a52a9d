// synthetic.cpp — procedural shapes on noise (see synthetic.h).
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"
#include "tensor/generator.h"

namespace contra::data {

namespace {
// HSV (h in [0,1), s = 0.8, v = 0.9) to RGB in [0, 1].
void hue_to_rgb(double h, double rgb[3]) {
  const double s = 0.8, v = 0.9;
  const double hh = h * 6.0;
  const int i = static_cast<int>(hh) % 6;
  const double f = hh - std::floor(hh);
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  const double table[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  for (int c = 0; c < 3; ++c) rgb[c] = table[i][c];
}

bool inside(int shape, double dx, double dy, double r) {
  const double ax = std::fabs(dx), ay = std::fabs(dy);
  switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;                                      // disc
    case 1: return ax <= r * 0.8 && ay <= r * 0.8;                                  // square
    case 2: return (ax <= r * 0.3 && ay <= r) || (ay <= r * 0.3 && ax <= r);        // cross
    case 3: { const double d = std::sqrt(dx * dx + dy * dy); return d <= r && d >= r * 0.55; }  // ring
    case 4: return ax <= r && ay <= r * 0.35;                                       // bar
    default: return dy <= r * 0.8 && dy >= -r * 0.8 && ax <= (dy + r * 0.8) * 0.6;  // triangle
  }
}
}  // namespace

Dataset make_synthetic(const SyntheticOptions& o, int split) {
  CONTRA_CHECK(o.num_classes >= 2 && o.num_classes <= 1000, "synthetic", "num_classes ",
               o.num_classes, " is outside [2, 1000]");
  CONTRA_CHECK(o.channels == 1 || o.channels == 3, "synthetic", "channels must be 1 or 3, got ",
               o.channels);
  CONTRA_CHECK(o.image_size >= 8 && o.image_size <= 1024, "synthetic", "image_size ",
               o.image_size, " is outside [8, 1024]");
  const std::int64_t n = split == 0 ? o.train_size : o.test_size;
  CONTRA_CHECK(n >= 0, "synthetic", "size ", n, " is negative");
  const int S = o.image_size, C = o.channels, K = o.num_classes;
  checked_image_bytes("synthetic", static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(C),
                      static_cast<std::uint64_t>(S), static_cast<std::uint64_t>(S));
  Dataset d;
  d.name = split == 0 ? "synthetic/train" : "synthetic/test";
  for (int k = 0; k < K; ++k) d.class_names.push_back("class_" + std::to_string(k));
  d.images = Tensor::empty({n, C, S, S}, DType::u8);
  d.labels.resize(static_cast<std::size_t>(n));
  auto* px = d.images.data<std::uint8_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    Generator g = Generator::derive(o.seed, {static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(i)});
    const int k = static_cast<int>(i % K);
    d.labels[static_cast<std::size_t>(i)] = k;
    double fg[3];
    hue_to_rgb(static_cast<double>(k) / K, fg);
    const double gray_fg = 0.35 + 0.6 * k / (K - 1.0);
    const double bg = g.uniform(0.05, 0.35);
    const double r = S * g.uniform(0.22, 0.36);
    const double cx = S * g.uniform(0.35, 0.65), cy = S * g.uniform(0.35, 0.65);
    const int shape = k % 6;
    std::uint8_t* img = px + i * C * S * S;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const bool on = inside(shape, x + 0.5 - cx, y + 0.5 - cy, r);
        for (int c = 0; c < C; ++c) {
          const double base = on ? (C == 3 ? fg[c] : gray_fg) : bg;
          const double v = base + 0.08 * g.normal();
          img[(c * S + y) * S + x] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0 + 0.5);
        }
      }
  }
  return d;
}

DatasetSplits make_synthetic_splits(const SyntheticOptions& o) {
  return DatasetSplits{make_synthetic(o, 0), make_synthetic(o, 1)};
}

}  // namespace contra::data
