// train_step — one SimCLR-style training step on the CPU (or --device cuda): ResNet-18 (CIFAR stem) + projection
// head (512 → 512 → 128, BN + ReLU) on two views of a batch, NT-Xent loss (τ = 0.5),
// forward + backward + SGD (momentum 0.9, weight decay 5e-4). Prints images/s (2·batch
// view images per step) and the peak resident memory. bench/train_step_torch.py times the
// same step in PyTorch 1.13 and prints the ratio.
//
//   bench_train_step [--batch 128] [--threads 2] [--steps 5] [--warmup 1] [--width 1]
//                    [--seed 0] [--memory-report] [--dump-steps]
//                    [--checkpoint-activations none|stages|blocks] [--precision f32|bf16]
//                    [--conv-algorithm direct|winograd] [--device cpu|cuda|cuda:N]
//
// The command line is CLI11's (like tools/): --help prints the options, their defaults, ranges
// (batch ≥ 2, steps ≥ 1, threads ≥ 1, warmup ≥ 0, width > 0) and choices and exits 0 without
// running; an unknown option or a bad value prints CLI11's message naming it and exits 2.
//
// --device runs the step on that device: model, optimizer state and the batch live there
// (drawn on the host, copied once). The step time ends with loss.item(), a synchronisation
// point, so it is the device's time; the forward / backward / optimizer split then only
// measures how long the host took to queue each phase. --memory-report reads the CPU
// allocator and is refused with a device other than the CPU.
//
// --precision bf16 runs the convolutions in bf16 (backend.h: set_conv_precision; float32
// weights, BN, head and loss); bench/precision_ratio.sh alternates f32 and bf16 runs.
// --conv-algorithm winograd runs the float32 3×3 stride-1 convolutions as Winograd F(4×4, 3×3)
// (backend.h: set_conv_algorithm); the others stay direct.
//
// --memory-report prints, for the last step, where the bytes are (issue 15): at the end of
// the forward (the peak of saved activations), the saved tensors by the op that saved them
// (each storage once), parameters, gradients, optimizer state, oneDNN reorder workspaces and
// the caching allocator's free cache, and over the step the most bytes the allocator had
// handed out and the process's peak RSS. --dump-steps prints every step's loss as a hex
// float and an FNV-1a hash of all parameter bytes after the step, to check that a memory
// change leaves the results bit-identical (same machine, same threads).
// CONTRA_RECOMPUTE_SAVED=0 keeps every saved value (autograd/node.h: mark_recomputable; by
// default the BN + ReLU outputs that ReLU and the next convolution save are recomputed in
// the backward): the "before" of the memory account, with the same hashes.
// --checkpoint-activations recomputes the ResNet's stem and stages (or residual blocks) in
// the backward pass (nn/resnet.h, autograd/checkpoint.h).
//
// Loss (M = 2B view embeddings, rows l2-normalised, z_i's positive is the other view):
//   S = Z Zᵀ / τ  (M, M), diagonal masked to −∞;  L = mean_i CE(S_i, pos(i)).
// The images are random (timing does not depend on content); the model is in train mode.
// Output, one line per run: "contra train_step: batch B threads T width W images/s X
// step_ms Y cpu_s_per_step C peak_rss_mb Z loss L" (medians over the timed steps; C is the
// process CPU time, less sensitive than wall time to other load on a shared machine), and
// the forward / backward / optimizer split on stderr. The header's "omp env:" line shows
// OMP_WAIT_POLICY and GOMP_SPINCOUNT as this run had them (bench/omp_wait_policy.sh).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_timing.h"
#include "autograd/engine.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "nn/sgd.h"
#include "tensor/backend.h"
#include "tensor/cpu/caching_allocator.h"
#include "tensor/generator.h"

using namespace contra;
using contra::bench::median;
using Clock = std::chrono::steady_clock;

