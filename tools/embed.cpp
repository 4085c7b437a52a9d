// embed — backbone features for a batch of images, from a safetensors checkpoint.
//
//   embed --checkpoint W.safetensors --arch resnet18 --stem cifar [--width 1]
//         [--in-channels 3] --input X.npy --output F.npy [--batch-size 256] [--threads 0]
//         [--device cpu|cuda|cuda:N]
//
// Reads X (N, C, H, W) float32 (float64 is converted), builds the ResNet backbone, loads the
// checkpoint's backbone tensors strictly (torchvision names; `fc.*`, `head.*`,
// `projection_head.*` and `optimizer.*` keys are ignored; with --prefix P only the keys under
// P are used, P removed, and the same keys ignored),
// runs it in eval mode without gradients and writes the pooled features F (N, D) float32,
// D = 512·expansion·width. The forward passes run on --device (default cpu), batch by batch;
// the features come back to the host. Accepts contra checkpoints and plain safetensors files exported
// from PyTorch (a torchvision state_dict).
//
//   embed --checkpoint CK --head --views K --augment [--split test] [--images N] [--seed S]
//         --output F.npy [--labels-out y.npy]
//
// Views mode (--head, --views or --augment; a checkpoint written by tools/pretrain): the model,
// data and augmentation are rebuilt from the checkpoint's run configuration
// (train/view_embeddings.h); N seeded images of the split, K augmented views each, go
// through the eval-mode backbone (and head, with --head). F is (K·N, D) float32 view-major
// (row k·N + x = view k of image x), the labels (N,) int64: the input of
// `inspect_loss --embeddings F.npy --views K --labels y.npy` (bounds and PRB, docs/derivation.md §8).
//
// NaN or ±inf in the checkpoint's tensors or in the input images is refused, naming the
// tensor or the image (reliability.md S5); features are never written from them.
// Exit codes: 0 success, 1 runtime error (file, shape, checkpoint, non-finite values), 2 bad
// command line (also: --output naming the checkpoint or the input).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "nn/checkpoint.h"
#include "nn/resnet.h"
#include "nn/safetensors.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/npy.h"
#include "train/device_choice.h"
#include "train/view_embeddings.h"
#include "tensor/system.h"
#include "train/exit_codes.h"

using namespace contra;
using contra::train::exit_code_for_parse;
using contra::train::kExitOk;
using contra::train::kExitRuntimeError;
using contra::train::kExitUsage;

namespace {
// Views mode: K augmented views of N images of the run's dataset through backbone (+ head).
int embed_views_main(const std::string& checkpoint, const train::ViewEmbeddingOptions& o, const std::string& output,
                     const std::string& labels_out) {
  const train::ViewEmbeddings v = train::embed_views(nn::load_checkpoint(checkpoint), o);
  save_npy(output, v.embeddings);
  if (!labels_out.empty()) save_npy(labels_out, v.labels);
  std::fprintf(stderr, "embed: wrote %s (%lld, %lld): %s of K=%lld %s views × N=%lld %s images, view-major%s%s\n",
               output.c_str(), static_cast<long long>(v.embeddings.size(0)),
               static_cast<long long>(v.embeddings.size(1)), o.head ? "head outputs" : "backbone features",
               static_cast<long long>(v.K), o.augment ? "augmented" : "unaugmented", static_cast<long long>(v.N),
               o.split.c_str(), labels_out.empty() ? "" : "; labels to ", labels_out.c_str());
  return kExitOk;
}

// True when `a` and `b` name the same file (or would: equal absolute, normalised paths).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;
  const auto na = std::filesystem::weakly_canonical(a, ec), nb = std::filesystem::weakly_canonical(b, ec);
  return !ec && na == nb;
}

