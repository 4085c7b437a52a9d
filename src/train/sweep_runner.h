// sweep_runner.h — runs every (point, seed) of a sweep and writes its report (tools/sweep).
//
// Each run is two child processes, `pretrain --config <out>/configs/<run>.toml --resume
// auto` then `evaluate <run dir>`, not a call into this library. Why processes:
//  - failure isolation: an abort, a crash, exit 3 (non-finite loss) or running out of
//    memory ends one run; the sweep records it and goes on;
//  - Ctrl-C: each child has its own process group, so a terminal's SIGINT reaches the
//    sweep only; the sweep forwards exactly one signal to each child, which finishes its
//    step, saves a checkpoint and exits 130 — the same path as a single interrupted
//    pretrain (a second Ctrl-C is forwarded too and stops the children at once);
//  - parallel jobs: thread counts (OpenMP, OpenBLAS, oneDNN) and the stop flag are
//    process-wide, so J jobs with T/J threads each need J processes;
//  - resume needs nothing new: a run directory is a normal one, and `--resume auto`
//    continues it (or starts it when it has no checkpoint).
//
// Layout of the output directory:
//   runs/<point>-seed<s>/   normal run directories (+ sweep_trained.json, sweep_done.json markers)
//   configs/<run>.toml      the resolved configuration each run was started with
//   logs/<run>.log          the children's output
//   sweep.json summary.csv report.md report.html figures/   (sweep_report.h)
// A run is finished when its sweep_done.json marker exists and records the same
// configuration; a marker with another configuration fails that run (never silently reused).
#pragma once

#include <functional>
#include <string>

#include "train/sweep_report.h"
#include "train/sweep_spec.h"

namespace contra::train {

struct SweepOptions {
  int jobs = 1;                 // runs at the same time
  int threads = 0;              // compute threads in all (0 = all cores), split between the jobs
  std::string tools_dir;        // where `pretrain` and `evaluate` are ("" = beside this executable)
  std::string out;              // overrides the spec's output directory
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

class SweepRunner {
 public:
  SweepRunner(const SweepSpec& spec, SweepOptions options);
  // Runs what is not finished, then writes the report. Returns 0 when every run finished,
  // 1 when some failed, 128 + signal when stopped by SIGINT / SIGTERM.
  int run();
  // Writes the report from what is on disk (no run is started).
  void write_report();
  const std::string& out_dir() const { return out_; }

 private:
  std::vector<SweepRunRecord> scan() const;  // the state of every run on disk
  // The command line of one stage ("pretrain" | "evaluate") of run r; pretrain's writes its config.
  std::vector<std::string> stage_command(const SweepRunRecord& r, const std::string& stage) const;
  // Logs the totals and returns the exit code: 128 + signal when stopped, 1 when a run failed.
  int finish(const std::vector<SweepRunRecord>& runs, double elapsed) const;
  nlohmann::json compute_json(double wall_seconds) const;

  const SweepSpec& spec_;
  SweepOptions opt_;
  std::string out_;
  int threads_per_job_ = 1;
};

}  // namespace contra::train
