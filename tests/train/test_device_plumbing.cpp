// The device plumbing of the training loop, without a GPU (issue 11).
//
// This test binary brings its own `cuda_backend()`: the CPU-only build's stub
// (src/tensor/cuda/cuda_stub.cpp) is an object of the static tensor library, so the linker
// takes these definitions and leaves the stub out. Device::cuda(0) then names a second,
// CPU-like device, the "host twin": its memory is host memory, but it is another device —
// every op that mixes it with the CPU throws (record.cpp, conv.cpp), and each of its
// kernels refuses a tensor that is not its own before running the CPU kernel on aliases of
// the same bytes. So a run on it that finishes, and finishes with the CPU run's exact
// numbers, shows that the loop moved everything it uses (model, optimizer state, batches,
// the monitor's and the evaluation's inputs) and nothing stayed behind on the CPU. It counts
// host reads (copy_to_host, count_non_finite), the synchronisation points on a real GPU.
//
// What it cannot see: code that reads a twin tensor's bytes directly (data<T>(), raw_data())
// — its memory is host memory. Those are looked for by reading (README: CUDA backend).
// Built only with -Dcuda=disabled (tests/train/meson.build): a CUDA build has the real backend.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/engine.h"
#include "contrastive/layout.h"
#include "nn/checkpoint.h"
#include "nn/optimizer_factory.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tensor/backend.h"
#include "tensor/generator.h"
#include "train/config.h"
#include "train/device_choice.h"
#include "train/loss_registry.h"
#include "train/pretrainer.h"
#include "train/run_setup.h"

using namespace contra;
using namespace contra::train;
namespace fs = std::filesystem;

namespace {

const Device kTwin = Device::cuda(0);

class HostTwinBackend final : public Backend {
 public:
  std::atomic<std::int64_t> host_reads{0}, uploads{0};

  Device device() const override { return kTwin; }
  const char* name() const override { return "host-twin (test)"; }

  void* allocate(std::size_t nbytes) override { return std::aligned_alloc(64, (nbytes + 63) / 64 * 64 + 64); }
  void deallocate(void* p) override { std::free(p); }

  void copy_from_host(const void* src, const Tensor& dst) override {
    mine(dst, "copy_from_host");
    ++uploads;
    std::memcpy(dst.raw_data(), src, bytes(dst));
  }
  void copy_to_host(const Tensor& src, void* dst) override {
    mine(src, "copy_to_host");
    ++host_reads;
    std::memcpy(dst, src.raw_data(), bytes(src));
  }
  std::int64_t count_non_finite(const std::vector<Tensor>& xs) override {
    ++host_reads;  // one read of the count, as on a GPU
    return cpu().count_non_finite(h(xs));
  }

