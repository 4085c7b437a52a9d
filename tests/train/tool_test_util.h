// tool_test_util.h — helpers of the end-to-end tests that run the tools as processes:
// the tool's path from the environment (set by tests/train/meson.build), a scratch
// directory per test process, and running a command with its exit code and output.
#pragma once

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace contra::test {

// The path of a tool from the environment variable `name` (e.g. CONTRA_PRETRAIN).
inline const char* tool(const char* name) {
  const char* p = std::getenv(name);
  REQUIRE_MESSAGE(p != nullptr, "environment variable ", name, " (path of the tool) is not set");
  return p;
}

// A fresh directory <tmp>/<prefix><pid>.
inline std::string scratch_dir(const std::string& prefix) {
  namespace fs = std::filesystem;
  const std::string p = (fs::temp_directory_path() / (prefix + std::to_string(::getpid()))).string();
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct ToolResult {
  int code;            // exit code, or 128 + signal
  std::string output;  // stdout and stderr together
};

// Which of the command's streams the result's output holds.
enum class Capture { stdout_and_stderr, stdout_only };

// Runs a shell command line, capturing stdout and stderr (or stdout alone; stderr discarded).
inline ToolResult run_command(const std::string& cmd, Capture capture = Capture::stdout_and_stderr) {
  const char* redirect = capture == Capture::stdout_and_stderr ? " 2>&1" : " 2>/dev/null";
  FILE* p = ::popen((cmd + redirect).c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// Starts a shell command line in the background (`exec`ed, so the pid is the command's own).
inline pid_t spawn_command(const std::string& cmd) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string line = "exec " + cmd;
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits for a spawned process: its exit code, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits until the run directory has a checkpoint at or after `min_step` (checkpoints/latest
// names ckpt-<step>.safetensors); false after timeout_s seconds.
inline bool wait_for_checkpoint(const std::string& dir, std::int64_t min_step, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < timeout_s) {
    std::ifstream f(dir + "/checkpoints/latest");
    std::string name;
    if (f >> name) {
      const auto dash = name.find('-'), dot = name.find('.');
      if (dash != std::string::npos && dot != std::string::npos &&
          std::stoll(name.substr(dash + 1, dot - dash - 1)) >= min_step)
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace contra::test