// Refuses images holding NaN or ±inf, naming the image and pixel (S5).
void check_finite_images(const Tensor& x, const std::string& path) {
  const auto bad = nn::find_non_finite({{"images", x}});
  if (!bad) return;
  const std::int64_t C = x.size(1), H = x.size(2), W = x.size(3), i = bad->index;
  throw Error(path, detail::concat(bad->count, " non-finite pixel value(s); the first, ", bad->value, ", is image ",
                                   i / (C * H * W), " channel ", i / (H * W) % C, " at (", i / W % H, ", ", i % W, ")"),
              "fix or drop those images; embed never turns NaN into features");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);  // past `ulimit -f`, writing fails with EFBIG and is reported
  CLI::App app{"embed: eval-mode ResNet backbone features (N, D) for a float32 NCHW .npy batch"};
  std::string checkpoint, input, output, arch = "resnet18", stem = "cifar", prefix;
  double width = 1.0;
  std::int64_t in_channels = 3, batch_size = 256;
  int threads = 0;
  std::string device_text = "cpu";
  std::vector<std::string> ignore = {"fc.", "head.", "projection_head.", "optimizer."};
  train::ViewEmbeddingOptions vo;  // views mode; defaults for embed: backbone, no augmentation, K = 1
  vo.head = false;
  vo.augment = false;
  vo.views = 1;
  std::string labels_out;
  app.add_option("--checkpoint", checkpoint, "safetensors file (contra checkpoint or torchvision state_dict)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--arch", arch, "backbone")->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}))
      ->capture_default_str();
  app.add_option("--stem", stem, "cifar: 3×3/1 conv, no max-pool; imagenet: 7×7/2 conv + max-pool")
      ->check(CLI::IsMember({"cifar", "imagenet"}))
      ->capture_default_str();
  app.add_option("--width", width, "width multiplier (base width 64·width)")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--in-channels", in_channels, "image channels (1 for Fashion-MNIST)")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--input", input, "images, float32 .npy of shape (N, C, H, W), normalised as in training")
      ->check(CLI::ExistingFile);
  app.add_option("--output", output, "features, float32 .npy of shape (N, D)")->required();
  app.add_option("--batch-size", batch_size, "images per forward pass")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: library default)")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--device", device_text, train::kDeviceHelp)->capture_default_str();
  app.add_option("--prefix", prefix,
                 "use only the tensors under this prefix, stripped (e.g. 'backbone.'); default: top-level names");
  app.add_option("--ignore-prefix", ignore, "tensor name prefixes to skip")->capture_default_str();
  // views mode (docs/derivation.md §8): model, data and augmentation from the run configuration
  app.add_flag("--head", vo.head, "views mode: projection-head outputs (default there: backbone features)");
  app.add_option("--views", vo.views, "views mode: K views per image, rows view-major")->check(CLI::Range(1, 1024));
  app.add_flag("--augment", vo.augment, "views mode: draw the views with the run's training augmentation");
  app.add_option("--split", vo.split, "views mode: test | pretrain | train")
      ->check(CLI::IsMember({"test", "pretrain", "train"}))
      ->capture_default_str();
  app.add_option("--images", vo.images, "views mode: N images, a seeded random subset")->check(CLI::PositiveNumber);
  app.add_option("--seed", vo.seed, "views mode: which images and which augmentations");
  app.add_option("--labels-out", labels_out, "views mode: write the N labels, int64 .npy (N,)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the error
    return exit_code_for_parse(rc);
  }

  const bool views_mode = vo.head || vo.augment || app.count("--views") > 0;
  if (!views_mode && input.empty()) {
    std::fprintf(stderr, "embed: error: --input is required (or use --head/--views/--augment with a tools/pretrain checkpoint)\n");
    return kExitUsage;
  }
  if (views_mode && !input.empty()) {
    std::fprintf(stderr, "embed: error: --input cannot be combined with --head/--views/--augment (hint: views mode "
                         "reads the run's dataset; choose the images with --split, --images, --seed)\n");
    return kExitUsage;
  }
  if (same_file(output, checkpoint) || (!input.empty() && same_file(output, input))) {
    std::fprintf(stderr, "embed: error: --output %s is the %s: it would be overwritten (hint: write the features "
                 "to another file)\n", output.c_str(), same_file(output, checkpoint) ? "checkpoint" : "input");
    return kExitUsage;
  }

  try {
    if (threads > 0) {
      std::string warning;
      set_num_threads(cap_threads(threads, &warning));
      if (!warning.empty()) std::fprintf(stderr, "embed: warning: %s\n", warning.c_str());
    }
    const Device device = train::open_device(device_text, "--device");  // refused (exit 2) before any file is read
    std::fprintf(stderr, "embed: kernels: %s%s\n", kernel_report().c_str(),
                 device == Device::cpu() ? "" : (", device " + device.str()).c_str());
    if (views_mode) {
      vo.batch_size = batch_size;
      vo.device = device;
      return embed_views_main(checkpoint, vo, output, labels_out);
    }
    nn::ResNetConfig cfg;
    cfg.depth = nn::resnet_depth_from_name(arch);
    cfg.stem = nn::stem_from_name(stem);
    cfg.width = width;
    cfg.in_channels = in_channels;
    cfg.num_classes = 0;
    Generator gen(0);  // weights are overwritten by the checkpoint
    nn::ResNet net(cfg, gen);

    const nn::SafetensorsFile file = nn::load_safetensors(checkpoint);
    nn::StateDict weights =
        nn::drop_prefixes(prefix.empty() ? file.tensors : nn::select_prefix(file.tensors, prefix), ignore);
    CONTRA_CHECK_HINT(!weights.empty(), checkpoint, "check --prefix", "no backbone tensors found",
                      prefix.empty() ? "" : " under prefix '" + prefix + "'");
    try {
      net.load_state_dict(weights, true);
    } catch (const Error& e) {
      throw Error(checkpoint, e.detail(), "check --arch, --stem, --width and --in-channels against the training run");
    }
    nn::check_finite(weights, checkpoint);
    net.eval();
    net.to(device);

    const NpyInfo info = read_npy_info(input);  // the dtype as written: int32 is loaded as i64
    CONTRA_CHECK_HINT(info.descr == "<f4" || info.descr == "<f8", input,
                      "convert the images to float32 (and normalise them)", "expected float32 images, got ",
                      info.dtype, " ('", abbreviate(info.descr), "')");
    Tensor x = load_npy(input);
    CONTRA_CHECK_HINT(x.dim() == 4 && x.size(1) == in_channels, input, "pass --in-channels to match the images",
                      "expected images (N, ", in_channels, ", H, W), got ", shape_str(x.shape()));
    CONTRA_CHECK_HINT(is_floating(x.dtype()), input, "convert the images to float32 (and normalise them)",
                      "expected float32 images, got ", dtype_name(x.dtype()));
    x = x.to(DType::f32);
    check_finite_images(x, input);
    const std::int64_t N = x.size(0);

    autograd::NoGradGuard no_grad;
    std::vector<Tensor> parts;
    for (std::int64_t start = 0; start < N; start += batch_size) {
      const std::int64_t end = std::min(N, start + batch_size);
      // (B, C, H, W) to the device, (B, D) features back to the host
      parts.push_back(net.forward(slice(x, 0, start, end).contiguous().to(device)).to(Device::cpu()));
    }
    Tensor features = parts.empty() ? Tensor::zeros({0, cfg.feature_dim()})
                                    : (parts.size() == 1 ? parts[0] : cat(parts, 0));  // (N, D)
    nn::check_finite({{"features", features}}, "embed");  // never written from non-finite values
    save_npy(output, features.contiguous());
    std::fprintf(stderr, "embed: wrote %s (%lld, %lld) from %s\n", output.c_str(), static_cast<long long>(N),
                 static_cast<long long>(cfg.feature_dim()), checkpoint.c_str());
    return kExitOk;
  } catch (const train::UsageError& e) {
    std::fprintf(stderr, "embed: error: %s\n", e.what());
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "embed: error: %s\n", e.what());
    return kExitRuntimeError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed: error: %s\n", e.what());
    return kExitRuntimeError;
  }
}
