#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace contra::train {

using Clock = std::chrono::steady_clock;

Progress::Progress(std::string label, std::int64_t total, double log_every_seconds)
    : label_(std::move(label)), total_(total), log_every_(log_every_seconds), tty_(::isatty(STDOUT_FILENO) != 0),
      start_(Clock::now()), last_draw_(start_), last_rate_time_(start_) {}

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

void Progress::update(std::int64_t done, std::int64_t items, const std::string& fields) {
  const auto now = Clock::now();
  if (start_done_ < 0) start_done_ = done - 1;
  done_ = done;
  items_ += items;
  const double since_rate = std::chrono::duration<double>(now - last_rate_time_).count();
  if (since_rate >= 1.0) {
    const double inst = (items_ - last_rate_items_) / since_rate;
    rate_ = rate_ == 0.0 ? inst : 0.7 * rate_ + 0.3 * inst;
    last_rate_items_ = items_;
    last_rate_time_ = now;
  }
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  // Quiet (log_every_ = kQuiet): the last line only, also on a terminal (under mpirun a
  // rank's stdout is a pseudo-terminal even when the job's output goes to a file).
  const double draw_every = log_every_ >= kQuiet ? kQuiet : (tty_ ? 0.1 : log_every_);
  if (done < total_ && since_draw < draw_every) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double per_unit = (done - start_done_) > 0 ? elapsed / (done - start_done_) : 0.0;
  const double eta = per_unit * (total_ - done);
  const double shown_rate = rate_ > 0 ? rate_ : (elapsed > 0 ? items_ / elapsed : 0.0);
  std::printf("%s%s %lld/%lld %s | %.1f img/s | elapsed %s | ETA %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
              static_cast<long long>(done), static_cast<long long>(total_), fields.c_str(), shown_rate,
              format_duration(elapsed).c_str(), format_duration(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(stdout);
}

void Progress::finish(const std::string& fields) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::printf("%s%s done: %s | %s\n", tty_ ? "\r\033[K" : "", label_.c_str(), fields.c_str(),
              format_duration(elapsed).c_str());
  std::fflush(stdout);
}

}  // namespace contra::train