namespace {

// NT-Xent over M = 2B embeddings z (M, D): rows i and i ± B are positives.
Tensor nt_xent(const Tensor& z, double tau) {
  const std::int64_t M = z.size(0), B = M / 2;
  const Tensor zn = l2_normalize(z, 1);                               // (M, D)
  Tensor s = matmul(zn, transpose(zn, 0, 1)) / tau;                   // (M, M)
  const Tensor idx = Tensor::arange(M, DType::i64, z.device()).to(DType::f32);
  const Tensor eye = compare(idx.view({M, 1}), idx.view({1, M}), BinaryOp::eq);  // (M, M)
  s = masked_fill(s, eye, -1e9);                                      // drop self-similarity
  std::vector<std::int64_t> pos(static_cast<std::size_t>(M));
  for (std::int64_t i = 0; i < M; ++i) pos[static_cast<std::size_t>(i)] = i < B ? i + B : i - B;
  return cross_entropy(s, Tensor::from_vector<std::int64_t>(pos, {M}, z.device()));
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

// "cpu", "cuda" (= cuda:0) or "cuda:N"; false for anything else.
bool parse_device(const std::string& text, Device* out) {
  if (text == "cpu") return *out = Device::cpu(), true;
  if (text == "cuda") return *out = Device::cuda(0), true;
  if (text.rfind("cuda:", 0) != 0 || text.size() < 6 || text.size() > 8) return false;
  for (size_t i = 5; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') return false;
  return *out = Device::cuda(std::atoi(text.c_str() + 5)), true;
}

double mb(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

double current_rss_mb() {  // resident set now, from /proc/self/statm (pages)
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0);
}

std::size_t bytes_of(const Tensor& t) { return t.defined() ? static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()) : 0; }

// FNV-1a over the bytes of every parameter, in order: equal hashes ⇔ (practically) equal weights.
std::uint64_t weights_hash(const nn::NamedTensors& params) {
  std::uint64_t h = 1469598103934665603ull;
  for (const auto& [name, t] : params) {
    const Tensor c = t.contiguous().to(Device::cpu());
    const auto* p = static_cast<const unsigned char*>(c.raw_data());
    for (std::size_t i = 0, n = bytes_of(c); i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

// The command line. Defaults are the standard run (README: Train-step benchmark).
struct Options {
  std::int64_t batch = 128;   // B images per view; the step sees 2B
  int threads = 2;
  std::int64_t steps = 5;     // timed steps (medians over these)
  std::int64_t warmup = 1;    // untimed steps before them
  double width = 1.0;         // ResNet width multiplier (64·width channels in the stem)
  std::uint64_t seed = 0;
  std::string device = "cpu";
  std::string precision = "f32";
  std::string conv_algorithm = "direct";
  std::string checkpoint_activations = "none";
  bool memory_report = false;
  bool dump_steps = false;
};

// An integer option's lower bound (--help shows it as the option's type, "INT >= 2"); the
// error reads "--batch: must be >= 2, got 1".
CLI::Validator at_least(std::int64_t lo) {
  return CLI::Validator(
      [lo](std::string& text) -> std::string {
        std::int64_t v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not an integer";
        return v >= lo ? std::string() : "must be >= " + std::to_string(lo) + ", got " + text;
      },
      "");
}

// A finite number > 0.
CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
        return v > 0 && std::isfinite(v) ? std::string() : "must be a finite number > 0, got " + text;
      },
      "");
}

// --device's text: cpu, cuda or cuda:N (parse_device).
CLI::Validator device_name() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        Device d;
        return parse_device(text, &d) ? std::string() : "'" + text + "' is not a device (valid: cpu, cuda, cuda:N)";
      },
      "");
}

// " (default v)" after an option's help.
template <class T>
std::string default_text(const T& v) {
  std::ostringstream s;
  s << " (default " << v << ")";
  return s.str();
}

