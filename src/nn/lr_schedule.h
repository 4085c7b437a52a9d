// lr_schedule.h — linear warm-up, then cosine decay to a floor, evaluated per step.
//
// With base rate η₀, warm-up W steps, total T steps, floor η_min (SimCLR's convention,
// steps counted from 0):
//   η(s) = η₀ · s / W                                              for s < W
//   η(s) = η_min + (η₀ − η_min) · ½ (1 + cos(π · (s − W) / (T − W)))  for W ≤ s < T
//   η(s) = η_min                                                    for s ≥ T
// Call optimizer.set_lr(schedule(step)) before each optimizer step.
#pragma once

#include <cstdint>

namespace contra::nn {

struct WarmupCosineSchedule {
  double base_lr = 0.1;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  double final_lr = 0.0;

  WarmupCosineSchedule(double base_lr, std::int64_t warmup_steps, std::int64_t total_steps, double final_lr = 0.0);
  double operator()(std::int64_t step) const;
};

}  // namespace contra::nn
