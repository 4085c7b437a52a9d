// class_metrics.h — accuracy overall, per class, and by frequency group (long-tailed reporting).
//
// recipes.md "Long-tailed reporting": classes are grouped by their training-set count,
//  - by terciles (SDCLR): classes sorted by count, descending, split into three groups
//    as equal as possible with the larger groups first (CIFAR-10 → 4/3/3);
//  - by thresholds (ImageNet-LT, CIFAR-100-LT): many > 100, medium 20–100, few < 20.
// A group's accuracy is the mean of its classes' accuracies; `group_std` is the standard
// deviation (population) of the three group accuracies. An empty group reports NaN and is
// left out of the std.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace contra::train {

struct GroupAccuracy {
  std::string name;            // "many", "medium", "few"
  std::vector<int> classes;    // class indices in the group
  double accuracy = 0.0;       // mean per-class accuracy (NaN when empty)
};

struct ClassReport {
  double overall = 0.0;                  // correct / total
  double mean_per_class = 0.0;           // balanced accuracy
  std::vector<double> per_class;         // accuracy of each class (NaN if no test sample)
  std::vector<std::int64_t> test_counts; // test samples per class
  std::vector<GroupAccuracy> terciles;   // many / medium / few by terciles of train counts
  double terciles_std = 0.0;
  std::vector<GroupAccuracy> thresholds; // many (>100) / medium (20–100) / few (<20)
  double thresholds_std = 0.0;
};

ClassReport class_report(const std::vector<std::int64_t>& predictions, const std::vector<std::int64_t>& labels,
                         const std::vector<std::int64_t>& train_counts);

}  // namespace contra::train
