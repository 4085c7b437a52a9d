// tools/sweep without running anything: the sweep file (grid, ranges, baseline, errors
// with file:line:col), the statistics over seeds (checked against values computed by
// hand), and the aggregation of a sweep from hand-written results.json files.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "train/seed_stats.h"
#include "train/sweep_report.h"
#include "train/sweep_spec.h"

using namespace contra;
using namespace contra::train;
namespace fs = std::filesystem;

namespace {

const char* kSpec = R"([sweep]
name = "t"
base = "smoke"
seeds = [0, 1, 2]

[set]
optim.epochs = 1
data.max_train_images = 64

[grid]
loss.type = "balanced"
loss.positive_weight = 0.0

[axes]
loss.repel = [0.5, 2.0]
optim.lr = { from = 0.1, to = 0.3, step = 0.1 }

[baseline]
label = "NT-Xent"
loss.type = "nt_xent"
)";

std::string error_of(const std::string& text) {
  try {
    SweepSpec::parse_string(text, "s.toml");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sweep file: grid × seeds, ranges, the baseline row and each run's configuration") {
  const SweepSpec s = SweepSpec::parse_string(kSpec, "s.toml");
  CHECK(s.name == "t");
  CHECK(s.out == "sweeps/t");
  CHECK(s.seeds == std::vector<std::int64_t>{0, 1, 2});
  REQUIRE(s.axes.size() == 2);
  CHECK(s.axes[1].values == std::vector<std::string>{"0.1", "0.2", "0.3"});
  REQUIRE(s.points.size() == 1 + 2 * 3);
  CHECK(s.points[0].baseline);
  CHECK(s.points[0].label == "NT-Xent");
  CHECK(s.points[1].label == "loss.repel=0.5, optim.lr=0.1");
  CHECK(s.points[1].name == "repel_0.5_lr_0.1");
  CHECK(s.points[6].label == "loss.repel=2, optim.lr=0.3");
  const PretrainConfig b = s.config_for(s.points[0], 2);
  CHECK(b.loss == "nt_xent");
  CHECK(b.positive_weight == 1.0);  // [grid] is not applied to the baseline
  CHECK(b.epochs == 1);
  CHECK(b.seed == 2);
  CHECK(b.split_seed == 0);  // every seed trains on the same data
  CHECK_FALSE(b.final_eval);
  const PretrainConfig p = s.config_for(s.points[5], 1);
  CHECK(p.loss == "balanced");
  CHECK(p.repel == 2.0);
  CHECK(p.positive_weight == 0.0);
  CHECK(p.lr == doctest::Approx(0.2));
  CHECK(SweepSpec::run_name(s.points[5], 1) == "repel_2_lr_0.2-seed1");
  // Counted seeds and log ranges.
  const SweepSpec c = SweepSpec::parse_string(
      "[sweep]\nbase = \"smoke\"\nseeds = 2\n[axes]\nloss.temperature = { from = 0.1, to = 1.0, count = 3, log = true }\n",
      "c.toml");
  CHECK(c.seeds == std::vector<std::int64_t>{0, 1});
  CHECK(c.axes[0].values == std::vector<std::string>{"0.1", "0.316227766017", "1"});
}

TEST_CASE("sweep file: errors name file:line:col and what is allowed") {
  CHECK(error_of("[sweep]\nseeds = [0, \"one\"]\n").find("s.toml:2:") != std::string::npos);
  CHECK(error_of("[axes]\nloss.repell = [1.0]\n").find("s.toml:2:15: unknown configuration key \"loss.repell\"") != std::string::npos);
  CHECK(error_of("[axes]\nloss.repel = 0.8\n").find("must be a list of values or a range") != std::string::npos);
  CHECK(error_of("[axes]\nloss.repel = { from = 1.0, to = 0.5, step = 0.1 }\n").find("to ≥ from") != std::string::npos);
  CHECK(error_of("[axes]\nloss.repel = { from = 1.0, to = 2.0 }\n").find("one of step or count") != std::string::npos);
  CHECK(error_of("[set]\nrun.seed = 3\n").find("s.toml:2:12: run.seed cannot be set in a sweep") != std::string::npos);
  CHECK(error_of("[sweep]\nbase = \"smoke\"\n[sweeps]\n").find("s.toml:3:1: unknown section [sweeps]") != std::string::npos);
  CHECK(error_of("[evaluate]\nfew_shot = 100\n").find("s.toml:2:") != std::string::npos);
  CHECK(error_of("[sweep]\nseeds = [0, 0]\n").find("listed twice") != std::string::npos);
  CHECK(error_of("[sweep\n").find("s.toml:1:") != std::string::npos);
  CHECK(error_of("[set]\noptim.epochs = 0\n").find("s.toml:2:") != std::string::npos);  // out of range, with the line
  // A point that breaks the loss-option rule fails when the file is read, naming the point.
  const std::string e = error_of("[sweep]\nbase = \"smoke\"\n[axes]\nloss.repel = [0.8]\n");
  CHECK(e.find("point \"loss.repel=0.8\"") != std::string::npos);
  CHECK(e.find("--repel") != std::string::npos);
  CHECK(error_of("[sweep]\nbase = \"no_such_preset\"\n").find("valid presets") != std::string::npos);
  // The inputs toml++ 3.3 must not see (fuzz_config found them) are refused before it does,
  // in sweep files as in configuration files (train/toml_text.h).
  CHECK(error_of("[sweep]\nseeds = [[}\n").find("s.toml:2:10: malformed TOML: '}' right after '['") != std::string::npos);
  CHECK(error_of("[[[1]]]\n").find("s.toml:1:1: malformed TOML") != std::string::npos);
  CHECK(error_of("[sweep]\nseeds\xc2\xa1= [0]\n").find("s.toml:2:6: malformed TOML") != std::string::npos);
}

TEST_CASE("seed statistics: mean ± std, paired t-interval, Pearson r (by hand)") {
  const MeanStd m = mean_std({0.80, 0.82, 0.84});
  CHECK(m.mean == doctest::Approx(0.82));
  CHECK(m.std == doctest::Approx(0.02));  // √((0.02² + 0 + 0.02²)/2)
  CHECK(std::isnan(mean_std({0.5}).std));
  // d = (0.02, 0.03, 0.04): d̄ = 0.03, s_d = 0.01, t_{0.975,2} = 4.3027 ⇒ ±0.0248414
  const PairedDifference d = paired_difference({0.82, 0.85, 0.88}, {0.80, 0.82, 0.84});
  CHECK(d.n == 3);
  CHECK(d.mean == doctest::Approx(0.03));
  CHECK(d.half_width == doctest::Approx(4.3027 * 0.01 / std::sqrt(3.0)).epsilon(1e-6));
  CHECK(d.excludes_zero());
  const PairedDifference noisy = paired_difference({0.81, 0.80, 0.86}, {0.80, 0.82, 0.84});  // d = (.01, −.02, .02)
  CHECK_FALSE(noisy.excludes_zero());
  // A missing seed drops its pair.
  CHECK(paired_difference({0.82, NAN, 0.88}, {0.80, 0.82, 0.84}).n == 2);
  CHECK(t_quantile_975(1) == doctest::Approx(12.7062));
  CHECK(t_quantile_975(60) == doctest::Approx(2.0003).epsilon(1e-3));
  CHECK(pearson({1, 2, 3, 4}, {2, 4, 6, 8}) == doctest::Approx(1.0));
  CHECK(pearson({1, 2, 3, 4}, {8, 6, 4, 2}) == doctest::Approx(-1.0));
  CHECK(pearson({1, 2, 3}, {1, 3, 2}) == doctest::Approx(0.5));  // Σ(x−x̄)(y−ȳ) = 1, √(2·2) = 2
  CHECK(std::isnan(pearson({1, 2}, {1, 2})));
}

TEST_CASE("sweep report: aggregation over seeds from results.json files") {
  const std::string dir = (fs::temp_directory_path() / ("contra_sweep_report_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  const SweepSpec s = SweepSpec::parse_string(
      "[sweep]\nbase = \"smoke\"\nseeds = [0, 1, 2]\n[evaluate]\nfew_shot = [10]\n[grid]\nloss.type = \"balanced\"\n"
      "[axes]\nloss.repel = [0.5, 2.0]\n[baseline]\nlabel = \"NT\"\n",
      "r.toml");
  // probe accuracy = 0.70 + 0.05·point + 0.01·seed, PRB = 0.5 − 0.1·point (falls as accuracy rises).
  std::vector<SweepRunRecord> runs;
  for (size_t p = 0; p < s.points.size(); ++p)
    for (auto seed : s.seeds) {
      SweepRunRecord r = sweep_run_record(s, p, seed, dir);
      CHECK(r.dir == dir + "/runs/" + SweepSpec::run_name(s.points[p], seed));
      r.status = (p == 2 && seed == 2) ? "failed" : "finished";
      fs::create_directories(r.dir + "/eval");
      const double acc = 0.70 + 0.05 * static_cast<double>(p) + 0.01 * static_cast<double>(seed) +
                         (p == 1 ? 0.004 * static_cast<double>(seed * seed) : 0.0);
      nlohmann::json e = {{"knn_full_bank", {{"overall", acc - 0.02}}},
                          {"knn_lt_bank", {{"overall", acc - 0.1}}},
                          {"linear_probe", {{"overall", acc}, {"terciles", {{"many", acc + 0.05}, {"medium", acc}, {"few", acc - 0.05}, {"std", 0.05}}}}},
                          {"few_shot_probe", {{{"shots_per_class", 10}, {"mean", acc - 0.2}}}},
                          {"prb", {{"backbone", {{"normalised", 0.5 - 0.1 * static_cast<double>(p)}}}, {"head", {{"normalised", 0.9}}}}}};
      std::ofstream(r.dir + "/eval/results.json") << nlohmann::json{{"encoders", {{"pretrained", e}}}}.dump();
      runs.push_back(r);
    }
  const SweepReport rep(s, runs);
  const MeanStd m1 = rep.summary(1, "probe");
  CHECK(m1.n == 3);
  CHECK(m1.mean == doctest::Approx((0.75 + 0.764 + 0.786) / 3));
  const MeanStd m2 = rep.summary(2, "probe");  // seed 2 failed: two seeds
  CHECK(m2.n == 2);
  CHECK(m2.mean == doctest::Approx(0.805));
  CHECK(m2.std == doctest::Approx(0.01 / std::sqrt(2.0)));
  // Paired: point 1 − baseline = (0.05, 0.054, 0.066) per seed.
  const PairedDifference d = rep.versus_baseline(1, "probe");
  CHECK(d.n == 3);
  CHECK(d.mean == doctest::Approx((0.05 + 0.054 + 0.066) / 3));
  const MeanStd ds = mean_std({0.05, 0.054, 0.066});
  CHECK(d.half_width == doctest::Approx(4.3027 * ds.std / std::sqrt(3.0)));
  CHECK(rep.versus_baseline(2, "probe").n == 2);
  CHECK(rep.summary(0, "few_shot_10").mean == doctest::Approx(0.51));
  CHECK(rep.correlation("prb_backbone", "probe") < -0.9);
  CHECK(std::isnan(rep.correlation("prb_head", "probe")));  // constant PRB: undefined
  rep.write(dir, {{"cpu", "test"}}, false);
  for (const char* f : {"sweep.json", "summary.csv", "report.md", "report.html"}) CHECK_MESSAGE(fs::exists(dir + "/" + f), f);
  std::ifstream jf(dir + "/sweep.json");
  const auto j = nlohmann::json::parse(jf);
  CHECK(j["points"][1]["metrics"]["probe"]["vs_baseline"]["pairs"] == 3);
  CHECK(j["runs"].size() == 9);
  std::stringstream md;
  md << std::ifstream(dir + "/report.md").rdbuf();
  CHECK(md.str().find("1 failed") != std::string::npos);
  CHECK(md.str().find("76.7 ± 1.8") != std::string::npos);  // point 1 probe: mean 76.67, std 1.80
  CHECK(md.str().find("**+5.7 [") != std::string::npos);    // Δ beyond the seed noise is bold
  fs::remove_all(dir);
}
