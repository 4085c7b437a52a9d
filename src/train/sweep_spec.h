// sweep_spec.h — what a sweep runs: a base configuration, axes, seeds and a baseline row,
// read from a TOML file (tools/sweep, README "tools/sweep").
//
//   [sweep]                         name = "balance", base = "fashion_mnist_lt_small" (a preset)
//                                   or base = "my.toml" (a config file, relative to this file),
//                                   seeds = [0, 1, 2] (or a count: seeds = 3), out = "sweeps/balance"
//   [set]                           config keys applied to every run:  optim.epochs = 5
//   [axes]                          one key per axis, a list or a range; the grid is their product:
//                                   loss.repel = [0.6, 0.8, 1.25]
//                                   optim.lr = { from = 0.02, to = 0.08, step = 0.02 }
//                                   loss.temperature = { from = 0.1, to = 1.0, count = 4, log = true }
//   [baseline]                      optional: label = "NT-Xent" and config keys (after [set],
//                                   no axes): every point is compared with it, seed by seed
//   [evaluate]                      few_shot = [100, 50], few_shot_draws = 5, prb_views = 8,
//                                   prb_images = 2000, probe_epochs = 100, baselines = false
//
// A run is (point, seed); its configuration is base → [set] → the point's values → seed,
// checked by validate() when the file is read, so a bad point fails before anything runs.
// Every error names file:line:col (exit code 2 in the tool).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/config.h"

namespace contra::train {

// A config key set to a value (as text, parsed by the field's type) and where it was written.
struct SweepSetting {
  std::string key, value, source;  // source: "file:line:col"
};

struct SweepAxis {
  std::string key;                  // "loss.repel"
  std::vector<std::string> values;  // as text
  std::string source;
};

struct SweepPoint {
  std::string label;                  // "loss.repel=0.8", or the baseline's label
  std::string name;                   // directory-safe: "repel_0.8", "baseline"
  bool baseline = false;
  std::vector<SweepSetting> values;   // the axis values (one per axis), or the baseline's settings
};

struct SweepEvaluate {
  std::vector<std::int64_t> few_shot = {100, 50};
  int few_shot_draws = 5;
  int prb_views = 8;
  std::int64_t prb_images = 2000;
  std::int64_t probe_epochs = 0;  // 0 = the run's
  bool baselines = false;         // random-init and raw-pixel baselines for every run
};

struct SweepSpec {
  std::string path;                 // the TOML file
  std::string name;                 // default: the file's stem
  std::string base;                 // preset name or config file path (resolved)
  bool base_is_file = false;
  std::vector<std::int64_t> seeds = {0};
  std::string out;                  // default: sweeps/<name>
  std::vector<SweepSetting> set;
  std::vector<SweepAxis> axes;
  std::vector<SweepPoint> points;   // the baseline first (if any), then the grid in axis order
  SweepEvaluate evaluate;

  static SweepSpec parse_file(const std::string& path);
  static SweepSpec parse_string(const std::string& text, const std::string& source_name,
                                const std::string& base_dir = ".");

  // The full configuration of one run (out and name not set; validated).
  PretrainConfig config_for(const SweepPoint& point, std::int64_t seed) const;
  // "<point name>-seed<seed>"
  static std::string run_name(const SweepPoint& point, std::int64_t seed);
  const SweepPoint* baseline() const;
};

}  // namespace contra::train
