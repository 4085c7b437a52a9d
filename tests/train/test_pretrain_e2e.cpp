// End to end: tools/pretrain and tools/evaluate on tiny synthetic data and a small
// Fashion-MNIST-LT slice.
//  - a smoke run leaves a complete run directory and its loss goes down;
//  - the same seed gives the same numbers;
//  - a run stopped (max_steps, SIGINT, kill -9) and resumed equals an uninterrupted run:
//    same losses at every step, bit-identical final weights (reliability.md C2, S1, P2);
//  - a non-finite loss stops the run (exit 3) without saving non-finite weights (S3);
//  - bad options and configs exit 2 with a clear message (I7); an incompatible resume is
//    refused listing the keys (C6).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "nn/checkpoint.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_isa.h"
#include "train/metrics_log.h"
#include "tool_test_util.h"

namespace fs = std::filesystem;
using contra::train::JsonlLog;

namespace {

using contra::test::tool;
using contra::test::wait_exit;
using contra::test::wait_for_checkpoint;

std::string base_dir() {
  static const std::string d = contra::test::scratch_dir("contra_e2e_");
  return d;
}

// Small, fast: 320 synthetic images, batch 32 → 10 steps per epoch, width 1/16.
std::string common_flags() {
  return " synthetic --max-train-images 320 --batch-size 32 --epochs 2 --width 0.0625 --head-hidden 16 "
         "--head-out 16 --workers 2 --threads 2 --log-every 1 --knn-every 1 --knn-k 10 --quiet --out " +
         base_dir();
}

using Result = contra::test::ToolResult;

Result run(const std::string& args) { return contra::test::run_command(std::string(tool("CONTRA_PRETRAIN")) + " " + args); }

std::vector<double> losses(const std::string& run_dir) {
  std::vector<double> v;
  for (const auto& e : JsonlLog::read(run_dir + "/metrics.jsonl"))
    if (e.contains("loss")) v.push_back(e["loss"].get<double>());
  return v;
}

std::vector<std::int64_t> steps(const std::string& run_dir) {
  std::vector<std::int64_t> v;
  for (const auto& e : JsonlLog::read(run_dir + "/metrics.jsonl"))
    if (e.contains("loss")) v.push_back(e["step"].get<std::int64_t>());
  return v;
}

contra::nn::StateDict final_weights(const std::string& run_dir) {
  contra::nn::CheckpointManager m(run_dir + "/checkpoints", 1000);
  auto ck = m.load_latest();
  REQUIRE(ck.has_value());
  return ck->model;
}

void check_same_weights(const contra::nn::StateDict& a, const contra::nn::StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    const auto x = a[i].second.to_vector<double>(), y = b[i].second.to_vector<double>();
    CHECK_MESSAGE(x == y, "tensor ", a[i].first, " differs");
  }
}

// Spawns the tool in the background; returns its pid.
pid_t spawn(const std::string& args) {
  return contra::test::spawn_command(std::string(tool("CONTRA_PRETRAIN")) + " " + args + " >/dev/null 2>&1");
}

// The uninterrupted reference run (computed once).
const std::string& reference_run() {
  static const std::string dir = [] {
    const Result r = run(common_flags() + " --name reference --final-eval false");
    INFO(r.output);
    REQUIRE(r.code == 0);
    return base_dir() + "/reference";
  }();
  return dir;
}

}  // namespace

