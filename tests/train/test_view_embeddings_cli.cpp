// tools/embed views mode and tools/inspect_loss on its output, end to end on a tiny
// synthetic run (docs/derivation.md §8, issue 12 "Bounds on a trained encoder"):
//  - `embed --head --views K --augment` writes (K·N, D) view-major head outputs and (N,)
//    labels; the same seed gives the same file; views differ; without --head the width is
//    the backbone's; without --augment K must be 1 (all views would be equal);
//  - `inspect_loss --embeddings F --views K --labels y --reading both` prints the bounds
//    (B1)–(B3) under both prototype readings and the PRB, with no violation of the exact ones;
//  - clear errors (exit 2): --input with views mode, a checkpoint without a run configuration.
// Tools: CONTRA_PRETRAIN, CONTRA_EMBED, CONTRA_INSPECT_LOSS (meson).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "nn/safetensors.h"
#include "tensor/backend.h"
#include "tensor/npy.h"

namespace fs = std::filesystem;
using namespace contra;

namespace {

struct Result {
  int code;
  std::string output;
};

Result run(const char* tool_env, const std::string& args) {
  const char* bin = std::getenv(tool_env);
  REQUIRE_MESSAGE(bin != nullptr, "environment variable ", tool_env, " (path of the tool) is not set");
  FILE* p = ::popen((std::string(bin) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The scratch directory, removed when the test program ends.
struct ScratchDir {
  std::string path = (fs::temp_directory_path() / ("contra_views_" + std::to_string(::getpid()))).string();
  ScratchDir() { fs::remove_all(path); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// One tiny synthetic run (4 steps, width 1/16, head 16-d), trained once for all cases.
const std::string& checkpoint() {
  static const ScratchDir scratch;
  static const std::string ck = [] {
    const std::string& dir = scratch.path;
    const Result r = run("CONTRA_PRETRAIN",
                         "synthetic --max-train-images 128 --batch-size 32 --epochs 1 --width 0.0625 --head-hidden 16 "
                         "--head-out 16 --workers 1 --threads 2 --knn-every 0 --final-eval false --quiet --out " +
                             dir + " --name tiny");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    for (const auto& e : fs::directory_iterator(dir + "/tiny/checkpoints"))
      if (e.path().extension() == ".safetensors") return e.path().string();
    FAIL("the tiny run wrote no checkpoint");
    return std::string();
  }();
  return ck;
}

std::string tmp(const std::string& name) { return fs::path(checkpoint()).parent_path().string() + "/" + name; }

}  // namespace

TEST_CASE("embed --head --views K --augment: view-major head outputs and labels, seeded") {
  const std::string common = "--checkpoint " + checkpoint() + " --images 12 --split test --threads 1 ";
  Result r = run("CONTRA_EMBED", common + "--head --views 4 --augment --seed 3 --output " + tmp("f.npy") +
                                     " --labels-out " + tmp("y.npy"));
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("head outputs of K=4 augmented views × N=12 test images") != std::string::npos);
  const Tensor f = load_npy(tmp("f.npy")), y = load_npy(tmp("y.npy"));
  CHECK(f.dtype() == DType::f32);
  CHECK(f.shape() == Shape{48, 16});
  CHECK(y.dtype() == DType::i64);
  CHECK(y.shape() == Shape{12});
  // views of one image differ (augmented), rows are finite
  const auto fv = f.to_vector<double>();
  double diff = 0.0;
  for (int d = 0; d < 16; ++d) diff += std::abs(fv[d] - fv[12 * 16 + d]);
  CHECK(diff > 1e-6);
  for (double v : fv) CHECK(std::isfinite(v));
  // the same seed gives the same file; another seed other views
  REQUIRE(run("CONTRA_EMBED", common + "--head --views 4 --augment --seed 3 --output " + tmp("g.npy")).code == 0);
  CHECK(load_npy(tmp("g.npy")).to_vector<float>() == f.to_vector<float>());
  REQUIRE(run("CONTRA_EMBED", common + "--head --views 4 --augment --seed 4 --output " + tmp("h.npy")).code == 0);
  CHECK(load_npy(tmp("h.npy")).to_vector<float>() != f.to_vector<float>());
  // backbone features: width 64·(1/16)·8 = 32 (ResNet-18 at width 1/16); one unaugmented view
  r = run("CONTRA_EMBED", common + "--views 1 --output " + tmp("b.npy"));
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(load_npy(tmp("b.npy")).shape() == Shape{12, 32});
}

TEST_CASE("embed views mode: clear errors") {
  const std::string ck = checkpoint();
  Result r = run("CONTRA_EMBED", "--checkpoint " + ck + " --views 4 --output " + tmp("x.npy"));
  CHECK(r.code == 2);
  CHECK(r.output.find("add --augment") != std::string::npos);
  r = run("CONTRA_EMBED", "--checkpoint " + ck + " --head --input " + tmp("f.npy") + " --output " + tmp("x.npy"));
  CHECK(r.code == 2);
  CHECK(r.output.find("--input cannot be combined") != std::string::npos);
  // plain weights (the model tensors without the run configuration)
  nn::StateDict weights;
  for (const auto& [k, t] : nn::load_safetensors(ck).tensors)
    if (k.rfind("optimizer.", 0) != 0) weights.emplace_back(k, t);
  nn::save_safetensors(tmp("plain.safetensors"), weights);
  r = run("CONTRA_EMBED", "--checkpoint " + tmp("plain.safetensors") + " --head --output " + tmp("x.npy"));
  CHECK(r.code == 2);
  CHECK(r.output.find("no run configuration") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp("x.npy")));
  // --device: bad text, and cuda where none is usable, exit 2 before anything is written
  r = run("CONTRA_EMBED", "--checkpoint " + ck + " --views 1 --device gpu --output " + tmp("x.npy"));
  CHECK(r.code == 2);
  CHECK(r.output.find("valid: cpu, cuda, cuda:N") != std::string::npos);
  if (!contra::cuda_available()) {
    r = run("CONTRA_EMBED", "--checkpoint " + ck + " --views 1 --device cuda --output " + tmp("x.npy"));
    CHECK(r.code == 2);
    CHECK(r.output.find("CUDA") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(tmp("x.npy")));
  // --device cpu (the default, explicit) gives the default's bytes
  REQUIRE(run("CONTRA_EMBED", "--checkpoint " + ck + " --views 1 --output " + tmp("d0.npy")).code == 0);
  REQUIRE(run("CONTRA_EMBED", "--checkpoint " + ck + " --views 1 --device cpu --output " + tmp("d1.npy")).code == 0);
  CHECK(load_npy(tmp("d0.npy")).to_vector<float>() == load_npy(tmp("d1.npy")).to_vector<float>());
}

TEST_CASE("inspect_loss --embeddings (trained head views) --labels --reading both: bounds and PRB") {
  const std::string f = tmp("fb.npy"), y = tmp("yb.npy");
  Result r = run("CONTRA_EMBED", "--checkpoint " + checkpoint() + " --head --views 4 --augment --images 16 --seed 1 "
                                 "--threads 1 --output " + f + " --labels-out " + y);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  r = run("CONTRA_INSPECT_LOSS", "--embeddings " + f + " --views 4 --labels " + y +
                                     " --loss derived --temperature 0.2 --reading both --max-rows 2");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("inner-product reading (z̄·μ, μ = mean of z̄)") != std::string::npos);
  CHECK(r.output.find("cosine reading (s(f, m), m = mean of f)") != std::string::npos);
  CHECK(r.output.find("PRB over N=16 images, K=4 views, D=16") != std::string::npos);
  // the exact bounds: no B1 (covered) and no B2 violation under either reading, no B3 under the inner product
  const std::regex summary(R"(violations: B1 covered (\d+), B1 uncovered \d+, B2 (\d+), B3 (\d+))");
  int tables = 0;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), summary); it != std::sregex_iterator(); ++it) {
    CHECK((*it)[1].str() == "0");
    CHECK((*it)[2].str() == "0");
    if (tables == 0) CHECK((*it)[3].str() == "0");
    ++tables;
  }
  CHECK(tables == 2);
}
