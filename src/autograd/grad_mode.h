// grad_mode.h — whether differentiable ops record graph nodes on this thread.
#pragma once

namespace contra::autograd {

class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool on);
};

// Disables recording for a scope (optimizer steps, evaluation, backward itself).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
 private:
  bool prev_;
};

// Enables recording for a scope even inside a NoGradGuard (for example a small model
// trained during an evaluation that otherwise runs without gradients).
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;
 private:
  bool prev_;
};

}  // namespace contra::autograd
