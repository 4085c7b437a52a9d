// Long-tailed subsets: the published counts (recipes.md), seeding, the manifest, and
// the real Fashion-MNIST-LT.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "data/dataset_registry.h"
#include "data/long_tail.h"
#include "data_test_util.h"

using namespace contra;
using namespace contra::data;
using namespace contra::data::test;

namespace {
std::vector<std::int64_t> balanced_labels(int classes, int per_class) {
  std::vector<std::int64_t> l;
  for (int i = 0; i < per_class; ++i)
    for (int c = 0; c < classes; ++c) l.push_back(c);
  return l;
}
std::int64_t sum(const std::vector<std::int64_t>& v) { return std::accumulate(v.begin(), v.end(), std::int64_t{0}); }
}  // namespace

TEST_CASE("long-tail counts: LDAM convention matches the published numbers") {
  const auto c = long_tail_counts(10, 5000, 100, LtProfile::exponential);
  CHECK(c == std::vector<std::int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  CHECK(sum(c) == 12406);
  CHECK(sum(long_tail_counts(10, 5000, 50, LtProfile::exponential)) == 13996);
  CHECK(sum(long_tail_counts(10, 5000, 10, LtProfile::exponential)) == 20431);
  CHECK(sum(long_tail_counts(100, 500, 100, LtProfile::exponential)) == 10847);
  CHECK(sum(long_tail_counts(10, 6000, 100, LtProfile::exponential)) == 14886);  // Fashion-MNIST-LT
  CHECK(long_tail_counts(10, 5000, 1, LtProfile::exponential) == std::vector<std::int64_t>(10, 5000));
  // Step profile: first floor(C/2) classes keep n_max, the rest n_max / ratio.
  CHECK(long_tail_counts(5, 1000, 10, LtProfile::step) == std::vector<std::int64_t>{1000, 1000, 100, 100, 100});
  check_error([] { long_tail_counts(10, 5000, 0.5, LtProfile::exponential); }, {"ratio must be ≥ 1"});
  check_error([] { parse_lt_profile("linear"); }, {"linear", "exponential, step"});
}

TEST_CASE("long-tail subsets: LDAM and SDCLR on CIFAR-shaped label lists") {
  const auto labels10 = balanced_labels(10, 5000);
  LongTailOptions o;
  const LongTailSubset s = make_long_tail(labels10, 10, o, "fake_cifar10");
  CHECK(s.indices.size() == 12406u);
  CHECK(s.class_counts == std::vector<std::int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  CHECK(std::is_sorted(s.indices.begin(), s.indices.end()));
  CHECK(std::set<std::int64_t>(s.indices.begin(), s.indices.end()).size() == s.indices.size());
  std::vector<std::int64_t> seen(10, 0);
  for (auto i : s.indices) ++seen[static_cast<std::size_t>(labels10[static_cast<std::size_t>(i)])];
  CHECK(seen == s.class_counts);
  const auto m = nlohmann::json::parse(s.manifest_json);
  CHECK(m["convention"] == "ldam");
  CHECK(m["ratio"] == 100.0);
  CHECK(m["n_max"] == 5000);
  CHECK(m["total"] == 12406);
  CHECK(m["class_counts"][9] == 50);

  // Same seed, same subset; another seed keeps the counts but picks other images.
  CHECK(make_long_tail(labels10, 10, o, "x").indices == s.indices);
  o.seed = 1;
  const auto s1 = make_long_tail(labels10, 10, o, "x");
  CHECK(s1.class_counts == s.class_counts);
  CHECK(s1.indices != s.indices);

  SUBCASE("SDCLR: 45,000-image pool, n_max 4500, seeded class-to-size assignment") {
    LongTailOptions d;
    d.convention = LtConvention::sdclr;
    const auto a = make_long_tail(labels10, 10, d, "x");
    CHECK(a.indices.size() == 11165u);
    std::vector<std::int64_t> sorted = a.class_counts;
    std::sort(sorted.rbegin(), sorted.rend());
    CHECK(sorted == std::vector<std::int64_t>{4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45});
    d.seed = 3;
    const auto b = make_long_tail(labels10, 10, d, "x");
    CHECK(b.indices.size() == 11165u);
    CHECK(b.class_rank != a.class_rank);  // another split: another class order
    const auto labels100 = balanced_labels(100, 500);
    CHECK(make_long_tail(labels100, 100, d, "x").indices.size() == 9754u);
  }
  SUBCASE("CIFAR-100 LDAM and a step profile") {
    const auto labels100 = balanced_labels(100, 500);
    CHECK(make_long_tail(labels100, 100, LongTailOptions{}, "x").indices.size() == 10847u);
    LongTailOptions st;
    st.profile = LtProfile::step;
    st.ratio = 10;
    CHECK(make_long_tail(labels10, 10, st, "x").indices.size() == 5u * 5000 + 5u * 500);
  }
  SUBCASE("asking for more than a class has is an error naming the class") {
    LongTailOptions big;
    big.n_max = 6000;
    check_error([&] { make_long_tail(labels10, 10, big, "fake"); }, {"class 0 needs 6000", "only 5000"});
  }
}

TEST_CASE("fashion_mnist_lt: ratio 100 with n_max 6000 gives 14,886 images") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")) {
    MESSAGE("dataset-fashion-mnist is not installed; run scripts/setup (skipping)");
    return;
  }
  TempDir root("fmlt");
  DatasetOptions o;
  o.root = root.str();
  const DatasetSplits s = open_dataset("fashion_mnist_lt", o);
  CHECK(s.train.size() == 14886);
  CHECK(s.train.class_counts() == std::vector<std::int64_t>{6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60});
  CHECK(s.test.size() == 10000);  // test stays balanced
  CHECK(s.train.name == "fashion_mnist_lt/train");
  CHECK(nlohmann::json::parse(s.train.manifest_json)["total"] == 14886);
}