// Parses argv into *o. Returns -1 to run; otherwise the exit code: 0 after --help, 2 after a
// usage error (CLI11 has printed the message naming the option).
int parse_options(int argc, char** argv, Options* o) {
  CLI::App app{"One SimCLR training step (ResNet-18 CIFAR stem + projection head, NT-Xent, SGD): images/s, "
               "step time, CPU time and peak RSS, medians over the timed steps",
               "bench_train_step"};
  app.add_option("--batch", o->batch, "images per view; the step runs 2·batch" + default_text(o->batch))
      ->check(at_least(2))->type_name("INT >= 2");
  app.add_option("--threads", o->threads, "CPU threads" + default_text(o->threads))
      ->check(at_least(1))->type_name("INT >= 1");
  app.add_option("--steps", o->steps, "timed steps" + default_text(o->steps))
      ->check(at_least(1))->type_name("INT >= 1");
  app.add_option("--warmup", o->warmup, "untimed steps before the timed ones" + default_text(o->warmup))
      ->check(at_least(0))->type_name("INT >= 0");
  app.add_option("--width", o->width, "ResNet width multiplier" + default_text(o->width))
      ->check(positive())->type_name("NUMBER > 0");
  app.add_option("--seed", o->seed, "seed of the weights and the random batch" + default_text(o->seed));
  app.add_option("--device", o->device, "device the step runs on" + default_text(o->device))
      ->check(device_name())->type_name("cpu|cuda|cuda:N");
  app.add_option("--precision", o->precision,
                 "precision of the convolutions" + default_text(o->precision))
      ->check(CLI::IsMember({"f32", "bf16"}));
  app.add_option("--conv-algorithm", o->conv_algorithm,
                 "algorithm of the float32 3x3 stride-1 CPU convolutions" +
                     default_text(o->conv_algorithm))
      ->check(CLI::IsMember({"direct", "winograd"}));
  app.add_option("--checkpoint-activations", o->checkpoint_activations,
                 "recompute the ResNet's stem and stages, or residual blocks, in the backward" +
                     default_text(o->checkpoint_activations))
      ->check(CLI::IsMember({"none", "stages", "blocks"}));
  app.add_flag("--memory-report", o->memory_report, "where the bytes are in the last step (CPU only)");
  app.add_flag("--dump-steps", o->dump_steps, "every step's loss (hex float) and an FNV-1a hash of the weights");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; anything else: a usage error
  }
  return -1;
}

// What the caching allocator and the graph hold at the end of the forward.
struct ForwardSnapshot {
  std::vector<autograd::SavedBytes> saved;
  std::size_t live = 0, cached = 0, workspace = 0, activations = 0;
  double rss_mb = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options args;
  if (const int code = parse_options(argc, argv, &args); code >= 0) return code;
  const std::int64_t batch = args.batch;
  const int threads = args.threads;
  const std::int64_t steps = args.steps;
  const std::int64_t warmup = args.warmup;
  const double width = args.width;
  const std::uint64_t seed = args.seed;
  const bool memory_report = args.memory_report;
  const bool dump_steps = args.dump_steps;
  set_num_threads(threads);
  Device device;
  parse_device(args.device, &device);  // checked by device_name()
  try {
    set_conv_precision(parse_conv_precision(args.precision));  // bf16 on a CPU without it: the backend's message
    set_conv_algorithm(parse_conv_algorithm(args.conv_algorithm));
    backend_for(device);  // a CPU-only build, or no GPU here: the backend's message
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 2;
  }
  if (memory_report && device != Device::cpu()) {
    std::fprintf(stderr, "bench_train_step: --memory-report reads the CPU allocator; run it with --device cpu\n");
    return 2;
  }
  bench::print_kernels();
  // libgomp reads these at start-up (before main), so only the environment sets them; print
  // what this run had, next to the kernels, so a timing says which barrier wait it ran with.
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin_count = std::getenv("GOMP_SPINCOUNT");
  std::printf("omp env: OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", wait_policy ? wait_policy : "(unset)",
              spin_count ? spin_count : "(unset)");

  Generator gen(seed);
  nn::ResNetConfig cfg;
  cfg.depth = 18;
  cfg.stem = nn::Stem::cifar;
  cfg.width = width;
  nn::ResNet backbone(cfg, gen);
  backbone.set_checkpointing(nn::checkpointing_from_name(args.checkpoint_activations));
  nn::ProjectionHead head({backbone.feature_dim(), backbone.feature_dim(), 128, 2, true, false}, gen);
  backbone.to(device);  // initialised on the host (the same draws on every device), then moved
  head.to(device);
  nn::NamedTensors params = backbone.named_parameters();
  for (auto& [k, t] : head.named_parameters()) params.emplace_back("head." + k, t);
  nn::SGD opt({nn::make_group(params, 0.06, 5e-4)}, nn::SGDOptions{0.9});

  // Two views of the batch, stacked: (2B, 3, 32, 32).
  const Tensor views = Tensor::randn({2 * batch, 3, 32, 32}, gen, DType::f32, device);

