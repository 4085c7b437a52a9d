#include "train/signals.h"

#include "train/exit_codes.h"

#include <csignal>
#include <unistd.h>

namespace contra::train {

namespace {
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_signal != 0) {
    static const char msg[] = "\nsecond signal: exiting immediately (the last saved checkpoint stays valid)\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(128 + sig);
  }
  g_signal = sig;
  static const char msg[] = "\nstop requested: finishing the step and saving a checkpoint (signal again to quit now)\n";
  (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
}
}  // namespace

void install_stop_handlers() { install_signal_handler(on_stop_signal); }

void install_signal_handler(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // interrupted writes resume; the flag is polled
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  ignore_file_size_signal();
}

void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

void stop_point() {
  if (g_signal != 0) throw StopRequested();
}

bool stop_requested() { return g_signal != 0; }
void request_stop(int signal_number) {
  if (g_signal == 0) g_signal = signal_number;
}
int stop_signal() { return g_signal; }
int stop_exit_code() { return g_signal ? exit_code_for_signal(g_signal) : kExitOk; }

}  // namespace contra::train
