// long_tail.cpp — counts, seeded selection and the manifest (see long_tail.h).
#include "data/long_tail.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "tensor/generator.h"

namespace contra::data {

LtProfile parse_lt_profile(const std::string& s) {
  if (s == "exponential" || s == "exp") return LtProfile::exponential;
  if (s == "step") return LtProfile::step;
  throw Error("long-tail", "unknown profile '" + s + "'", "valid: exponential, step");
}

LtConvention parse_lt_convention(const std::string& s) {
  if (s == "ldam") return LtConvention::ldam;
  if (s == "sdclr") return LtConvention::sdclr;
  throw Error("long-tail", "unknown convention '" + s + "'", "valid: ldam, sdclr");
}

const char* lt_profile_name(LtProfile p) { return p == LtProfile::step ? "step" : "exponential"; }
const char* lt_convention_name(LtConvention c) { return c == LtConvention::sdclr ? "sdclr" : "ldam"; }

std::vector<std::int64_t> long_tail_counts(int num_classes, std::int64_t n_max, double ratio,
                                           LtProfile profile) {
  CONTRA_CHECK(num_classes >= 2, "long-tail", "needs at least 2 classes, got ", num_classes);
  CONTRA_CHECK(n_max >= 1, "long-tail", "n_max must be ≥ 1, got ", n_max);
  CONTRA_CHECK(std::isfinite(ratio) && ratio >= 1.0, "long-tail",
               "imbalance ratio must be ≥ 1 (n_max / n_min), got ", ratio);
  std::vector<std::int64_t> n(static_cast<std::size_t>(num_classes));
  const double imb_factor = 1.0 / ratio;
  for (int r = 0; r < num_classes; ++r) {
    double v;
    if (profile == LtProfile::exponential)
      v = static_cast<double>(n_max) * std::pow(imb_factor, r / (num_classes - 1.0));
    else
      v = r < num_classes / 2 ? static_cast<double>(n_max) : static_cast<double>(n_max) * imb_factor;
    n[static_cast<std::size_t>(r)] = std::max<std::int64_t>(1, static_cast<std::int64_t>(v));
  }
  return n;
}

namespace {
void shuffle(std::vector<std::int64_t>& v, Generator& g) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}
}  // namespace

LongTailSubset make_long_tail(const std::vector<std::int64_t>& labels, int num_classes,
                              const LongTailOptions& o, const std::string& source_name) {
  const std::string where = "long-tail (" + source_name + ")";
  CONTRA_CHECK(num_classes >= 2, where, "needs at least 2 classes, got ", num_classes);
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    CONTRA_CHECK(labels[i] >= 0 && labels[i] < num_classes, where, "label ", labels[i],
                 " of image ", i, " is outside [0, ", num_classes, ")");
    by_class[static_cast<std::size_t>(labels[i])].push_back(static_cast<std::int64_t>(i));
  }
  std::int64_t largest = 0;
  for (const auto& c : by_class) largest = std::max<std::int64_t>(largest, static_cast<std::int64_t>(c.size()));
  // Per-class pools in seeded order.
  for (int c = 0; c < num_classes; ++c) {
    Generator g = Generator::derive(o.seed, {0x17a11u, static_cast<std::uint64_t>(c)});
    shuffle(by_class[static_cast<std::size_t>(c)], g);
  }
  std::int64_t n_max = o.n_max;
  if (o.convention == LtConvention::sdclr) {
    // The 90% train split (45,000 of CIFAR-10's 50,000), then a seeded class-to-rank map.
    for (auto& c : by_class) c.resize(c.size() * 9 / 10);
    if (n_max == 0) n_max = largest * 9 / 10;
  } else if (n_max == 0) {
    n_max = largest;
  }
  const auto counts_by_rank = long_tail_counts(num_classes, n_max, o.ratio, o.profile);
  LongTailSubset s;
  s.class_rank.resize(static_cast<std::size_t>(num_classes));
  for (int c = 0; c < num_classes; ++c) s.class_rank[static_cast<std::size_t>(c)] = c;
  if (o.convention == LtConvention::sdclr) {
    Generator g = Generator::derive(o.seed, {0x5dc1u});
    shuffle(s.class_rank, g);
  }
  s.class_counts.resize(static_cast<std::size_t>(num_classes));
  for (int c = 0; c < num_classes; ++c) {
    const auto& pool = by_class[static_cast<std::size_t>(c)];
    const std::int64_t want = counts_by_rank[static_cast<std::size_t>(s.class_rank[static_cast<std::size_t>(c)])];
    CONTRA_CHECK_HINT(want <= static_cast<std::int64_t>(pool.size()), where,
                      "lower n_max or use a dataset with more images per class", "class ", c,
                      " needs ", want, " images but only ", pool.size(), " are available");
    s.class_counts[static_cast<std::size_t>(c)] = want;
    s.indices.insert(s.indices.end(), pool.begin(), pool.begin() + want);
  }
  std::sort(s.indices.begin(), s.indices.end());
  nlohmann::json m;
  m["source"] = source_name;
  m["profile"] = lt_profile_name(o.profile);
  m["convention"] = lt_convention_name(o.convention);
  m["ratio"] = o.ratio;
  m["n_max"] = n_max;
  m["seed"] = o.seed;
  m["formula"] = o.profile == LtProfile::exponential
                     ? "n_r = floor(n_max * ratio^(-r/(C-1))), r = rank (0 = head)"
                     : "n_r = n_max for r < floor(C/2), else floor(n_max / ratio)";
  m["class_counts"] = s.class_counts;
  m["class_rank"] = s.class_rank;
  m["total"] = static_cast<std::int64_t>(s.indices.size());
  s.manifest_json = m.dump();
  return s;
}

Dataset long_tail(const Dataset& balanced, const LongTailOptions& options) {
  const auto s = make_long_tail(balanced.labels, static_cast<int>(balanced.num_classes()), options,
                                balanced.name);
  std::string name = balanced.name;
  const auto slash = name.find('/');
  name = slash == std::string::npos ? name + "_lt" : name.substr(0, slash) + "_lt" + name.substr(slash);
  Dataset d = subset(balanced, s.indices, name);
  d.manifest_json = s.manifest_json;
  return d;
}

}  // namespace contra::data