  std::vector<double> times, t_fwd, t_bwd, t_opt, cpu;
  double loss_value = 0;
  ForwardSnapshot snap;
  std::size_t grad_bytes = 0, peak_live_fwd = 0, peak_ws_fwd = 0;
  for (std::int64_t it = 0; it < warmup + steps; ++it) {
    const bool report_now = memory_report && it == warmup + steps - 1;
    cpu::reset_peak_live_bytes();
    autograd::reset_peak_saved_activation_bytes();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    opt.zero_grad();
    Tensor loss;
    {
      const Tensor z = head.forward(backbone.forward(views));  // (2B, 128)
      loss = nt_xent(z, 0.5);
    }
    const auto t1 = Clock::now();
    if (report_now) {  // outside the timed phases' work, but inside t1..t2: this step's time is not used for speed
      std::vector<Tensor> param_tensors;
      for (const auto& [name, t] : params) param_tensors.push_back(t);
      snap.saved = autograd::saved_tensor_census(param_tensors);
      snap.live = cpu::live_bytes();
      snap.activations = autograd::saved_activation_bytes();
      snap.cached = cpu::cached_bytes();
      snap.workspace = cpu::workspace_live_bytes();
      snap.rss_mb = current_rss_mb();
      peak_live_fwd = cpu::peak_live_bytes();
      peak_ws_fwd = cpu::peak_workspace_bytes();
    }
    backward(loss);
    const auto t2 = Clock::now();
    if (report_now) {
      grad_bytes = 0;
      for (const auto& [name, t] : params) grad_bytes += bytes_of(t.grad());
    }
    opt.step();
    loss_value = loss.item();
    const auto t3 = Clock::now();
    if (dump_steps) {
      std::printf("step %lld loss %a weights_fnv1a %016llx\n", static_cast<long long>(it), loss_value,
                  static_cast<unsigned long long>(weights_hash(params)));
    }
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
      "contra train_step: device %s precision %s conv %s batch %lld threads %d width %g images/s %.1f step_ms %.1f "
      "cpu_s_per_step %.2f peak_rss_mb %.0f loss %.4f checkpointing %s\n",
      device.str().c_str(), precision_name(conv_precision()), conv_algorithm_name(conv_algorithm()), static_cast<long long>(batch), threads, width, 2.0 * static_cast<double>(batch) / med, med * 1e3, median(cpu),
      peak_rss_mb(), loss_value, nn::checkpointing_name(backbone.checkpointing()));
  if (memory_report) {
    std::size_t param_bytes = 0, state_bytes = 0, saved_bytes = 0;
    for (const auto& [name, t] : params) param_bytes += bytes_of(t);
    for (const auto& [name, t] : opt.state_tensors()) state_bytes += bytes_of(t);
    for (const auto& s : snap.saved) saved_bytes += s.bytes;
    std::printf("memory report (last step; MiB):\n");
    std::printf("  at the end of the forward: allocator live %.1f (saved activations %.1f, parameters %.1f, "
                "optimizer state %.1f, other %.1f), workspaces live %.1f, allocator cache (free) %.1f, "
                "RSS %.1f\n",
                mb(snap.live), mb(saved_bytes), mb(param_bytes), mb(state_bytes),
                mb(snap.live) - mb(saved_bytes) - mb(param_bytes) - mb(state_bytes), mb(snap.workspace),
                mb(snap.cached), snap.rss_mb);
    std::printf("  saved activations by op (distinct storages; the input batch is conv2d's):\n");
    for (const auto& s : snap.saved)
      std::printf("    %-22s %9.1f  (%zu tensors)\n", s.op.c_str(), mb(s.bytes), s.tensors);
    std::printf("  gradients after backward %.1f\n", mb(grad_bytes));
    std::printf("  saved activations: at the end of the forward %.1f, peak over the step %.1f (checkpointing %s)\n",
                mb(snap.activations), mb(autograd::peak_saved_activation_bytes()),
                nn::checkpointing_name(backbone.checkpointing()));
    std::printf("  peaks: allocator live forward %.1f, whole step %.1f; workspaces forward %.1f, whole step %.1f; "
                "allocator cache now %.1f; peak RSS %.1f\n",
                mb(peak_live_fwd), mb(cpu::peak_live_bytes()), mb(peak_ws_fwd), mb(cpu::peak_workspace_bytes()),
                mb(cpu::cached_bytes()), peak_rss_mb());
  }
  return 0;
}
