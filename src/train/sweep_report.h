// sweep_report.h — what a sweep measured, aggregated over seeds (tools/sweep).
//
// Per run (eval/results.json of the pretrained encoder): kNN (full and LT bank), linear
// probe, few-shot probes, the probe's many/medium/few and their spread (std of the three),
// PRB (normalised, backbone and head) on the balanced test subset and on the long-tailed
// pretraining images. Per point: mean ± std over seeds (seed_stats.h); against the baseline
// row: the paired difference over seeds with its 95 % t-interval (same seed ⇒ same split
// and initialisation, so the pairing removes their share of the noise). Over all runs:
// Pearson's r between PRB and accuracy.
//
// Files written into the sweep directory:
//   sweep.json        the spec, every run (status, seconds, metrics), every aggregate
//   summary.csv       one row per point: mean and std of every metric, Δ to the baseline and CI
//   report.md/.html   tables and figures
//   figures/          accuracy_vs_<axis>, groups_vs_<axis> (error bars = std over seeds),
//                     prb_vs_accuracy (every run, r in the legend); CSVs beside them
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/seed_stats.h"
#include "train/sweep_spec.h"

namespace contra::train {

// One (point, seed) of a sweep as the runner left it.
struct SweepRunRecord {
  size_t point = 0;          // index into SweepSpec::points
  std::int64_t seed = 0;
  std::string name, dir, log;
  std::string status = "pending";  // pending | finished | failed | stopped
  std::string message;             // why it failed or stopped
  double seconds = 0.0;            // wall time spent in this invocation and earlier ones
};

// The record of (point, seed) in the output directory `out`: runs/<name>, logs/<name>.log.
SweepRunRecord sweep_run_record(const SweepSpec& spec, size_t point, std::int64_t seed, const std::string& out);

// A metric read from results.json: key (CSV column), label (tables), fraction (shown in %).
struct SweepMetric {
  std::string key, label;
  bool fraction = true;
};
std::vector<SweepMetric> sweep_metrics(const std::vector<std::int64_t>& few_shot);
// The metrics of the pretrained encoder in one results.json (absent ones are left out).
std::map<std::string, double> run_metrics(const nlohmann::json& results);

class SweepReport {
 public:
  // Reads <run dir>/eval/results.json of every finished run.
  SweepReport(const SweepSpec& spec, std::vector<SweepRunRecord> runs);

  // The metric over the spec's seeds (NaN where the run is missing or did not finish).
  std::vector<double> values(size_t point, const std::string& metric) const;
  MeanStd summary(size_t point, const std::string& metric) const;
  // Paired over seeds against the baseline point (n = 0 without a baseline).
  PairedDifference versus_baseline(size_t point, const std::string& metric) const;
  // Pearson's r between two metrics over every finished run.
  double correlation(const std::string& x, const std::string& y) const;

  // Writes sweep.json, summary.csv, report.md, report.html (and the figures when asked).
  // `compute` is recorded as is (threads, jobs, wall seconds, CPU).
  void write(const std::string& out_dir, const nlohmann::json& compute, bool figures) const;

  const std::vector<SweepRunRecord>& runs() const { return runs_; }

 private:
  using FigureList = std::vector<std::pair<std::string, std::string>>;  // (png path relative to out, caption)
  nlohmann::json sweep_json(const nlohmann::json& compute) const;
  void write_summary_csv(const std::string& out_dir) const;
  SweepMetric metric(const std::string& key) const;  // its label and scale ({key, key} when unknown)
  FigureList write_figures(const std::string& out_dir) const;
  void axis_figures(const std::string& fig_dir, const SweepAxis& axis, FigureList& figure_files) const;
  void prb_figure(const std::string& fig_dir, FigureList& figure_files) const;
  void write_report(const std::string& out_dir, const nlohmann::json& compute, const FigureList& figure_files) const;

  const SweepSpec& spec_;
  std::vector<SweepRunRecord> runs_;
  std::vector<std::map<std::string, double>> metrics_;  // per run
  std::vector<SweepMetric> metric_list_;
};

}  // namespace contra::train
