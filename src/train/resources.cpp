#include "train/resources.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "nn/resnet.h"
#include "tensor/system.h"
#include "train/run_setup.h"

namespace contra::train {

namespace {

// Per image: the elements of every convolution output of the backbone, and its parameters.
struct BackboneCount {
  std::uint64_t conv_outputs = 0;
  std::uint64_t parameters = 0;
};

BackboneCount count_backbone(const nn::ResNetConfig& rc, std::int64_t H, std::int64_t W) {
  BackboneCount n;
  const auto out_size = [](std::int64_t s, std::int64_t k, std::int64_t stride, std::int64_t pad) {
    return std::max<std::int64_t>(1, (s + 2 * pad - k) / stride + 1);
  };
  auto conv = [&](std::int64_t cin, std::int64_t cout, std::int64_t k, std::int64_t stride, std::int64_t pad,
                  std::int64_t& h, std::int64_t& w) {
    h = out_size(h, k, stride, pad);
    w = out_size(w, k, stride, pad);
    n.conv_outputs += static_cast<std::uint64_t>(cout * h * w);
    n.parameters += static_cast<std::uint64_t>(cout * cin * k * k + 2 * cout);  // + its BN
  };
  const std::int64_t B = rc.base_width();
  const bool bottleneck = rc.depth == 50;
  const int blocks[3][4] = {{2, 2, 2, 2}, {3, 4, 6, 3}, {3, 4, 6, 3}};
  const int* lay = blocks[rc.depth == 18 ? 0 : rc.depth == 34 ? 1 : 2];
  std::int64_t h = H, w = W;
  if (rc.stem == nn::Stem::cifar) {
    conv(rc.in_channels, B, 3, 1, 1, h, w);
  } else {
    conv(rc.in_channels, B, 7, 2, 3, h, w);
    h = out_size(h, 3, 2, 1);
    w = out_size(w, 3, 2, 1);
    n.conv_outputs += static_cast<std::uint64_t>(B * h * w);  // the max-pool output
  }
  std::int64_t in = B;
  for (int i = 0; i < 4; ++i) {
    const std::int64_t planes = B << i, out = bottleneck ? 4 * planes : planes;
    for (int b = 0; b < lay[i]; ++b) {
      const std::int64_t stride = (i > 0 && b == 0) ? 2 : 1;
      std::int64_t h1 = h, w1 = w, hd = h, wd = w;
      if (bottleneck) {
        conv(in, planes, 1, 1, 0, h1, w1);
        conv(planes, planes, 3, stride, 1, h1, w1);
        conv(planes, out, 1, 1, 0, h1, w1);
      } else {
        conv(in, planes, 3, stride, 1, h1, w1);
        conv(planes, planes, 3, 1, 1, h1, w1);
      }
      if (stride != 1 || in != out) conv(in, out, 1, stride, 0, hd, wd);
      n.conv_outputs += static_cast<std::uint64_t>(out * h1 * w1);  // the residual sum
      h = h1;
      w = w1;
      in = out;
    }
  }
  return n;
}

std::uint64_t head_parameters(const nn::ProjectionHeadConfig& hc) {
  std::uint64_t p = 0;
  std::int64_t in = hc.in_dim;
  for (int l = 0; l < hc.num_layers; ++l) {
    const std::int64_t out = l + 1 == hc.num_layers ? hc.out_dim : hc.hidden_dim;
    const bool hidden = l + 1 < hc.num_layers;
    const bool bn_after = hidden ? hc.batch_norm : hc.last_bn;  // a BN after it replaces the bias
    p += static_cast<std::uint64_t>(in * out + (bn_after ? 2 * out : out));
    in = out;
  }
  return p;
}

std::uint64_t head_activations(const nn::ProjectionHeadConfig& hc) {
  return static_cast<std::uint64_t>(3 * hc.hidden_dim * std::max(0, hc.num_layers - 1) + hc.out_dim);
}

}  // namespace

std::uint64_t count_parameters(const PretrainConfig& c, std::int64_t channels) {
  const nn::ResNetConfig rc = backbone_config(c, channels);
  return count_backbone(rc, 32, 32).parameters + head_parameters(head_config(c, rc.feature_dim()));
}

StepMemory estimate_step_memory(const PretrainConfig& c, std::int64_t C, std::int64_t H, std::int64_t W) {
  const nn::ResNetConfig rc = backbone_config(c, C);
  const nn::ProjectionHeadConfig hc = head_config(c, rc.feature_dim());
  const BackboneCount bb = count_backbone(rc, H, W);
  const std::uint64_t params = bb.parameters + head_parameters(hc);
  const std::uint64_t slots = c.optimizer == "adamw" ? 2 : 1;  // momentum (SGD, LARS); m and v (AdamW)
  const auto views = static_cast<std::uint64_t>(c.views), batch = static_cast<std::uint64_t>(c.batch_size);
  const std::uint64_t M = batch * views, f32 = 4;
  StepMemory m;
  m.parameters = params * f32 * (2 + slots);
  const double per_view = kActivationFactor * static_cast<double>(bb.conv_outputs + head_activations(hc)) * f32;
  m.activations = static_cast<std::uint64_t>(per_view * static_cast<double>(M));
  m.loss = 6 * M * M * f32;  // S, Λ, exp, G and two temporaries of the fused pass
  const std::uint64_t image = static_cast<std::uint64_t>(C * H * W) * f32 * views;
  const auto batches_held = static_cast<std::uint64_t>(2 + std::max<std::int64_t>(c.workers, 1));
  m.batches = image * batch * batches_held;
  m.per_image = static_cast<std::uint64_t>(per_view * static_cast<double>(views)) + image * batches_held +
                6 * f32 * views * (2 * M + views);
  return m;
}

void check_step_memory(const PretrainConfig& c, std::int64_t C, std::int64_t H, std::int64_t W) {
  if (const char* s = std::getenv("CONTRA_SKIP_MEMORY_CHECK"); s && *s && std::string(s) != "0") return;
  const StepMemory m = estimate_step_memory(c, C, H, W);
  const AvailableMemory avail = available_memory();
  if (m.total() <= avail.bytes) return;
  // The largest batch that fits, from the per-image slope (the loss term grows as M²: the
  // slope at this batch overstates it, so the suggestion errs on the safe side).
  const std::uint64_t fixed = m.parameters;
  std::string fits;
  if (avail.bytes > fixed && m.per_image > 0) {
    const std::uint64_t b = (avail.bytes - fixed) / m.per_image;
    fits = b >= 2 ? "at most about " + std::to_string(b) + " fits" : "not even 2 images fit at this width";
  } else {
    fits = "the model alone does not fit";
  }
  throw Error("memory",
              detail::concat("one training step (", c.arch, " width ", c.width, ", batch ", c.batch_size, " × ",
                             c.views, " views of ", C, "×", H, "×", W, ": parameters and optimizer ",
                             format_gib(m.parameters), ", activations ", format_gib(m.activations), ", loss ",
                             format_gib(m.loss), ", batches ", format_gib(m.batches), ") needs ",
                             format_gib(m.total()), ", this machine has ", format_gib(avail.bytes), " available (",
                             avail.source, ")"),
              "lower --batch-size (" + fits + ") or --width; CONTRA_SKIP_MEMORY_CHECK=1 skips this check");
}

RunLock::RunLock(const std::string& run_dir) {
  const std::string path = run_dir + "/lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  CONTRA_CHECK_HINT(fd_ >= 0, "run directory", "check that the run directory is writable", "cannot open ", path, ": ",
                    std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    if (err == EWOULDBLOCK)
      throw UsageError("run directory " + run_dir,
                       "is in use by another pretrain process (pid " + (pid.empty() ? "unknown" : abbreviate(pid, 20)) +
                           ", holding " + path + ")",
                       "wait for it to finish or stop it, or choose another --name");
    throw Error("run directory " + run_dir, "cannot lock " + path + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock holds without the PID; the refusal message then says "pid unknown".
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

NewRunDirectory::NewRunDirectory(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  existed_ = std::filesystem::exists(dir_, ec);
}

NewRunDirectory::~NewRunDirectory() {
  if (keep_ || existed_) return;
  std::error_code ec;
  namespace fs = std::filesystem;
  fs::remove(fs::path(dir_) / "lock", ec);
  fs::remove(fs::path(dir_) / "checkpoints", ec);  // only when empty (remove() never recurses)
  fs::remove(fs::path(dir_) / "eval", ec);
  fs::remove(dir_, ec);
}

}  // namespace contra::train
