// data_parallel.h — what tools/pretrain needs to train on K ranks (src/dist) through the
// Pretrainer: the world, the loss over the global batch, and agreement between ranks.
//
//   mpirun -np K build/tools/pretrain DATASET ...
//
// The global batch N = batch_size is fixed by the configuration; rank r's loader takes the
// samples [r·N/K, (r+1)·N/K) of every global batch (data/loader.h, shard_index/shard_count),
// with the views one process would draw for them. Each step: forward on the shard → the
// gathered loss (dist/gathered_loss.h: local anchors, the keys of the whole global batch) →
// backward, whose gradients are all-reduced and averaged in buckets as they fill
// (dist/gradient_buckets.h) → the same optimizer step on every rank, so the weights stay
// identical. BatchNorm uses the statistics of the global batch (dist/sync_batch_norm.h)
// unless --no-sync-bn.
//
// Rank 0 alone: the run directory, its lock, config.toml, manifest.json (which records the
// world size), metrics, epochs.csv, checkpoints (a checkpoint becomes `latest` only once
// every rank reached the barrier after it was written), the kNN monitor, the final
// evaluation and the report. The other ranks wait for rank 0's long work (run_on_root) while
// its heartbeat lasts, under kRootWorkTimeoutS rather than the collective deadline
// (CONTRA_DIST_TIMEOUT_S).
//
// Checkpoints hold the global state (step, loader cursor, weights, optimizer), the same
// for every K: a run resumes with any world size that divides the global batch.
// K = 1 (no MPI, or no mpirun) runs exactly the one-process code path.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dist/communicator.h"
#include "dist/gradient_buckets.h"
#include "nn/module.h"
#include "train/config.h"
#include "train/loss_registry.h"

namespace contra::train {

// The longest that ranks other than 0 wait for rank 0's kNN monitor, final evaluation or
// dataset download (24 h) unless CONTRA_DIST_ROOT_TIMEOUT_S says otherwise. A stopped or
// unreachable rank 0 is noticed much sooner: it stops sending heartbeats, and the others end
// the job after CONTRA_DIST_HEARTBEAT_TIMEOUT_S (60 s) of silence (Communicator::run_on_root;
// mpirun notices a dead one). This deadline bounds only a rank 0 that is alive but never ends.
inline constexpr double kRootWorkTimeoutS = 24 * 3600.0;
// kRootWorkTimeoutS, or CONTRA_DIST_ROOT_TIMEOUT_S when set (a positive number of seconds;
// UsageError otherwise).
double root_work_timeout_s();

struct DataParallel {
  std::shared_ptr<dist::Communicator> comm;  // never null (SingleProcessCommunicator for K = 1)
  std::unique_ptr<dist::GradientBuckets> buckets;  // K > 1 only

  int rank() const { return comm->rank(); }
  int size() const { return comm->size(); }
  bool root() const { return comm->rank() == 0; }
  bool active() const { return comm->size() > 1; }  // K > 1: the collectives below run
};

// The checks a K-rank run needs beyond validate(config): the loss has a gathered form and
// the global batch splits evenly. Throws UsageError naming the option.
void check_data_parallel(const PretrainConfig& c, int K);

// The --device of this rank (text). K > 1 ranks given plain "cuda" take cuda:<local rank>,
// one GPU per rank, the local rank from mpirun (OMPI_COMM_WORLD_LOCAL_RANK; a machine with
// fewer GPUs than ranks is refused when the device is opened). An explicit "cuda:N", one
// rank or the CPU stay as written.
std::string rank_device(const std::string& text, const DataParallel& dp);

// The configured loss of this rank's shard, f_local (V·n, D) view-major, labels_local (n),
// against the keys of the global batch: K · L^(r) (dist/gathered_loss.h), whose mean over
// ranks is the one-process loss. With `telemetry` (a logged step), rank 0 also returns the
// one-process telemetry of the GLOBAL batch for the balanced family (nt_xent, balanced,
// derived; dist::global_balanced_telemetry: one more fused pass on rank 0, gradient norms
// included); the other ranks and the other losses return none, as in one process.
LossResult data_parallel_loss(dist::Communicator& comm, const Tensor& f_local, const Tensor& labels_local,
                              const PretrainConfig& c, bool telemetry = false);

// Whether `flag` holds on any rank (an all-reduce; every rank must call it).
bool any_rank(dist::Communicator& comm, bool flag);
// The largest of every rank's `value` (an all-reduce).
std::int64_t max_over_ranks(dist::Communicator& comm, std::int64_t value);
// Rank 0's `text` on every rank (two broadcasts).
std::string broadcast_text(dist::Communicator& comm, const std::string& text);

// Runs `work` on rank 0 only (the others wait: run_on_root, root_work_timeout_s()) and tells every rank
// how it went: on rank 0 an exception propagates as thrown; on the others it becomes an error
// of the same kind (UsageError or Error, hence the same exit code) saying that rank 0 failed.
// K = 1: just work().
void on_root(DataParallel& dp, const char* what, const std::function<void()>& work);

}  // namespace contra::train