  void copy(const Tensor& s, const Tensor& d) override { cpu().copy(h(s), h(d)); }
  void fill(const Tensor& d, double v) override { cpu().fill(h(d), v); }
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryParams p) override { cpu().unary(op, h(x), h(out), p); }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cpu().binary(op, h(a), h(b), h(out));
  }
  void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) override {
    cpu().where(h(c), h(a), h(b), h(out));
  }
  void reduce(ReduceOp op, const Tensor& x, const Tensor& out) override { cpu().reduce(op, h(x), h(out)); }
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) override {
    cpu().matmul(h(a), h(b), h(out), alpha, beta);
  }
  void softmax(const Tensor& x, const Tensor& out, bool log) override { cpu().softmax(h(x), h(out), log); }
  void index_select(const Tensor& x, int dim, const Tensor& i, const Tensor& out) override {
    cpu().index_select(h(x), dim, h(i), h(out));
  }
  void index_add(const Tensor& out, int dim, const Tensor& i, const Tensor& src) override {
    cpu().index_add(h(out), dim, h(i), h(src));
  }
  void gather(const Tensor& x, int dim, const Tensor& i, const Tensor& out) override {
    cpu().gather(h(x), dim, h(i), h(out));
  }
  void scatter_add(const Tensor& out, int dim, const Tensor& i, const Tensor& src) override {
    cpu().scatter_add(h(out), dim, h(i), h(src));
  }
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const Conv2dParams& p) override {
    cpu().conv2d_forward(h(x), h(w), h(b), h(y), p);
  }
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dParams& p) override {
    cpu().conv2d_backward_data(h(dy), h(w), h(dx), p);
  }
  void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Tensor& db,
                              const Conv2dParams& p) override {
    cpu().conv2d_backward_weight(h(x), h(dy), h(dw), h(db), p);
  }
  void conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx, const Tensor& dw,
                       const Tensor& db, const Conv2dParams& p) override {
    cpu().conv2d_backward(h(dy), h(x), h(w), h(dx), h(dw), h(db), p);
  }
  void batch_norm_forward_training(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                                   const Tensor& mean, const Tensor& var, BatchNormReduction* reduction) override {
    CONTRA_CHECK(reduction == nullptr, "batch_norm", "the host twin takes no BatchNormReduction");
    cpu().batch_norm_forward_training(h(x), h(w), h(b), eps, h(y), h(mean), h(var));
  }
  void batch_norm_forward_inference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& mean,
                                    const Tensor& var, double eps, const Tensor& y) override {
    cpu().batch_norm_forward_inference(h(x), h(w), h(b), h(mean), h(var), eps, h(y));
  }
  void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& var,
                           double eps, bool batch_stats, const Tensor& dx, const Tensor& dw, const Tensor& db,
                           BatchNormReduction* reduction) override {
    CONTRA_CHECK(reduction == nullptr, "batch_norm backward", "the host twin takes no BatchNormReduction");
    cpu().batch_norm_backward(h(dy), h(x), h(w), h(mean), h(var), eps, batch_stats, h(dx), h(dw), h(db));
  }
  Tensor max_pool2d_forward(const Tensor& x, const Tensor& y, const Pool2dParams& p) override {
    return alias(cpu().max_pool2d_forward(h(x), h(y), p), kTwin);  // the workspace lives here too
  }
  void max_pool2d_backward(const Tensor& dy, const Tensor& ws, const Tensor& dx, const Pool2dParams& p) override {
    cpu().max_pool2d_backward(h(dy), h(ws), h(dx), p);
  }
  void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) override { cpu().adaptive_avg_pool2d_forward(h(x), h(y)); }
  void adaptive_avg_pool2d_backward(const Tensor& dy, const Tensor& dx) override {
    cpu().adaptive_avg_pool2d_backward(h(dy), h(dx));
  }
  void sgd_update(const std::vector<Tensor>& p, const std::vector<Tensor>& g, const std::vector<Tensor>& m,
                  const std::vector<std::uint8_t>& first, const SgdHyper& hy) override {
    cpu().sgd_update(h(p), h(g), h(m), first, hy);
  }
  void lars_update(const std::vector<Tensor>& p, const std::vector<Tensor>& g, const std::vector<Tensor>& m,
                   const LarsHyper& hy, const Tensor& trust) override {
    cpu().lars_update(h(p), h(g), h(m), hy, trust);  // trust ratios: a host output (backend.h)
  }
  void adamw_update(const std::vector<Tensor>& p, const std::vector<Tensor>& g, const std::vector<Tensor>& m,
                    const std::vector<Tensor>& v, const std::vector<double>& steps, const AdamWHyper& hy) override {
    cpu().adamw_update(h(p), h(g), h(m), h(v), steps, hy);
  }
  void contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a, const ContrastiveRowParams& p,
                            const Tensor& stats) override {
    cpu().contrastive_row_pass(h(s), h(omega), h(a), p, h(stats));
  }
  void contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                const Tensor& state) override {
    cpu().contrastive_tile_forward(h(s), h(omega), p, h(state));
  }
  void contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a, const Tensor& state,
                                 const ContrastiveRowParams& p, const Tensor& row_sum) override {
    cpu().contrastive_tile_gradient(h(s), h(omega), h(a), h(state), p, h(row_sum));
  }
  void contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) override {
    cpu().contrastive_normalize_rows(h(f), h(z), h(norm));
  }
  void contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm, const Tensor& a,
                                      const ContrastiveRowParams& p, const Tensor& df, const Tensor& norms) override {
    cpu().contrastive_normalize_backward(h(z), h(dz), h(norm), h(a), p, h(df), h(norms));
  }

  // A view of the same bytes, strides and offset, labelled with device `d`.
  static Tensor alias(const Tensor& t, Device d) {
    if (!t.defined()) return t;
    auto impl = std::make_shared<TensorImpl>();
    const std::shared_ptr<Storage> keep = t.storage();
    impl->storage = std::make_shared<Storage>(keep->data(), keep->nbytes(), d, [keep](void*) {});
    impl->shape = t.shape();
    impl->strides = t.strides();
    impl->offset = t.offset();
    impl->dtype = t.dtype();
    return Tensor(impl);
  }

 private:
  static Backend& cpu() { return backend_for(Device::cpu()); }
  static std::size_t bytes(const Tensor& t) { return static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()); }
  // As the CUDA backend does (check_same_device): a tensor of another device is refused.
  void mine(const Tensor& t, const char* op) const {
    CONTRA_CHECK(t.device() == kTwin, op, "a tensor on ", t.device().str(), " was passed to the ", kTwin.str(),
                 " backend");
  }
  Tensor h(const Tensor& t) const {
    if (t.defined()) mine(t, name());
    return alias(t, Device::cpu());
  }
  std::vector<Tensor> h(const std::vector<Tensor>& ts) const {
    std::vector<Tensor> out;
    for (const auto& t : ts) out.push_back(h(t));
    return out;
  }
};