TEST_CASE("smoke run: complete run directory, loss goes down, evaluation and report") {
  const Result r = run(common_flags() + " --name smoke --epochs 3 --probe-epochs 3 ");
  INFO(r.output);
  REQUIRE(r.code == 0);
  const std::string d = base_dir() + "/smoke";
  for (const char* f : {"config.toml", "manifest.json", "metrics.jsonl", "epochs.csv", "checkpoints/latest",
                        "eval/results.json", "eval/summary.csv", "eval/per_class.csv", "eval/prb_per_class.csv",
                        "report.md", "report.html", "curves.csv"})
    CHECK_MESSAGE(fs::exists(d + "/" + f), "missing ", f);
  const auto l = losses(d);
  REQUIRE(l.size() == 30);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    first += l[i];
    last += l[l.size() - 1 - i];
  }
  CHECK(last < first);
  std::ifstream rf(d + "/eval/results.json");
  const auto results = nlohmann::json::parse(rf);
  for (const char* enc : {"pretrained", "random init", "raw pixels"}) {
    REQUIRE(results["encoders"].contains(enc));
    CHECK(results["encoders"][enc]["linear_probe"]["overall"].get<double>() > 0.1);
    CHECK(results["encoders"][enc]["knn_full_bank"]["per_class"].size() == 10);
  }
  CHECK(results["encoders"]["pretrained"]["prb"]["backbone"]["normalised"].get<double>() >= 0.0);
  // epochs.csv has one row per epoch, the last one included, with its kNN monitor.
  std::ifstream ec(d + "/epochs.csv");
  std::string line, last_row;
  int rows = 0;
  std::getline(ec, line);
  while (std::getline(ec, line)) {
    ++rows;
    last_row = line;
  }
  CHECK(rows == 3);
  CHECK(last_row.rfind("2,", 0) == 0);
  CHECK(last_row.find("nan") == std::string::npos);
  std::ifstream man(d + "/manifest.json");
  const auto m = nlohmann::json::parse(man);
  CHECK(m["dataset"]["per_class_counts"].size() == 10);
  CHECK(m["environment"]["threads"].get<int>() == 2);
  std::stringstream report;
  report << std::ifstream(d + "/report.md").rdbuf();
  CHECK(report.str().find("linear probe") != std::string::npos);

  // tools/evaluate on the run directory reproduces the evaluation.
  const std::string cmd = std::string(tool("CONTRA_EVALUATE")) + " " + d + " --probe-epochs 3 --out " + d + "/eval2 2>&1";
  CHECK(std::system(cmd.c_str()) == 0);
  std::ifstream rf2(d + "/eval2/results.json");
  const auto results2 = nlohmann::json::parse(rf2);
  CHECK(results2["encoders"]["pretrained"]["knn_full_bank"]["overall"] ==
        results["encoders"]["pretrained"]["knn_full_bank"]["overall"]);
  CHECK(m["config"]["run"]["device"] == "cpu");
  CHECK(m["environment"]["device"] == "cpu");
  // tools/evaluate --device: refused (exit 2) where no CUDA device is usable, before writing
  if (!contra::cuda_available()) {
    const std::string no_gpu = std::string(tool("CONTRA_EVALUATE")) + " " + d + " --device cuda --out " + d +
                               "/eval3 > " + d + "/eval3.log 2>&1";
    CHECK(WEXITSTATUS(std::system(no_gpu.c_str())) == 2);
    CHECK_FALSE(std::filesystem::exists(d + "/eval3"));
  }
}

TEST_CASE("smoke run on a small Fashion-MNIST-LT slice (the real data of the default job)") {
  // 512 of the 14,886 long-tailed images, the default preset's model and augmentation.
  const Result r = run("fashion_mnist_lt --max-train-images 512 --batch-size 64 --epochs 3 --knn-every 0 "
                       "--final-eval false --log-every 1 --threads 2 --quiet --out " + base_dir() + " --name fashion");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("fashion_mnist_lt/train/subset: 512 images, 10 classes, 1×28×28") != std::string::npos);
  const auto l = losses(base_dir() + "/fashion");
  REQUIRE(l.size() == 24);
  CHECK(l[21] + l[22] + l[23] < l[0] + l[1] + l[2]);
  std::ifstream man(base_dir() + "/fashion/manifest.json");
  const auto m = nlohmann::json::parse(man);
  CHECK(m["dataset"]["per_class_counts"].size() == 10);
  CHECK(m["config"]["data"]["jitter"].get<double>() == 0.8);
}

TEST_CASE("the same seed gives the same numbers") {
  const Result r = run(common_flags() + " --name again --final-eval false");
  REQUIRE(r.code == 0);
  CHECK(losses(base_dir() + "/again") == losses(reference_run()));
  check_same_weights(final_weights(base_dir() + "/again"), final_weights(reference_run()));
}

