// augment_preview — writes a PNG grid of dataset images and their augmented views, so a
// person can see what an augmentation preset does.
//
//   augment_preview DATASET --output grid.png [--index I] [--count N] [--views V]
//                   [--seed S] [--epoch E] [--preset NAME] [--zoom Z] [--data-root DIR]
//
// Row r shows image I + r: the original (resized to the output size when they differ),
// then views 0 .. V−1 exactly as the loader would produce them for (seed, epoch, index,
// view), de-normalised for display. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "tensor/backend.h"
#include "data/augment.h"
#include "data/dataset_registry.h"
#include "data/image_decode.h"
#include "data/resample.h"
#include "tensor/error.h"
#include "train/exit_codes.h"

using namespace contra;
using contra::train::exit_code_for_parse;
using contra::train::kExitOk;
using contra::train::kExitRuntimeError;
using contra::train::kExitUsage;
using namespace contra::data;

namespace {
// Pastes a (C, h, w) float image in [0, 1] into the RGB canvas at (y0, x0), zoomed.
void paste(std::vector<std::uint8_t>& canvas, int canvas_w, const float* img, int C, int h, int w,
           int y0, int x0, int zoom) {
  for (int y = 0; y < h * zoom; ++y)
    for (int x = 0; x < w * zoom; ++x)
      for (int k = 0; k < 3; ++k) {
        const float v = img[(static_cast<std::size_t>(C == 3 ? k : 0) * h + y / zoom) * w + x / zoom];
        canvas[(static_cast<std::size_t>(y0 + y) * canvas_w + x0 + x) * 3 + k] =
            static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
      }
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a PNG grid of images and their augmented views"};
  std::string dataset, output, preset, data_root;
  std::int64_t index = 0, count = 8;
  int views = 4, zoom = 0;
  std::uint64_t seed = 0, epoch = 0;
  std::string names;
  for (const auto& n : dataset_names()) names += (names.empty() ? "" : ", ") + n;
  app.add_option("dataset", dataset, "dataset name: " + names)->required();
  app.add_option("--output,-o", output, "PNG file to write")->required();
  app.add_option("--index,-i", index, "first image index (default 0)")->check(CLI::NonNegativeNumber);
  app.add_option("--count,-n", count, "number of images (rows, default 8)")->check(CLI::Range(1, 256));
  app.add_option("--views,-v", views, "augmented views per image (default 4)")->check(CLI::Range(1, 32));
  app.add_option("--seed,-s", seed, "augmentation seed (default 0)");
  app.add_option("--epoch,-e", epoch, "epoch (default 0)");
  app.add_option("--preset,-p", preset,
                 "augmentation preset: simclr_cifar, fashion_mnist, simclr_imagenet, eval "
                 "(default: by channels and size)");
  app.add_option("--zoom,-z", zoom, "pixel zoom (default: about 128 px per cell)")->check(CLI::Range(0, 32));
  app.add_option("--data-root", data_root, "data folder (default $CONTRA_DATA or ./data)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return exit_code_for_parse(app.exit(e));
  }
  try {
    std::fprintf(stderr, "kernels: %s\n", contra::kernel_report().c_str());
    DatasetOptions opt;
    opt.root = data_root;
    const DatasetSplits splits = open_dataset(dataset, opt);
    const Dataset& d = splits.train;
    if (index >= d.size()) {
      std::cerr << "augment_preview: --index " << index << " is past the end of " << d.name
                << " (" << d.size() << " images)\n";
      return kExitUsage;
    }
    count = std::min<std::int64_t>(count, d.size() - index);
    const int C = static_cast<int>(d.channels()), H = static_cast<int>(d.height()), W = static_cast<int>(d.width());
    const ChannelStats st = dataset_stats(dataset, d);
    if (preset.empty()) preset = default_preset_for(C, H);
    const Augment aug(augment_preset(preset, C, H, W, st.mean, st.std));
    const int OH = aug.out_height(), OW = aug.out_width();
    if (zoom == 0) zoom = std::max(1, 128 / std::max(OH, OW));
    const int pad = 4, cell_h = OH * zoom, cell_w = OW * zoom;
    const int cols = 1 + views;
    const int canvas_w = cols * cell_w + (cols + 1) * pad;
    const int canvas_h = static_cast<int>(count) * cell_h + (static_cast<int>(count) + 1) * pad;
    std::vector<std::uint8_t> canvas(static_cast<std::size_t>(canvas_w) * canvas_h * 3, 255);
    std::vector<float> view(static_cast<std::size_t>(C) * OH * OW), orig(view.size());
    AugmentWorkspace ws;
    const Augment show(eval_preset({}, {}, OH, OW));
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int64_t i = index + r;
      const int y0 = pad + static_cast<int>(r) * (cell_h + pad);
      Generator g(0);
      show.render(d.image(i), C, H, W, show.draw(C, H, W, g), orig.data(), ws);
      paste(canvas, canvas_w, orig.data(), C, OH, OW, y0, pad, zoom);
      for (int v = 0; v < views; ++v) {
        aug.apply(d.image(i), C, H, W, seed, epoch, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(v),
                  view.data(), ws);
        for (int c = 0; c < C; ++c)  // undo the normalisation for display
          for (int k = 0; k < OH * OW; ++k) {
            float& x = view[static_cast<std::size_t>(c) * OH * OW + k];
            x = x * st.std[static_cast<std::size_t>(c)] + st.mean[static_cast<std::size_t>(c)];
          }
        paste(canvas, canvas_w, view.data(), C, OH, OW, y0, pad + (v + 1) * (cell_w + pad), zoom);
      }
    }
    write_png(output, canvas_h, canvas_w, 3, canvas.data());
    std::printf("wrote %s: %lld images of %s (rows) x original + %d views, preset %s\n", output.c_str(),
                static_cast<long long>(count), d.name.c_str(), views, preset.c_str());
    std::printf("%s", aug.spec().describe().c_str());
    return kExitOk;
  } catch (const contra::Error& e) {
    std::cerr << "augment_preview: " << e.what() << "\n";
    const bool usage = e.where() == "open_dataset" || e.detail().find("unknown") != std::string::npos;
    return usage ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "augment_preview: " << e.what() << "\n";
    return kExitRuntimeError;
  }
}
