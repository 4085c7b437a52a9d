#include "train/class_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/error.h"

namespace contra::train {

namespace {

void fill_group(GroupAccuracy& g, const std::vector<double>& per_class) {
  double s = 0;
  int n = 0;
  for (int c : g.classes)
    if (!std::isnan(per_class[c])) {
      s += per_class[c];
      ++n;
    }
  g.accuracy = n ? s / n : NAN;
}

double group_std(const std::vector<GroupAccuracy>& gs) {
  std::vector<double> v;
  for (const auto& g : gs)
    if (!std::isnan(g.accuracy)) v.push_back(g.accuracy);
  if (v.empty()) return NAN;
  const double m = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / v.size());
}

}  // namespace

ClassReport class_report(const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& labels,
                         const std::vector<std::int64_t>& train_counts) {
  CONTRA_CHECK(pred.size() == labels.size() && !labels.empty(), "class_report", pred.size(), " predictions for ",
               labels.size(), " labels");
  const int C = static_cast<int>(train_counts.size());
  ClassReport r;
  std::vector<std::int64_t> correct(C, 0);
  r.test_counts.assign(C, 0);
  std::int64_t total_correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    CONTRA_CHECK(labels[i] >= 0 && labels[i] < C, "class_report", "label ", labels[i], " outside [0, ", C, ")");
    r.test_counts[labels[i]]++;
    if (pred[i] == labels[i]) {
      correct[labels[i]]++;
      total_correct++;
    }
  }
  r.overall = static_cast<double>(total_correct) / labels.size();
  r.per_class.resize(C);
  double s = 0;
  int n = 0;
  for (int c = 0; c < C; ++c) {
    r.per_class[c] = r.test_counts[c] ? static_cast<double>(correct[c]) / r.test_counts[c] : NAN;
    if (r.test_counts[c]) {
      s += r.per_class[c];
      ++n;
    }
  }
  r.mean_per_class = n ? s / n : NAN;

  // Terciles: sort classes by train count (descending; ties by index), split 3 ways.
  std::vector<int> order(C);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return train_counts[a] > train_counts[b]; });
  const int base = C / 3, extra = C % 3;
  int at = 0;
  const char* names[3] = {"many", "medium", "few"};
  for (int g = 0; g < 3; ++g) {
    const int size = base + (g < extra ? 1 : 0);
    GroupAccuracy ga{names[g], {}, 0.0};
    for (int j = 0; j < size; ++j) ga.classes.push_back(order[at++]);
    fill_group(ga, r.per_class);
    r.terciles.push_back(ga);
  }
  r.terciles_std = group_std(r.terciles);

  GroupAccuracy many{"many", {}, 0}, medium{"medium", {}, 0}, few{"few", {}, 0};
  for (int c = 0; c < C; ++c) {
    if (train_counts[c] > 100) many.classes.push_back(c);
    else if (train_counts[c] >= 20) medium.classes.push_back(c);
    else few.classes.push_back(c);
  }
  for (auto* g : {&many, &medium, &few}) {
    fill_group(*g, r.per_class);
    r.thresholds.push_back(*g);
  }
  r.thresholds_std = group_std(r.thresholds);
  return r;
}

}  // namespace contra::train
