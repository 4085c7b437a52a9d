// loader.h — batches of augmented views, produced by worker threads, deterministic.
//
// Epoch e visits the samples in the order perm_e = Fisher–Yates shuffle with
// Generator::derive(seed, {kPermutationKey, e}) (identity when shuffle = false). Batch b
// of epoch e holds samples perm_e[b·N .. b·N + N) (the last partial batch is dropped when
// drop_last). Its images tensor is view-major:
//   images  (V·N, C, OH, OW) f32, row v·N + k = view v of the batch's k-th sample
//   labels  (N) i64,  indices (N) i64 (positions in the dataset)
// and view v of sample i in epoch e is drawn from Generator::derive(seed, {e, i, v}). So a
// batch is a pure function of (seed, epoch, batch index): the same for any number of
// workers (P1) and after a save/restore of the cursor mid-epoch (P2).
//
// Threads: `num_workers` std::threads claim whole batches in order and put them in a
// reorder buffer holding at most `prefetch` batches ahead of the consumer; next() hands
// them out in order. num_workers = 0 builds each batch in the calling thread.
//
// Sharded (LoaderOptions::shard_count K > 1): the batch is the shard's N/K samples of the
// global batch above, in the same order, with the same views.
//
// Dimension legend: N batch size, V views, C channels, OH, OW output size.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "tensor/tensor.h"

namespace contra::data {

struct LoaderOptions {
  std::int64_t batch_size = 256;
  int views = 2;          // V ≥ 1 (contrastive training: ≥ 2)
  int num_workers = 2;    // 0 = synchronous
  int prefetch = 4;       // batches ready ahead of the consumer (≥ 1)
  bool shuffle = true;
  bool drop_last = true;
  std::uint64_t seed = 0;
  // Data parallelism: shard r of K takes the samples [r·N/K, (r+1)·N/K) of each global batch
  // of batch_size = N (the same views one process would draw for them); its batches hold N/K
  // samples. K > 1 needs N divisible by K and drop_last. K = 1: the whole batch.
  int shard_index = 0, shard_count = 1;
};

struct Batch {
  Tensor images;   // (V·N, C, OH, OW) f32, view-major
  Tensor labels;   // (N) i64
  Tensor indices;  // (N) i64
  std::int64_t epoch = 0, index = 0;
  int views = 1;
  std::int64_t size() const { return labels.defined() ? labels.numel() : 0; }  // N
};

// The position of the next batch next() returns; save it with a checkpoint.
struct LoaderCursor {
  std::int64_t epoch = 0;
  std::int64_t batch = 0;
  bool operator==(const LoaderCursor&) const = default;
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Augment augment, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the current epoch, or nullopt at its end (the cursor then moves to
  // the start of the next epoch, so a second call begins it).
  std::optional<Batch> next();
  LoaderCursor cursor() const;
  // Continue from `c` (stops the workers; batches before c.batch are skipped, not built).
  void seek(LoaderCursor c);
  std::int64_t batches_per_epoch() const;
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;
  const Dataset& dataset() const { return *dataset_; }
  const Augment& augment() const { return augment_; }
  const LoaderOptions& options() const { return options_; }

  // Builds batch `b` of epoch `epoch` directly (what the workers do); for tests and tools.
  Batch build_batch(std::int64_t epoch, std::int64_t b, const std::vector<std::int64_t>& order,
                    AugmentWorkspace& ws) const;

 private:
  void start_epoch();
  void stop_workers();
  void worker_main();

  std::shared_ptr<const Dataset> dataset_;
  Augment augment_;
  LoaderOptions options_;
  LoaderCursor cursor_;
  bool active_ = false;  // an epoch is in progress (order_ valid, workers running)
  std::vector<std::int64_t> order_;

  // Shared with the workers (guarded by mu_).
  mutable std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  std::int64_t next_claim_ = 0, next_emit_ = 0, num_batches_ = 0, epoch_ = 0;
  bool stop_ = false;
  std::map<std::int64_t, Batch> ready_;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
  AugmentWorkspace sync_ws_;
};

// A loader for feature extraction: every sample once, in dataset order, one view, no
// randomness, normalised with `mean`/`std`; keeps the last partial batch.
std::unique_ptr<Loader> make_eval_loader(std::shared_ptr<const Dataset> dataset,
                                         std::vector<float> mean, std::vector<float> std,
                                         std::int64_t batch_size, int num_workers = 2);

}  // namespace contra::data
