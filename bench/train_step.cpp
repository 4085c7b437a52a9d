// train_step — one SimCLR-style training step on CPU: ResNet-18 (CIFAR stem) + projection
// head (512 → 512 → 128, BN + ReLU) on two views of a batch, NT-Xent loss (τ = 0.5),
// forward + backward + SGD (momentum 0.9, weight decay 5e-4). Prints images/s (2·batch
// view images per step) and the peak resident memory. bench/train_step_torch.py times the
// same step in PyTorch 1.13 and prints the ratio.
//
//   bench_train_step [--batch 128] [--threads 2] [--steps 5] [--warmup 1] [--width 1]
//                    [--seed 0] [--precision f32|bf16]
//
// --precision bf16 runs the convolutions in bf16 (backend.h: set_conv_precision; float32
// weights, BN, head and loss); bench/precision_ratio.sh alternates f32 and bf16 runs.
//
// Loss (M = 2B view embeddings, rows l2-normalised, z_i's positive is the other view):
//   S = Z Zᵀ / τ  (M, M), diagonal masked to −∞;  L = mean_i CE(S_i, pos(i)).
// The images are random (timing does not depend on content); the model is in train mode.
// Output, one line per run: "contra train_step: batch B threads T width W images/s X
// step_ms Y cpu_s_per_step C peak_rss_mb Z loss L" (medians over the timed steps; C is the
// process CPU time, less sensitive than wall time to other load on a shared machine), and
// the forward / backward / optimizer split on stderr.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "nn/sgd.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using contra::bench::median;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t arg(int argc, char** argv, const char* name, std::int64_t dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return dflt;
}

double argf(int argc, char** argv, const char* name, double dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atof(argv[i + 1]);
  return dflt;
}

// NT-Xent over M = 2B embeddings z (M, D): rows i and i ± B are positives.
Tensor nt_xent(const Tensor& z, double tau) {
  const std::int64_t M = z.size(0), B = M / 2;
  const Tensor zn = l2_normalize(z, 1);                               // (M, D)
  Tensor s = matmul(zn, transpose(zn, 0, 1)) / tau;                   // (M, M)
  const Tensor eye = compare(Tensor::arange(M).to(DType::f32).view({M, 1}),
                             Tensor::arange(M).to(DType::f32).view({1, M}), BinaryOp::eq);  // (M, M)
  s = masked_fill(s, eye, -1e9);                                      // drop self-similarity
  std::vector<std::int64_t> pos(static_cast<std::size_t>(M));
  for (std::int64_t i = 0; i < M; ++i) pos[static_cast<std::size_t>(i)] = i < B ? i + B : i - B;
  return cross_entropy(s, Tensor::from_vector<std::int64_t>(pos, {M}));
}

const char* args(int argc, char** argv, const char* name, const char* dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return dflt;
}

double cpu_seconds() {  // user + system time of the whole process, all threads
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t batch = arg(argc, argv, "--batch", 128);
  const int threads = static_cast<int>(arg(argc, argv, "--threads", 2));
  const std::int64_t steps = arg(argc, argv, "--steps", 5);
  const std::int64_t warmup = arg(argc, argv, "--warmup", 1);
  const double width = argf(argc, argv, "--width", 1.0);
  const std::uint64_t seed = static_cast<std::uint64_t>(arg(argc, argv, "--seed", 0));
  if (batch < 2 || steps < 1 || threads < 1 || width <= 0) {
    std::fprintf(stderr, "usage: bench_train_step [--batch N>=2] [--threads T>=1] [--steps S>=1] [--warmup W] [--width w]\n");
    return 2;
  }
  set_num_threads(threads);
  try {
    set_conv_precision(parse_conv_precision(args(argc, argv, "--precision", "f32")));
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 2;
  }
  bench::print_kernels();

  Generator gen(seed);
  nn::ResNetConfig cfg;
  cfg.depth = 18;
  cfg.stem = nn::Stem::cifar;
  cfg.width = width;
  nn::ResNet backbone(cfg, gen);
  nn::ProjectionHead head({backbone.feature_dim(), backbone.feature_dim(), 128, 2, true, false}, gen);
  nn::NamedTensors params = backbone.named_parameters();
  for (auto& [k, t] : head.named_parameters()) params.emplace_back("head." + k, t);
  nn::SGD opt({nn::make_group(params, 0.06, 5e-4)}, nn::SGDOptions{0.9});

  // Two views of the batch, stacked: (2B, 3, 32, 32).
  const Tensor views = Tensor::randn({2 * batch, 3, 32, 32}, gen);

  std::vector<double> times, t_fwd, t_bwd, t_opt, cpu;
  double loss_value = 0;
  for (std::int64_t it = 0; it < warmup + steps; ++it) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    opt.zero_grad();
    const Tensor z = head.forward(backbone.forward(views));  // (2B, 128)
    const Tensor loss = nt_xent(z, 0.5);
    const auto t1 = Clock::now();
    backward(loss);
    const auto t2 = Clock::now();
    opt.step();
    loss_value = loss.item();
    const auto t3 = Clock::now();
    if (it >= warmup) {
      cpu.push_back(cpu_seconds() - c0);
      times.push_back(std::chrono::duration<double>(t3 - t0).count());
      t_fwd.push_back(std::chrono::duration<double>(t1 - t0).count());
      t_bwd.push_back(std::chrono::duration<double>(t2 - t1).count());
      t_opt.push_back(std::chrono::duration<double>(t3 - t2).count());
    }
  }
  const double med = median(times);
  std::fprintf(stderr, "phases (median ms): forward+loss %.1f backward %.1f optimizer %.1f\n", median(t_fwd) * 1e3,
               median(t_bwd) * 1e3, median(t_opt) * 1e3);
  std::printf(
      "contra train_step: precision %s batch %lld threads %d width %g images/s %.1f step_ms %.1f cpu_s_per_step %.2f "
      "peak_rss_mb %.0f loss %.4f\n",
      precision_name(conv_precision()), static_cast<long long>(batch), threads, width, 2.0 * static_cast<double>(batch) / med, med * 1e3, median(cpu),
      peak_rss_mb(), loss_value);
  return 0;
}