TEST_CASE("--precision bf16: bf16 convolutions train close to f32 where the CPU has them, refused clearly elsewhere") {
  const Result r = run(common_flags() + " --name bf16 --final-eval false --precision bf16");
  INFO(r.output);
  if (!contra::bf16_supported()) {
    MESSAGE("SKIPPED the bf16 run: this CPU has neither AVX512-BF16 nor AMX-BF16 (checking the refusal)");
    CHECK(r.code == 1);
    CHECK(r.output.find("AVX512-BF16") != std::string::npos);
    return;
  }
  REQUIRE(r.code == 0);
  std::ifstream man(base_dir() + "/bf16/manifest.json");
  CHECK(nlohmann::json::parse(man)["config"]["model"]["precision"] == "bf16");
  const auto bf16 = losses(base_dir() + "/bf16"), f32 = losses(reference_run());
  REQUIRE(bf16.size() == f32.size());
  CHECK(bf16 != f32);  // the convolutions really ran in bf16
  // Step 1 (same weights, same batch: only the rounding differs) agrees closely; after that
  // the tiny model's trajectories part (as f32 runs of different builds do), so epoch means.
  CHECK(bf16[0] == doctest::Approx(f32[0]).epsilon(0.005));
  const auto mean = [](const std::vector<double>& v, size_t from) {
    double t = 0;
    for (size_t i = from; i < v.size(); ++i) t += v[i];
    return t / static_cast<double>(v.size() - from);
  };
  CHECK(mean(bf16, bf16.size() / 2) == doctest::Approx(mean(f32, f32.size() / 2)).epsilon(0.05));
}

TEST_CASE("--conv-algorithm winograd: Winograd convolutions train close to direct where oneDNN has them") {
  const Result r = run(common_flags() + " --name wino --final-eval false --conv-algorithm winograd");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("winograd F(4x4,3x3)") != std::string::npos);
  std::ifstream man(base_dir() + "/wino/manifest.json");
  CHECK(nlohmann::json::parse(man)["config"]["model"]["conv_algorithm"] == "winograd");
  const auto wino = losses(base_dir() + "/wino"), direct = losses(reference_run());
  REQUIRE(wino.size() == direct.size());
  if (!contra::cpu::cpu_isa().os_avx512) {  // oneDNN has no Winograd kernel: every layer stays direct
    MESSAGE("SKIPPED the Winograd comparison: this CPU has no AVX-512, so oneDNN keeps the direct kernels");
    CHECK(wino == direct);
    return;
  }
  CHECK(wino != direct);  // the 3×3 layers with ≥ 32 channels (stage 4 at width 1/16) ran Winograd
  CHECK(wino[0] == doctest::Approx(direct[0]).epsilon(1e-4));  // step 1: only the rounding differs
  const auto mean = [](const std::vector<double>& v, size_t from) {
    double t = 0;
    for (size_t i = from; i < v.size(); ++i) t += v[i];
    return t / static_cast<double>(v.size() - from);
  };
  CHECK(mean(wino, wino.size() / 2) == doctest::Approx(mean(direct, direct.size() / 2)).epsilon(0.05));
  CHECK(run(common_flags() + " --name wino_bad --conv-algorithm fft").output.find("direct") != std::string::npos);
}

TEST_CASE("stop mid-epoch (max_steps), resume: same losses and weights as uninterrupted") {
  const std::string flags = common_flags() + " --name stopped --final-eval false";
  REQUIRE(run(flags + " --max-steps 13 --checkpoint-every 13").code == 0);
  CHECK(steps(base_dir() + "/stopped").back() == 13);
  const Result r = run(flags + " --resume auto");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("resumed from") != std::string::npos);
  CHECK(losses(base_dir() + "/stopped") == losses(reference_run()));
  check_same_weights(final_weights(base_dir() + "/stopped"), final_weights(reference_run()));
}

TEST_CASE("kill -9 mid-training, resume: continues at the checkpoint and matches the uninterrupted run") {
  const std::string flags = common_flags() + " --name killed --final-eval false --checkpoint-every 3";
  const pid_t pid = spawn(flags);
  REQUIRE(wait_for_checkpoint(base_dir() + "/killed", 6, 60));
  ::kill(pid, SIGKILL);
  CHECK(wait_exit(pid) == 128 + SIGKILL);
  const Result r = run(flags + " --resume auto");
  INFO(r.output);
  REQUIRE(r.code == 0);
  const auto s = steps(base_dir() + "/killed");
  for (size_t i = 0; i < s.size(); ++i) CHECK(s[i] == static_cast<std::int64_t>(i + 1));  // no gaps, no duplicates
  CHECK(losses(base_dir() + "/killed") == losses(reference_run()));
  check_same_weights(final_weights(base_dir() + "/killed"), final_weights(reference_run()));
}

