// pretrainer.h — a contrastive pretraining run, top to bottom:
// config → data → model → loss → optimizer → loop (log, monitor, checkpoint) → evaluation.
//
// The run directory (runs/<name>/) holds:
//   config.toml       the resolved configuration (reusable with --config)
//   manifest.json     config, dataset construction and per-class counts, versions, threads
//   metrics.jsonl     one object per logged step (loss, attraction, repulsion, lr, images/s …)
//   epochs.csv        one row per epoch (mean loss, kNN monitor accuracy, lr, seconds)
//   checkpoints/      safetensors checkpoints (atomic) and the `latest` pointer
//   eval/             results.json, summary.csv, per_class.csv, prb_per_class.csv, figures
//   report.md/.html   the one-page report with every figure
//   lock              held (flock) by the process writing the run; holds its PID
//
// Exit codes: 0 done; 1 runtime error (among them: the step does not fit in memory, no
// checkpoint of the run loads under --resume auto); 2 bad configuration, incompatible
// resume, or the run directory is locked by another process; 3 non-finite loss or weights
// (nothing non-finite is ever saved); 130 / 143 stopped by SIGINT / SIGTERM (in training:
// after saving a checkpoint; in the final evaluation: the training checkpoint is saved).
// Under mpirun (K ranks, train/data_parallel.h) rank 0 alone writes the run directory;
// a rank that dies or sticks ends the job (src/dist's deadline, mpirun) with a non-zero code.
#pragma once

#include <memory>
#include <string>

#include "dist/communicator.h"
#include "train/config.h"

namespace contra::train {

struct PretrainOptions {
  bool weights_only = false;  // with resume=<path>: load the weights only, start a new run
  bool quiet = false;         // no progress line (log lines only)
  bool start_over = false;    // with resume=auto: when no checkpoint loads, move them aside and start at step 0
  // Data parallelism (train/data_parallel.h): the world of this process (null: one process)
  // and whether BatchNorm uses the global batch's statistics when it has K > 1 ranks.
  std::shared_ptr<dist::Communicator> comm;
  bool sync_bn = true;
};

class Pretrainer {
 public:
  Pretrainer(PretrainConfig config, PretrainOptions options = {});
  // Runs to the end (or to a stop signal) and returns the process exit code.
  int run();
  const std::string& run_dir() const { return run_dir_; }

 private:
  PretrainConfig cfg_;
  PretrainOptions opt_;
  std::string run_dir_;
};

}  // namespace contra::train
