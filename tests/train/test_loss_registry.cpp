// train/loss_registry.h: adding a loss is one register_loss() call (or one row of the table),
// and the configuration, its option rule, --help and the training loop pick it up.
// Nothing outside this file and the registry knows the toy loss below.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "autograd/ops.h"
#include "train/config.h"
#include "train/loss_registry.h"
#include "train/metrics_log.h"
#include "train/pretrainer.h"

using namespace contra;
using namespace contra::train;
namespace fs = std::filesystem;

namespace {

int toy_calls = 0;

// L = λ · mean(f²): reads loss.lambda, needs no labels, measures no telemetry.
LossResult toy_scaled_energy(const LossInputs& in) {
  ++toy_calls;
  return {scale(mean(in.embeddings * in.embeddings), in.config.lambda), std::nullopt};
}

void register_toy_once() {
  static const bool done = [] {
    register_loss({"toy_energy", "a toy: λ · mean(f²) (tests only)", {"loss.lambda"}, false, &toy_scaled_energy});
    return true;
  }();
  (void)done;
}

}  // namespace

TEST_CASE("loss registry: a registered loss is a valid loss.type, listed in --help and the option rule") {
  register_toy_once();
  const auto names = loss_names();
  CHECK(std::find(names.begin(), names.end(), "toy_energy") != names.end());
  CHECK(find_loss("toy_energy").options == std::vector<std::string>{"loss.lambda"});
  CHECK(loss_help().find("toy_energy: a toy") != std::string::npos);
  CHECK(loss_option_rule().find("--lambda with derived or supervised or toy_energy") != std::string::npos);

  PretrainConfig c;
  apply_toml_string(c, "[loss]\ntype = \"toy_energy\"\nlambda = 2.5\n", "toy.toml");
  CHECK(c.loss == "toy_energy");
  CHECK_NOTHROW(validate(c));  // the toy reads λ
  c.loss = "nt_xent";          // which does not
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("read only by --loss derived or supervised or toy_energy"),
                       UsageError);
  c.loss = "toy_energy";
  c.repel = 0.5;  // balanced's option: refused with the toy
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--repel"), UsageError);
  CHECK_THROWS_WITH_AS(find_loss("no_such_loss"), doctest::Contains("toy_energy"), UsageError);
}

TEST_CASE("loss registry: names are unique and options are [loss] keys") {
  register_toy_once();
  CHECK_THROWS_WITH_AS(register_loss({"toy_energy", "again", {}, false, &toy_scaled_energy}),
                       doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(register_loss({"toy_bad_option", "x", {"optim.lr"}, false, &toy_scaled_energy}),
                       doctest::Contains("optim.lr"), Error);
  CHECK_THROWS_WITH_AS(register_loss({"toy_no_key", "x", {"loss.no_such_key"}, false, &toy_scaled_energy}),
                       doctest::Contains("loss.no_such_key"), Error);
}

TEST_CASE("loss registry: the training loop runs a registered loss") {
  register_toy_once();
  const fs::path out = fs::temp_directory_path() / ("contra_toy_loss_" + std::to_string(::getpid()));
  fs::remove_all(out);
  PretrainConfig c;
  apply_preset(c, "smoke");
  c.loss = "toy_energy";
  c.lambda = 2.0;
  c.max_steps = 2;
  c.workers = 1;
  c.out = out.string();
  c.name = "toy";
  PretrainOptions o;
  o.quiet = true;
  toy_calls = 0;
  Pretrainer p(c, o);
  CHECK(p.run() == 0);
  CHECK(toy_calls == 2);
  const auto log = JsonlLog::read(p.run_dir() + "/metrics.jsonl");
  REQUIRE(log.size() == 2);
  for (const auto& e : log) {
    CHECK(e["loss"].get<double>() > 0.0);     // λ · mean(f²) of non-zero embeddings
    CHECK_FALSE(e.contains("attraction"));  // no telemetry from this loss
  }
  CHECK(fs::exists(p.run_dir() + "/checkpoints/ckpt-00000002.safetensors"));
  fs::remove_all(out);
}