HostTwinBackend& twin() {
  static HostTwinBackend b;
  return b;
}

}  // namespace

namespace contra {
// Replaces cuda_stub.cpp's pair for this binary (see the top of the file).
Backend& cuda_backend(int index) {
  CONTRA_CHECK(index == 0, "device cuda:" + std::to_string(index), "the test's host twin is cuda:0 only");
  return twin();
}
bool cuda_backend_available() { return true; }
}  // namespace contra

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

fs::path fresh_dir(const char* name) {
  const fs::path p = fs::temp_directory_path() / ("contra_device_" + std::string(name) + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

// A small smoke run: 64 images, 2 steps an epoch, monitor every epoch, a short evaluation.
PretrainConfig small_run(const fs::path& out, const std::string& name, const std::string& device) {
  PretrainConfig c;
  apply_preset(c, "smoke");
  c.max_train_images = 64;
  c.epochs = 2;
  c.probe_epochs = 2;
  c.workers = 1;
  c.threads = 1;
  c.out = out.string();
  c.name = name;
  c.device = device;
  return c;
}

nn::Checkpoint last_checkpoint(const std::string& run_dir) {
  nn::CheckpointManager m(run_dir + "/checkpoints", 1000);
  auto ck = m.load_latest();
  REQUIRE(ck.has_value());
  return std::move(*ck);
}

// Every tensor (model and optimizer state) of two checkpoints, byte for byte.
void check_same_tensors(const nn::Checkpoint& a, const nn::Checkpoint& b) {
  auto same = [](const nn::StateDict& x, const nn::StateDict& y) {
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      INFO(x[i].first);
      CHECK(x[i].first == y[i].first);
      const Tensor p = x[i].second.contiguous(), q = y[i].second.contiguous();
      REQUIRE(p.device() == Device::cpu());
      REQUIRE(q.device() == Device::cpu());
      REQUIRE(p.dtype() == q.dtype());
      REQUIRE(p.numel() == q.numel());
      CHECK(std::memcmp(p.raw_data(), q.raw_data(), static_cast<size_t>(p.numel()) * dtype_size(p.dtype())) == 0);
    }
  };
  same(a.model, b.model);
  same(a.optimizer_tensors, b.optimizer_tensors);
}

}  // namespace

TEST_CASE("device plumbing: open_device finds the host twin at cuda:0, and parse_device refuses bad text") {
  CHECK(open_device("cuda", "--device") == kTwin);
  CHECK(open_device("cuda:0", "--device") == kTwin);
  CHECK_THROWS_AS(open_device("cuda:1", "--device"), UsageError);  // the twin's own refusal, as a usage error
  CHECK_THROWS_AS(parse_device("gpu", "--device"), UsageError);
}

TEST_CASE("device plumbing: an op mixing the twin and the CPU throws, so a batch left on the host is caught") {
  Generator gen(0);
  nn::ResNetConfig rc;
  rc.width = 0.0625;
  rc.in_channels = 3;
  nn::ResNet net(rc, gen);
  net.to(kTwin);
  const Tensor x = Tensor::randn({2, 3, 8, 8}, gen);  // on the host
  CHECK_THROWS_WITH_AS(net.forward_features(x), doctest::Contains("one device"), Error);
  CHECK(net.forward_features(x.to(kTwin)).device() == kTwin);
}

