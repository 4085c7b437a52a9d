// Loader: batch layout (view-major), epoch permutations, drop_last, determinism across
// worker counts (P1), cursor save/restore mid-epoch (P2), the eval loader, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "data/loader.h"
#include "data/synthetic.h"
#include "data_test_util.h"

using namespace contra;
using namespace contra::data;
using namespace contra::data::test;

namespace {
std::shared_ptr<const Dataset> small_dataset(std::int64_t n = 100, int channels = 3, int size = 32) {
  SyntheticOptions o;
  o.train_size = n;
  o.test_size = 0;
  o.channels = channels;
  o.image_size = size;
  o.seed = 11;
  return std::make_shared<const Dataset>(make_synthetic(o, 0));
}

std::vector<std::vector<float>> run_epoch(Loader& l) {
  std::vector<std::vector<float>> out;
  while (auto b = l.next()) out.push_back(b->images.to_vector<float>());
  return out;
}
}  // namespace

TEST_CASE("loader: view-major batches, labels, indices and the epoch permutation") {
  auto d = small_dataset(100);
  LoaderOptions o;
  o.batch_size = 16;
  o.views = 3;
  o.num_workers = 2;
  o.seed = 4;
  Loader l(d, Augment(simclr_cifar_preset()), o);
  CHECK(l.batches_per_epoch() == 6);  // 100 / 16, last partial batch dropped
  std::vector<std::int64_t> seen;
  AugmentWorkspace ws;
  std::int64_t count = 0;
  while (auto b = l.next()) {
    CHECK(b->images.shape() == Shape{48, 3, 32, 32});
    CHECK(b->labels.shape() == Shape{16});
    CHECK(b->indices.dtype() == DType::i64);
    CHECK(b->epoch == 0);
    CHECK(b->index == count);
    const auto idx = b->indices.to_vector<std::int64_t>();
    const auto lab = b->labels.to_vector<std::int64_t>();
    for (std::size_t k = 0; k < idx.size(); ++k) CHECK(lab[k] == d->labels[static_cast<std::size_t>(idx[k])]);
    seen.insert(seen.end(), idx.begin(), idx.end());
    // Row v·N + k is view v of sample k, drawn from (seed, epoch, index, view).
    const auto imgs = b->images.to_vector<float>();
    std::vector<float> want(3 * 32 * 32);
    for (int v : {0, 2})
      for (std::size_t k : {std::size_t{0}, std::size_t{15}}) {
        l.augment().apply(d->image(idx[k]), 3, 32, 32, 4, 0, static_cast<std::uint64_t>(idx[k]),
                          static_cast<std::uint64_t>(v), want.data(), ws);
        const std::size_t row = static_cast<std::size_t>(v) * 16 + k;
        CHECK(std::equal(want.begin(), want.end(), imgs.begin() + static_cast<std::ptrdiff_t>(row * want.size())));
      }
    ++count;
  }
  CHECK(count == 6);
  CHECK(l.cursor() == LoaderCursor{1, 0});
  std::set<std::int64_t> unique(seen.begin(), seen.end());
  CHECK(unique.size() == 96u);  // no repeats within the epoch
  CHECK(seen != std::vector<std::int64_t>(seen.size(), seen[0]));
  // The order is a seeded permutation: different per epoch, fixed per seed.
  CHECK(l.epoch_order(0) != l.epoch_order(1));
  auto sorted = l.epoch_order(1);
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 100; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
  // The next epoch starts on the following call.
  auto b = l.next();
  REQUIRE(b.has_value());
  CHECK(b->epoch == 1);
}

TEST_CASE("loader: identical batches for 0, 1 and 2 workers and any prefetch (P1)") {
  auto d = small_dataset(70);
  LoaderOptions o;
  o.batch_size = 8;
  o.views = 2;
  o.seed = 21;
  o.drop_last = false;
  std::vector<std::vector<std::vector<float>>> runs;
  for (int workers : {0, 1, 2}) {
    o.num_workers = workers;
    o.prefetch = workers == 2 ? 1 : 3;
    Loader l(d, Augment(simclr_cifar_preset()), o);
    CHECK(l.batches_per_epoch() == 9);
    runs.push_back(run_epoch(l));
  }
  REQUIRE(runs[0].size() == 9u);
  CHECK(runs[0].back().size() == 2u * 6 * 3 * 32 * 32);  // last partial batch of 6 kept
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0] == runs[2]);
  // Another seed changes them.
  o.seed = 22;
  o.num_workers = 0;
  Loader other(d, Augment(simclr_cifar_preset()), o);
  CHECK(run_epoch(other) != runs[0]);
}