TEST_CASE("SIGINT finishes the step, saves and exits 130; resume completes the run") {
  const std::string flags = common_flags() + " --name interrupted --final-eval false --checkpoint-every 2";
  const pid_t pid = spawn(flags);
  REQUIRE(wait_for_checkpoint(base_dir() + "/interrupted", 2, 60));
  ::kill(pid, SIGINT);
  const int code = wait_exit(pid);
  CHECK((code == 130 || code == 0));  // 0 only if the run had already finished
  const Result r = run(flags + " --resume auto");
  REQUIRE(r.code == 0);
  CHECK(losses(base_dir() + "/interrupted") == losses(reference_run()));
  check_same_weights(final_weights(base_dir() + "/interrupted"), final_weights(reference_run()));
}

TEST_CASE("a non-finite loss stops the run (exit 3) and nothing non-finite is saved") {
  const Result r = run(common_flags() + " --name exploding --final-eval false --lr 1e6 --optimizer sgd --momentum 0.99");
  INFO(r.output);
  CHECK(r.code == 3);
  CHECK(r.output.find("non-finite") != std::string::npos);
  CHECK(r.output.find("step") != std::string::npos);
  contra::nn::CheckpointManager m(base_dir() + "/exploding/checkpoints", 1000);
  if (auto ck = m.load_latest())
    for (auto& [name, t] : ck->model)
      for (double v : t.to_vector<double>()) REQUIRE_MESSAGE(std::isfinite(v), name);
}

TEST_CASE("bad options and configs exit 2 with clear messages") {
  Result r = run("synthetic --epochs 0 --out " + base_dir());
  CHECK(r.code == 2);
  CHECK(r.output.find("out of range") != std::string::npos);
  r = run("synthetic --no-such-option 1");
  CHECK(r.code == 2);
  r = run("not_a_dataset --out " + base_dir());
  CHECK(r.code == 2);
  CHECK(r.output.find("valid names") != std::string::npos);
  r = run("synthetic --loss triplet");
  CHECK(r.code == 2);
  CHECK(r.output.find("valid: nt_xent") != std::string::npos);
  const std::string bad = base_dir() + "/bad.toml";
  std::ofstream(bad) << "[optim]\nlr = 0.1\nepochs = \"two\"\n";
  r = run("--config " + bad);
  CHECK(r.code == 2);
  CHECK(r.output.find("bad.toml:3:") != std::string::npos);
  std::ofstream(bad) << "[optim]\nlr = [\n";
  r = run("--config " + bad);
  CHECK(r.code == 2);
  CHECK(r.output.find("malformed TOML") != std::string::npos);
  // --device cuda where no CUDA device is usable: exit 2 before anything is written. A CPU-only
  // build names -Dcuda=enabled; a CUDA build on a machine without a GPU says so.
  if (!contra::cuda_available()) {
    r = run("synthetic --device cuda --out " + base_dir() + " --name no_cuda");
    CHECK(r.code == 2);
    CHECK((r.output.find("-Dcuda=enabled") != std::string::npos ||
           r.output.find("no usable CUDA device") != std::string::npos));
    CHECK_FALSE(std::filesystem::exists(base_dir() + "/no_cuda"));
  }
  r = run("synthetic --device tpu");
  CHECK(r.code == 2);
  CHECK(r.output.find("valid: cpu, cuda, cuda:N") != std::string::npos);
  // An existing run directory is not overwritten.
  reference_run();
  r = run(common_flags() + " --name reference --final-eval false");
  CHECK(r.code == 2);
  CHECK(r.output.find("--resume auto") != std::string::npos);
}

TEST_CASE("an incompatible resume is refused, listing the differing keys") {
  reference_run();
  const Result r = run(common_flags() + " --name reference --final-eval false --resume auto --batch-size 16 --width 0.125");
  CHECK(r.code == 2);
  CHECK(r.output.find("optim.batch_size") != std::string::npos);
  CHECK(r.output.find("model.width") != std::string::npos);
}
