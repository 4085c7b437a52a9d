// progress.h — a progress line for long work: position, rate, ETA.
//
// On a terminal the line is redrawn in place ("\r"); otherwise a plain log line is printed
// every `log_every_seconds`. The caller supplies the extra fields (loss, lr, ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace contra::train {

class Progress {
 public:
  // log_every_seconds: the interval between lines when stdout is not a terminal (on a
  // terminal the line is redrawn in place, at most 10 times a second); kQuiet: only the
  // line of the last unit, on a terminal too (--quiet).
  static constexpr double kQuiet = 1e9;
  Progress(std::string label, std::int64_t total, double log_every_seconds = 10.0);
  // Reports that `done` of `total` units are finished; `items` are counted for the rate
  // (images/s). Draws when due (always on a terminal, at most 10 times a second).
  void update(std::int64_t done, std::int64_t items, const std::string& fields);
  void finish(const std::string& fields);
  double rate() const { return rate_; }  // items per second (smoothed)
  static std::string format_duration(double seconds);

 private:
  std::string label_;
  std::int64_t total_;
  double log_every_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_, last_rate_time_;
  std::int64_t last_rate_items_ = 0, items_ = 0, done_ = 0;
  std::int64_t start_done_ = -1;
  double rate_ = 0.0;
};

}  // namespace contra::train
