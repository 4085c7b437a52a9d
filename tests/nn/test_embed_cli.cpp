// tools/embed end to end: PyTorch-exported weights → features equal to PyTorch's
// (fixture resnet18_cifar_w8), a contra checkpoint with fc/head/optimizer keys, and clear
// failures. The embed binary's path comes from the EMBED environment variable (meson).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "autograd/grad_mode.h"
#include "tensor/atomic_file.h"
#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/resnet.h"
#include "nn/safetensors.h"
#include "nn/sgd.h"
#include "nn_test_util.h"

using namespace contra;
using namespace contra::nn;
using contra::nn_test::fixture;
using contra::nn_test::load_fixture;
using contra::nn_test::max_abs_diff;

namespace {
// Runs embed with `args`; returns the exit code, stderr in `err`.
int run_embed(const std::string& args, std::string* err = nullptr) {
  const char* bin = std::getenv("EMBED");
  REQUIRE_MESSAGE(bin, "set EMBED to the embed executable");
  const std::string log = "/tmp/contra_embed_" + std::to_string(::getpid()) + ".log";
  const int status = std::system((std::string(bin) + " " + args + " 2>" + log).c_str());
  if (err) *err = read_file_bytes(log);
  std::filesystem::remove(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("embed reproduces PyTorch's eval-mode features from a torchvision state_dict") {
  const std::string dir = fixture("resnet18_cifar_w8/");
  const std::string out = contra::nn_test::temp_dir("embed") + "/f.npy";
  REQUIRE(run_embed("--checkpoint " + dir + "weights.safetensors --arch resnet18 --stem cifar --width 0.125 --input " +
                    dir + "x.npy --output " + out + " --batch-size 3") == 0);
  const Tensor f = load_npy(out), ref = load_fixture("resnet18_cifar_w8/eval_features.npy");
  CHECK(f.dtype() == DType::f32);
  CHECK(f.shape() == Shape{4, 64});
  CHECK(max_abs_diff(f, ref) < 1e-4);  // |features| ≤ 12
}

TEST_CASE("embed reads a contra checkpoint with fc, head and optimizer tensors; rejects mismatches") {
  const std::string tmp = contra::nn_test::temp_dir("embed2");
  const std::string dir = fixture("resnet18_cifar_w8/");
  StateDict weights = load_safetensors(dir + "weights.safetensors").tensors;
  Generator gen(1);
  Linear fc(64, 10, true, gen), head(64, 16, true, gen);
  for (auto& [k, t] : fc.state_dict()) weights.emplace_back("fc." + k, t);
  for (auto& [k, t] : head.state_dict()) weights.emplace_back("head.0." + k, t);
  SGD opt({make_group(head.named_parameters(), 0.1, 0)}, SGDOptions{0.9});
  head.weight.set_grad(Tensor::ones({16, 64}));
  opt.step();
  TrainingState st;
  st.step = 5;
  save_checkpoint(tmp + "/ck.safetensors", weights, &opt, st);
  REQUIRE(run_embed("--checkpoint " + tmp + "/ck.safetensors --arch resnet18 --stem cifar --width 0.125 --input " + dir +
                    "x.npy --output " + tmp + "/f.npy") == 0);
  CHECK(max_abs_diff(load_npy(tmp + "/f.npy"), load_fixture("resnet18_cifar_w8/eval_features.npy")) < 1e-4);

  // Under a prefix ("backbone."), selected with --prefix.
  save_safetensors(tmp + "/prefixed.safetensors", with_prefix(weights, "backbone."));
  REQUIRE(run_embed("--checkpoint " + tmp + "/prefixed.safetensors --prefix backbone. --arch resnet18 --width 0.125 "
                    "--input " + dir + "x.npy --output " + tmp + "/g.npy") == 0);
  CHECK(max_abs_diff(load_npy(tmp + "/g.npy"), load_npy(tmp + "/f.npy")) == 0.0);

  std::string err;
  CHECK(run_embed("--checkpoint " + tmp + "/ck.safetensors --arch resnet18 --stem imagenet --width 0.125 --input " + dir +
                      "x.npy --output " + tmp + "/h.npy",
                  &err) == 1);
  CHECK(err.find("conv1.weight: checkpoint (8, 3, 3, 3) vs model (8, 3, 7, 7)") != std::string::npos);
  CHECK(err.find("check --arch, --stem") != std::string::npos);
  CHECK(run_embed("--checkpoint " + tmp + "/ck.safetensors --width 0.125 --in-channels 1 --input " + dir +
                      "x.npy --output " + tmp + "/h.npy",
                  &err) == 1);
  CHECK(err.find("vs model (8, 1, 3, 3)") != std::string::npos);
  CHECK(run_embed("--checkpoint " + tmp + "/ck.safetensors --arch vgg11 --input " + dir + "x.npy --output x.npy", &err) ==
        2);
  CHECK(run_embed("--checkpoint " + dir + "x.npy --width 0.125 --input " + dir + "x.npy --output " + tmp + "/h.npy",
                  &err) == 1);
  CHECK(err.find("x.npy") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp + "/h.npy"));
  std::filesystem::remove_all(tmp);
}

TEST_CASE("embed refuses NaN weights and NaN pixels instead of writing finite features (S5, issue 13.7)") {
  const std::string tmp = contra::nn_test::temp_dir("embed_nan");
  const std::string dir = fixture("resnet18_cifar_w8/");
  const std::string args = " --arch resnet18 --stem cifar --width 0.125 --output " + tmp + "/f.npy";
  // A NaN planted in layer2.0.conv1.weight, the file's checksums recomputed (as a careful attacker would).
  const SafetensorsFile file = load_safetensors(dir + "weights.safetensors");
  StateDict w = file.tensors;
  bool planted = false;
  for (auto& [k, t] : w)
    if (k == "layer2.0.conv1.weight") {
      t = t.clone();
      t.set_at({1, 2, 0, 1}, NAN);
      planted = true;
    }
  REQUIRE(planted);
  save_safetensors(tmp + "/nan.safetensors", w);
  std::string err;
  CHECK(run_embed("--checkpoint " + tmp + "/nan.safetensors --input " + dir + "x.npy" + args, &err) == 1);
  CHECK(err.find("tensor 'layer2.0.conv1.weight' holds 1 non-finite value(s)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp + "/f.npy"));
  // A NaN pixel in the input batch: refused, naming image and position.
  Tensor x = load_npy(dir + "x.npy").clone();
  x.set_at({2, 1, 3, 4}, NAN);
  save_npy(tmp + "/x_nan.npy", x);
  CHECK(run_embed("--checkpoint " + dir + "weights.safetensors --input " + tmp + "/x_nan.npy" + args, &err) == 1);
  CHECK(err.find("x_nan.npy") != std::string::npos);
  CHECK(err.find("image 2 channel 1 at (3, 4)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp + "/f.npy"));
  // The forward pass itself keeps NaN (relu(NaN) = NaN): no finite features from a NaN input.
  {
    Generator gen(0);
    nn::ResNetConfig cfg;
    cfg.width = 0.125;
    nn::ResNet net(cfg, gen);
    net.load_state_dict(file.tensors, false);
    net.eval();
    autograd::NoGradGuard ng;
    const auto f = net.forward_features(x).to_vector<double>();  // (4, 64)
    int nan_rows = 0;
    for (int i = 0; i < 4; ++i) {
      bool any = false;
      for (int j = 0; j < 64; ++j) any = any || std::isnan(f[i * 64 + j]);
      nan_rows += any;
    }
    CHECK(nan_rows == 1);
  }
  std::filesystem::remove_all(tmp);
}

TEST_CASE("embed: --output naming the checkpoint or the input is refused; int32 input is named int32 (issue 13.9)") {
  const std::string tmp = contra::nn_test::temp_dir("embed_out");
  const std::string dir = fixture("resnet18_cifar_w8/");
  std::filesystem::copy_file(dir + "weights.safetensors", tmp + "/w.safetensors");
  const std::string before = read_file_bytes(tmp + "/w.safetensors");
  std::string err;
  CHECK(run_embed("--checkpoint " + tmp + "/w.safetensors --width 0.125 --input " + dir + "x.npy --output " + tmp +
                      "/w.safetensors",
                  &err) == 2);
  CHECK(err.find("is the checkpoint") != std::string::npos);
  CHECK(read_file_bytes(tmp + "/w.safetensors") == before);
  // The same file under another spelling of its path.
  CHECK(run_embed("--checkpoint " + tmp + "/w.safetensors --width 0.125 --input " + dir + "x.npy --output " + tmp +
                      "/./w.safetensors",
                  &err) == 2);
  CHECK(read_file_bytes(tmp + "/w.safetensors") == before);
  // int32 images: the message names what the file holds.
  const std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3, 2, 2), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string bytes = npy + std::string(1, static_cast<char>(header.size() & 0xff)) +
                      std::string(1, static_cast<char>(header.size() >> 8)) + header + std::string(48, '\0');
  {
    std::ofstream f(tmp + "/i32.npy", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  CHECK(run_embed("--checkpoint " + tmp + "/w.safetensors --width 0.125 --input " + tmp + "/i32.npy --output " + tmp +
                      "/f.npy",
                  &err) == 1);
  CHECK(err.find("got int32 ('<i4')") != std::string::npos);
  std::filesystem::remove_all(tmp);
}
