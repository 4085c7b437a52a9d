// lr_schedule.cpp — see lr_schedule.h for the formula.
#include "nn/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace contra::nn {

WarmupCosineSchedule::WarmupCosineSchedule(double base, std::int64_t warmup, std::int64_t total, double floor)
    : base_lr(base), warmup_steps(warmup), total_steps(total), final_lr(floor) {
  CONTRA_CHECK(base >= 0 && floor >= 0 && floor <= base, "WarmupCosineSchedule", "needs 0 ≤ final_lr (", floor,
               ") ≤ base_lr (", base, ")");
  CONTRA_CHECK(warmup >= 0 && total > 0 && warmup <= total, "WarmupCosineSchedule", "needs 0 ≤ warmup_steps (", warmup,
               ") ≤ total_steps (", total, "), total > 0");
}

double WarmupCosineSchedule::operator()(std::int64_t step) const {
  CONTRA_CHECK(step >= 0, "WarmupCosineSchedule", "step must be ≥ 0, got ", step);
  if (step < warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  if (step >= total_steps) return final_lr;
  const double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  return final_lr + (base_lr - final_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace contra::nn
