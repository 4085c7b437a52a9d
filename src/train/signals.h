// signals.h — cooperative shutdown on SIGINT / SIGTERM (reliability.md S1, S2).
//
// The first signal sets a flag: the training loop finishes its step, saves a checkpoint
// atomically and exits with 128 + signal (130 for SIGINT, 143 for SIGTERM). A second
// signal while the flag is already set exits immediately (the previous checkpoint is
// still valid because checkpoints are written to a temporary file and renamed).
#pragma once

namespace contra::train {

void install_stop_handlers();
// Installs `handler` for SIGINT and SIGTERM (no SA_RESTART: a blocking call returns EINTR).
void install_signal_handler(void (*handler)(int));
bool stop_requested();
int stop_signal();        // the signal number received (0 if none)
int stop_exit_code();     // 128 + signal

}  // namespace contra::train
