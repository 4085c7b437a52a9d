// tools/sweep end to end on tiny synthetic runs (seconds each): a sweep runs its grid ×
// seeds as normal run directories, a failed run is reported while the others go on,
// SIGINT stops it cleanly (exit 130), the same command resumes it (finished runs are not
// run again), a run finished with another configuration is never reused, and the report,
// summary and figures are written. Also the command-line side
// of the loss-option rule and of the β/ρ rule in tools/pretrain.
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

#include "train/plots.h"
#include "tool_test_util.h"

namespace fs = std::filesystem;

namespace {

using contra::test::tool;
using Result = contra::test::ToolResult;
using contra::test::run_command;

std::string base_dir() {
  static const std::string d = contra::test::scratch_dir("contra_sweep_e2e_");
  return d;
}

Result run(const std::string& cmd) { return run_command(cmd); }

// Tiny runs: 96 synthetic images, batch 32, one epoch, width 1/16; a short evaluation.
const char* kSpec = R"([sweep]
name = "tiny"
base = "smoke"
seeds = [0, 1]

[set]
data.max_train_images = 96
optim.epochs = 1
eval.knn_every = 0
run.log_every = 1
run.checkpoint_every = 1

[grid]
loss.type = "balanced"
loss.positive_weight = 0.0

[axes]
optim.batch_size = [32, 256]    # 256 > 96 images: these runs fail, the others go on

[baseline]
label = "NT-Xent"

[evaluate]
few_shot = [5, 2]
few_shot_draws = 2
prb_views = 2
prb_images = 60
probe_epochs = 2
)";

std::string sweep_cmd(const std::string& spec, const std::string& out) {
  return std::string(tool("CONTRA_SWEEP")) + " " + spec + " --threads 2 -j 1 --out " + out;
}