TEST_CASE("loader: a cursor saved mid-epoch resumes with identical batches (P2)") {
  auto d = small_dataset(90);
  LoaderOptions o;
  o.batch_size = 10;
  o.views = 2;
  o.num_workers = 2;
  o.seed = 3;
  Loader full(d, Augment(simclr_cifar_preset()), o);
  run_epoch(full);  // epoch 0
  std::vector<Batch> epoch1;
  while (auto b = full.next()) epoch1.push_back(*b);
  REQUIRE(epoch1.size() == 9u);

  Loader first(d, Augment(simclr_cifar_preset()), o);
  first.seek({1, 0});
  for (int i = 0; i < 4; ++i) REQUIRE(first.next().has_value());
  const LoaderCursor saved = first.cursor();
  CHECK(saved == LoaderCursor{1, 4});

  o.num_workers = 1;  // resuming with another thread count changes nothing
  Loader resumed(d, Augment(simclr_cifar_preset()), o);
  resumed.seek(saved);
  std::size_t k = 4;
  while (auto b = resumed.next()) {
    REQUIRE(k < epoch1.size());
    CHECK(b->index == static_cast<std::int64_t>(k));
    CHECK(b->indices.to_vector<std::int64_t>() == epoch1[k].indices.to_vector<std::int64_t>());
    CHECK(b->images.to_vector<float>() == epoch1[k].images.to_vector<float>());
    ++k;
  }
  CHECK(k == 9u);
  check_error([&] { resumed.seek({0, 10}); }, {"cursor", "9 batches"});
}

TEST_CASE("eval loader: every sample once, in order, normalised, no randomness") {
  auto d = small_dataset(23, 1, 28);
  auto l = make_eval_loader(d, {0.5f}, {0.25f}, 10, 1);
  std::vector<std::int64_t> idx;
  std::int64_t batches = 0;
  while (auto b = l->next()) {
    CHECK(b->views == 1);
    const auto i = b->indices.to_vector<std::int64_t>();
    idx.insert(idx.end(), i.begin(), i.end());
    const auto px = b->images.to_vector<float>();
    CHECK(px[0] == doctest::Approx((d->image(i[0])[0] / 255.f - 0.5f) / 0.25f));
    CHECK(px[28 * 28 + 27] == doctest::Approx((d->image(i[1])[27] / 255.f - 0.5f) / 0.25f));
    ++batches;
  }
  CHECK(batches == 3);
  std::vector<std::int64_t> want(23);
  for (int i = 0; i < 23; ++i) want[static_cast<std::size_t>(i)] = i;
  CHECK(idx == want);
}

TEST_CASE("loader: bad options are refused") {
  auto d = small_dataset(20);
  LoaderOptions o;
  o.batch_size = 32;
  check_error([&] { Loader l(d, Augment(simclr_cifar_preset()), o); }, {"fewer than one batch of 32"});
  o.batch_size = 4;
  o.views = 0;
  check_error([&] { Loader l(d, Augment(simclr_cifar_preset()), o); }, {"views"});
  o.views = 2;
  o.batch_size = 1ll << 40;
  o.drop_last = false;
  check_error([&] { Loader l(d, Augment(simclr_cifar_preset()), o); }, {"needs", "GiB"});
  // Errors inside workers reach the caller: 3-channel normalisation on a 1-channel set.
  auto gray = small_dataset(20, 1, 32);
  LoaderOptions w;
  w.batch_size = 4;
  w.num_workers = 2;
  Loader bad(gray, Augment(simclr_cifar_preset()), w);
  check_error([&] { bad.next(); }, {"normalises 3 channels"});
}