TEST_CASE("device plumbing: a training step on the twin reads the host a few times, not once per BatchNorm layer") {
  Generator gen(0);
  nn::ResNetConfig rc;
  rc.width = 0.0625;
  rc.in_channels = 3;
  nn::ResNet backbone(rc, gen);
  nn::ProjectionHead head({backbone.feature_dim(), 16, 8, 2, true, false}, gen);
  backbone.to(kTwin);
  head.to(kTwin);
  const nn::NamedTensors params = model_parameters(backbone, head);
  auto opt = nn::make_optimizer({"sgd", 0.1, 0.9, 5e-4}, params);
  PretrainConfig c;
  const std::int64_t B = 4;
  const Tensor x = Tensor::randn({2 * B, 3, 16, 16}, gen).to(kTwin);
  std::int64_t bn_layers = 0;
  for (const auto& [name, t] : model_state(backbone, head))
    bn_layers += name.size() > 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
  REQUIRE(bn_layers >= 20);  // ResNet-18: 20 in the backbone, 1 in the head
  // Step 0 reads each layer's num_batches_tracked once: Module::to replaced its storage, so
  // the host count is taken from the moved buffer (BatchNorm::count_batch). Later steps read
  // only what the step itself needs.
  for (int step = 0; step < 3; ++step) {
    const std::int64_t before = twin().host_reads;
    const Tensor f = head(backbone.forward_features(x));
    const LossResult loss = compute_loss({f, contrastive::ViewLayout{B, 2}, Tensor(), c, false});
    opt->zero_grad();
    backward(loss.loss);
    opt->step();
    const std::int64_t reads = twin().host_reads - before;
    INFO("step ", step, ": ", reads, " host reads, ", bn_layers, " BatchNorm layers");
    // the loss's row statistics and gradient norms; with BatchNorm's item() each step it was ≥ 25
    CHECK(reads <= (step == 0 ? 4 + bn_layers : 4));
  }
  // The counters on the device are right (read here, once).
  for (const auto& [name, t] : model_state(backbone, head))
    if (name.find("num_batches_tracked") != std::string::npos) CHECK(t.item() == 3);
}

TEST_CASE("device plumbing: every registered loss runs on the twin with the CPU's loss and gradient") {
  const contrastive::ViewLayout L{6, 2};
  Generator gen(3);
  const Tensor f_host = Tensor::randn({L.M(), 8}, gen);
  const Tensor labels = Tensor::from_vector<std::int64_t>({0, 1, 0, 1, 2, 2}, {6});  // host labels, as the loader's
  for (const auto& entry : loss_registry()) {
    INFO("loss ", entry.name);
    PretrainConfig c;
    c.loss = entry.name;
    auto run_on = [&](Device d) {
      const Tensor f = f_host.to(d).detach();
      f.set_requires_grad(true);
      const LossResult r = compute_loss({f, L, labels, c, true});
      backward(r.loss);
      CHECK(r.loss.device() == d);
      CHECK(f.grad().device() == d);
      return std::make_pair(r.loss.item(), f.grad().to_vector<float>());
    };
    const auto on_cpu = run_on(Device::cpu());
    const auto on_twin = run_on(kTwin);
    CHECK(on_cpu.first == on_twin.first);
    CHECK(on_cpu.second == on_twin.second);
  }
}

TEST_CASE("device plumbing: pretrain on the twin matches the CPU run bit for bit (steps, monitor, evaluation)") {
  const fs::path out = fresh_dir("run");
  PretrainOptions o;
  o.quiet = true;
  Pretrainer on_cpu(small_run(out, "cpu", "cpu"), o);
  REQUIRE(on_cpu.run() == 0);
  Pretrainer on_twin(small_run(out, "twin", "cuda"), o);
  REQUIRE(on_twin.run() == 0);
  const nn::Checkpoint a = last_checkpoint(on_cpu.run_dir()), b = last_checkpoint(on_twin.run_dir());
  check_same_tensors(a, b);
  CHECK(b.training->config["full"]["run"]["device"] == "cuda");
  // The monitor and the final evaluation ran on the twin too, with the CPU's numbers.
  CHECK(read_file(on_cpu.run_dir() + "/epochs.csv").size() > 0);
  CHECK(nlohmann::json::parse(read_file(on_cpu.run_dir() + "/eval/results.json"))["encoders"] ==
        nlohmann::json::parse(read_file(on_twin.run_dir() + "/eval/results.json"))["encoders"]);
  fs::remove_all(out);
}

TEST_CASE("device plumbing: a run stopped on the CPU resumes on the twin (device is not a resume key)") {
  const fs::path out = fresh_dir("resume");
  PretrainOptions o;
  o.quiet = true;
  PretrainConfig whole = small_run(out, "whole", "cpu");
  whole.final_eval = false;
  Pretrainer uninterrupted(whole, o);
  REQUIRE(uninterrupted.run() == 0);

  PretrainConfig first = small_run(out, "split", "cpu");
  first.final_eval = false;
  first.max_steps = 3;  // stops mid-epoch 1
  REQUIRE(Pretrainer(first, o).run() == 0);
  PretrainConfig second = first;
  second.max_steps = 0;
  second.resume = "auto";
  second.device = "cuda";
  Pretrainer resumed(second, o);
  REQUIRE(resumed.run() == 0);
  check_same_tensors(last_checkpoint(uninterrupted.run_dir()), last_checkpoint(resumed.run_dir()));
  fs::remove_all(out);
}
