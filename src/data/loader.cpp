// loader.cpp — worker threads, the reorder buffer and batch assembly (see loader.h).
#include "data/loader.h"

#include <algorithm>

#include "tensor/error.h"
#include "tensor/generator.h"

namespace contra::data {

namespace {
constexpr std::uint64_t kPermutationKey = 0x7065726d;  // "perm"
const char* kWhere = "loader";
}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> dataset, Augment augment, LoaderOptions options)
    : dataset_(std::move(dataset)), augment_(std::move(augment)), options_(options) {
  CONTRA_CHECK(dataset_ != nullptr, kWhere, "no dataset given");
  const auto& o = options_;
  CONTRA_CHECK(o.batch_size >= 1, kWhere, "batch size must be ≥ 1, got ", o.batch_size);
  CONTRA_CHECK(o.views >= 1 && o.views <= 64, kWhere, "views must be in [1, 64], got ", o.views);
  CONTRA_CHECK(o.num_workers >= 0 && o.num_workers <= 256, kWhere, "num_workers must be in [0, 256], got ",
               o.num_workers);
  CONTRA_CHECK(o.prefetch >= 1, kWhere, "prefetch must be ≥ 1, got ", o.prefetch);
  CONTRA_CHECK(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count, kWhere, "shard ",
               o.shard_index, " of ", o.shard_count, " does not exist");
  CONTRA_CHECK_HINT(o.shard_count == 1 || (o.batch_size % o.shard_count == 0 && o.drop_last), kWhere,
                    "choose a global batch size divisible by the number of ranks", "the global batch of ",
                    o.batch_size, " images does not split evenly over ", o.shard_count, " ranks");
  CONTRA_CHECK_HINT(dataset_->size() > 0, kWhere, "check the dataset name and files", "dataset ",
                    dataset_->name, " is empty");
  CONTRA_CHECK_HINT(!o.drop_last || dataset_->size() >= o.batch_size, kWhere,
                    "lower the batch size or set drop_last = false", "dataset ", dataset_->name,
                    " has ", dataset_->size(), " images, fewer than one batch of ", o.batch_size);
  // I8: one batch must fit.
  checked_image_bytes("loader batch", static_cast<std::uint64_t>(o.batch_size) * o.views,
                      static_cast<std::uint64_t>(dataset_->channels()) * sizeof(float),
                      static_cast<std::uint64_t>(augment_.out_height()),
                      static_cast<std::uint64_t>(augment_.out_width()));
}

Loader::~Loader() { stop_workers(); }

std::int64_t Loader::batches_per_epoch() const {
  const std::int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::int64_t> Loader::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_->size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  if (options_.shuffle) {
    Generator g = Generator::derive(options_.seed, {kPermutationKey, static_cast<std::uint64_t>(epoch)});
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
  }
  return order;
}

Batch Loader::build_batch(std::int64_t epoch, std::int64_t b, const std::vector<std::int64_t>& order,
                          AugmentWorkspace& ws) const {
  const Dataset& d = *dataset_;
  const std::int64_t shard = options_.batch_size / options_.shard_count;  // = batch_size when K = 1
  const std::int64_t start = b * options_.batch_size + options_.shard_index * shard;
  const std::int64_t n = std::min<std::int64_t>(shard, d.size() - start);
  CONTRA_ASSERT(n > 0, "batch ", b, " past the end");
  const int V = options_.views;
  const int C = static_cast<int>(d.channels()), H = static_cast<int>(d.height()), W = static_cast<int>(d.width());
  const std::int64_t OH = augment_.out_height(), OW = augment_.out_width();
  Batch batch;
  batch.epoch = epoch;
  batch.index = b;
  batch.views = V;
  batch.images = Tensor::empty({V * n, C, OH, OW}, DType::f32);
  batch.labels = Tensor::empty({n}, DType::i64);
  batch.indices = Tensor::empty({n}, DType::i64);
  float* img = batch.images.data<float>();
  auto* lab = batch.labels.data<std::int64_t>();
  auto* idx = batch.indices.data<std::int64_t>();
  const std::int64_t per = static_cast<std::int64_t>(C) * OH * OW;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = order[static_cast<std::size_t>(start + k)];
    idx[k] = i;
    lab[k] = d.labels[static_cast<std::size_t>(i)];
    for (int v = 0; v < V; ++v)
      augment_.apply(d.image(i), C, H, W, options_.seed, static_cast<std::uint64_t>(epoch),
                     static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(v),
                     img + (v * n + k) * per, ws);
  }
  return batch;
}

void Loader::start_epoch() {
  order_ = epoch_order(cursor_.epoch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    epoch_ = cursor_.epoch;
    num_batches_ = batches_per_epoch();
    next_claim_ = next_emit_ = cursor_.batch;
    stop_ = false;
    ready_.clear();
    error_ = nullptr;
  }
  for (int t = 0; t < options_.num_workers; ++t) workers_.emplace_back([this] { worker_main(); });
  active_ = true;
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  ready_.clear();
  active_ = false;
}

void Loader::worker_main() {
  AugmentWorkspace ws;
  for (;;) {
    std::int64_t b, epoch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_work_.wait(lock, [&] {
        return stop_ || next_claim_ >= num_batches_ || next_claim_ < next_emit_ + options_.prefetch;
      });
      if (stop_ || next_claim_ >= num_batches_) return;
      b = next_claim_++;
      epoch = epoch_;
    }
    try {
      Batch batch = build_batch(epoch, b, order_, ws);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      stop_ = true;
    }
    cv_ready_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  if (!active_) start_epoch();
  if (cursor_.batch >= num_batches_) {
    stop_workers();
    cursor_ = LoaderCursor{cursor_.epoch + 1, 0};
    return std::nullopt;
  }
  Batch out;
  if (options_.num_workers == 0) {
    out = build_batch(cursor_.epoch, cursor_.batch, order_, sync_ws_);
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_ready_.wait(lock, [&] { return error_ != nullptr || ready_.count(cursor_.batch) > 0; });
    if (error_) {
      auto e = error_;
      lock.unlock();
      stop_workers();
      std::rethrow_exception(e);
    }
    auto it = ready_.find(cursor_.batch);
    out = std::move(it->second);
    ready_.erase(it);
    next_emit_ = cursor_.batch + 1;
  }
  cv_work_.notify_all();
  ++cursor_.batch;
  return out;
}

LoaderCursor Loader::cursor() const { return cursor_; }

void Loader::seek(LoaderCursor c) {
  CONTRA_CHECK(c.epoch >= 0 && c.batch >= 0 && c.batch <= batches_per_epoch(), kWhere,
               "cursor (epoch ", c.epoch, ", batch ", c.batch, ") is invalid: an epoch has ",
               batches_per_epoch(), " batches");
  stop_workers();
  cursor_ = c;
}

std::unique_ptr<Loader> make_eval_loader(std::shared_ptr<const Dataset> dataset,
                                         std::vector<float> mean, std::vector<float> std,
                                         std::int64_t batch_size, int num_workers) {
  const int h = static_cast<int>(dataset->height()), w = static_cast<int>(dataset->width());
  LoaderOptions o;
  o.batch_size = batch_size;
  o.views = 1;
  o.num_workers = num_workers;
  o.shuffle = false;
  o.drop_last = false;
  return std::make_unique<Loader>(std::move(dataset),
                                  Augment(eval_preset(std::move(mean), std::move(std), h, w)), o);
}

}  // namespace contra::data
