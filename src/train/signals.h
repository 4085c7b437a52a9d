// signals.h — cooperative shutdown on SIGINT / SIGTERM (reliability.md S1, S2).
//
// The first signal sets a flag: the training loop finishes its step, saves a checkpoint
// atomically and exits with 128 + signal (130 for SIGINT, 143 for SIGTERM). A second
// signal while the flag is already set exits immediately (the previous checkpoint is
// still valid because checkpoints are written to a temporary file and renamed).
// Long phases that are not the training loop (the kNN monitor, the final evaluation)
// call stop_point() between units of work: once a stop was requested it throws
// StopRequested, which the trainer turns into exit 130/143 within a batch (S4).
// SIGXFSZ is ignored by install_stop_handlers() and ignore_file_size_signal(): a write past
// `ulimit -f` then fails with EFBIG and is reported like any other write error.
#pragma once

#include <exception>

namespace contra::train {

struct StopRequested : std::exception {
  const char* what() const noexcept override { return "stopped by a signal"; }
};

void install_stop_handlers();
// Installs `handler` for SIGINT and SIGTERM (no SA_RESTART: a blocking call returns EINTR).
void install_signal_handler(void (*handler)(int));
bool stop_requested();
int stop_signal();        // the signal number received (0 if none)
int stop_exit_code();     // 128 + signal
void stop_point();
// Sets the stop flag as if `signal_number` had arrived (no-op when a stop is already
// requested): data-parallel ranks agree on a stop that reached only some of them.
void request_stop(int signal_number);        // throws StopRequested once a stop was requested
void ignore_file_size_signal();

}  // namespace contra::train