bool wait_for(const std::string& path, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < timeout_s) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_CASE("sweep: runs the grid × seeds, isolates a failure, stops on SIGINT, resumes, reports") {
  const std::string spec = base_dir() + "/tiny.toml", out = base_dir() + "/tiny";
  std::ofstream(spec) << kSpec;
  // 1. Start it and interrupt it once the first run is finished.
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = "exec " + sweep_cmd(spec, out) + " >" + base_dir() + "/first.log 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string first_done = out + "/runs/baseline-seed0/sweep_done.json";
  REQUIRE(wait_for(first_done, 240));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::stringstream first_log;
  first_log << std::ifstream(base_dir() + "/first.log").rdbuf();
  INFO(first_log.str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  CHECK(code == 130);
  CHECK(first_log.str().find("stop requested") != std::string::npos);
  CHECK_FALSE(fs::exists(out + "/runs/batch_size_256-seed1"));  // nothing new starts after the signal
  CHECK(fs::exists(out + "/sweep.json"));  // the partial state is written on the way out
  const auto first_time = fs::last_write_time(first_done);

  // 2. The same command resumes: the finished run is skipped, the failed points are reported.
  const Result r = run(sweep_cmd(spec, out));
  INFO(r.output);
  CHECK(r.code == 1);  // some runs failed (batch 256 > 96 images); the others finished
  CHECK(r.output.find("1 already done or failed, 5 to run") != std::string::npos);
  CHECK(r.output.find("FAILED batch_size_256-seed0") != std::string::npos);
  CHECK(fs::last_write_time(first_done) == first_time);  // not run again
  std::ifstream jf(out + "/sweep.json");
  const auto j = nlohmann::json::parse(jf);
  int finished = 0, failed = 0;
  for (const auto& run : j["runs"]) {
    finished += run["status"] == "finished";
    failed += run["status"] == "failed";
    if (run["status"] == "failed") CHECK(run["message"].get<std::string>().find("exited with code 1") != std::string::npos);
  }
  CHECK(finished == 4);
  CHECK(failed == 2);
  // Each finished run is a normal run directory with the evaluation the sweep asked for.
  std::ifstream rf(out + "/runs/batch_size_32-seed1/eval/results.json");
  const auto results = nlohmann::json::parse(rf);
  const auto& e = results["encoders"]["pretrained"];
  CHECK_FALSE(results["encoders"].contains("random init"));
  REQUIRE(e["few_shot_probe"].size() == 2);
  CHECK(e["few_shot_probe"][1]["shots_per_class"] == 2);
  CHECK(e["few_shot_probe"][0]["draws"] == 2);
  CHECK(e["prb"]["head"]["views"] == 2);
  CHECK(e["prb"]["backbone"]["images"] == 60);
  // Aggregates and files.
  const auto& p = j["points"][1]["metrics"]["probe"];
  CHECK(p["n"] == 2);
  CHECK(p["vs_baseline"]["pairs"] == 2);
  const double mean = (p["per_seed"][0].get<double>() + p["per_seed"][1].get<double>()) / 2;
  CHECK(p["mean"].get<double>() == doctest::Approx(mean));
  for (const char* f : {"summary.csv", "report.md", "report.html", "configs/baseline-seed1.toml", "logs/baseline-seed1.log"})
    CHECK_MESSAGE(fs::exists(out + "/" + f), f);
  if (contra::train::gnuplot_available()) {
    CHECK(fs::exists(out + "/figures/accuracy_vs_batch_size.png"));
    CHECK(fs::exists(out + "/figures/groups_vs_batch_size.png"));
    CHECK(fs::exists(out + "/figures/prb_vs_accuracy.png"));
  }
  std::stringstream md;
  md << std::ifstream(out + "/report.md").rdbuf();
  CHECK(md.str().find("Difference to the baseline (NT-Xent)") != std::string::npos);
  CHECK(md.str().find("2 failed") != std::string::npos);

  // 3. A third call runs only what failed (a failure may be transient) and rewrites the report.
  const Result again = run(sweep_cmd(spec, out));
  CHECK(again.output.find("4 already done or failed, 2 to run") != std::string::npos);
}

TEST_CASE("sweep: a bad file exits 2 naming file:line:col; --dry-run lists the runs") {
  const std::string bad = base_dir() + "/bad.toml";
  std::ofstream(bad) << "[sweep]\nbase = \"smoke\"\n[grid]\nloss.type = \"balanced\"\n[axes]\nloss.repel = [0.8, \"x\"]\n";
  Result r = run(sweep_cmd(bad, base_dir() + "/bad"));
  CHECK(r.code == 2);
  CHECK(r.output.find("bad.toml:6:") != std::string::npos);
  CHECK(r.output.find("is not a number") != std::string::npos);
  const std::string ok = base_dir() + "/ok.toml";
  std::ofstream(ok) << "[sweep]\nbase = \"smoke\"\nseeds = 2\n[grid]\nloss.type = \"balanced\"\n[axes]\nloss.repel = [0.8, 1.25]\n";
  r = run(sweep_cmd(ok, base_dir() + "/ok") + " --dry-run");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("/runs/repel_1.25-seed1") != std::string::npos);
  CHECK_FALSE(fs::exists(base_dir() + "/ok/runs"));
  // A finished run recorded with another configuration is never reused: that run fails.
  fs::create_directories(base_dir() + "/ok/runs/repel_0.8-seed0");
  std::ofstream(base_dir() + "/ok/runs/repel_0.8-seed0/sweep_done.json") << R"({"config": {"optim": {"epochs": 99}}})";
  r = run(sweep_cmd(ok, base_dir() + "/ok") + " --report-only");
  CHECK(r.code == 0);
  std::ifstream jf(base_dir() + "/ok/sweep.json");
  const auto j = nlohmann::json::parse(jf);
  CHECK(j["runs"][0]["status"] == "failed");
  CHECK(j["runs"][0]["message"].get<std::string>().find("another configuration") != std::string::npos);
  CHECK(j["runs"][1]["status"] == "pending");
}

TEST_CASE("pretrain: loss options the loss does not read, and β/ρ that disagree, exit 2 naming the option") {
  const std::string pretrain = tool("CONTRA_PRETRAIN");
  Result r = run(pretrain + " synthetic --repel 0.8 --print-config");
  CHECK(r.code == 2);
  CHECK(r.output.find("--repel") != std::string::npos);
  r = run(pretrain + " synthetic --loss balanced --lambda 2 --print-config");
  CHECK(r.code == 2);
  CHECK(r.output.find("--lambda") != std::string::npos);
  r = run(pretrain + " synthetic --loss derived --attract 0.5 --print-config");
  CHECK(r.code == 2);
  CHECK(r.output.find("--attract") != std::string::npos);
  r = run(pretrain + " synthetic --beta 0.8 --print-config");  // aliases no longer switch the loss
  CHECK(r.code == 2);
  CHECK(r.output.find("--beta") != std::string::npos);
  r = run(pretrain + " synthetic --loss balanced --beta 3 --rho 0.5 --print-config");
  CHECK(r.code == 2);
  CHECK(r.output.find("disagrees") != std::string::npos);
  r = run(pretrain + " synthetic --loss balanced --nu 2 --rho 0.5 --print-config");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("repel = 1.0") != std::string::npos);
  CHECK(r.output.find("attract = 2.0") != std::string::npos);
  r = run(pretrain + " --help");
  CHECK(r.output.find("no option changes --loss") != std::string::npos);
  CHECK(r.output.find("hue = jitter/4") != std::string::npos);
}
