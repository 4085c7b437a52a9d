// long_tail.h — long-tailed subsets of a balanced training set (recipes.md, "Long-tailed").
//
// Exponential profile, rank r = 0 .. C−1 (rank 0 is the head):
//   n_r = floor(n_max · ratio^(−r/(C−1)))      (computed as LDAM-DRW does:
//                                               n_max · (1/ratio)^(r/(C−1)), then int())
// Step profile: ranks r < floor(C/2) keep n_max, the others floor(n_max / ratio).
// Conventions:
//   ldam  — rank = label (class 0 is the head); n_max defaults to the largest class
//           (5000 CIFAR-10, 500 CIFAR-100, 6000 Fashion-MNIST); per class keep the first
//           n_r of a seeded shuffle. CIFAR-10 ratio 100 → 12,406 images.
//   sdclr — first a seeded 90% per class (the 45,000-image train split of CIFAR-10), so
//           n_max defaults to 0.9 × the largest class (4500 / 450); the class-to-rank
//           assignment is a seeded permutation (each seed = one of the "random splits").
//           CIFAR-10 ratio 100 → 11,165 images; CIFAR-100 → 9,754.
// Shuffles use our Generator, not NumPy's, so the chosen images differ from the papers'
// published index files while the counts match exactly. Selected indices are returned in
// ascending dataset order. The manifest (JSON) records the construction and the counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace contra::data {

enum class LtProfile { exponential, step };
enum class LtConvention { ldam, sdclr };

LtProfile parse_lt_profile(const std::string& s);        // "exponential" | "exp" | "step"
LtConvention parse_lt_convention(const std::string& s);  // "ldam" | "sdclr"
const char* lt_profile_name(LtProfile p);
const char* lt_convention_name(LtConvention c);

struct LongTailOptions {
  LtProfile profile = LtProfile::exponential;
  LtConvention convention = LtConvention::ldam;
  double ratio = 100.0;      // n_max / n_min, ≥ 1
  std::int64_t n_max = 0;    // 0 = the convention's default (see above)
  std::uint64_t seed = 0;
};

// Per-rank counts n_r for C classes (rank 0 = head).
std::vector<std::int64_t> long_tail_counts(int num_classes, std::int64_t n_max, double ratio,
                                           LtProfile profile);

struct LongTailSubset {
  std::vector<std::int64_t> indices;       // into the source dataset, ascending
  std::vector<std::int64_t> class_counts;  // (C) images kept per label
  std::vector<std::int64_t> class_rank;    // (C) rank of each label (0 = head)
  std::string manifest_json;
};

LongTailSubset make_long_tail(const std::vector<std::int64_t>& labels, int num_classes,
                              const LongTailOptions& options, const std::string& source_name);

// The subset as a dataset; its manifest_json is filled in.
Dataset long_tail(const Dataset& balanced, const LongTailOptions& options);

}  // namespace contra::data
