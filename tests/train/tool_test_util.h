// tool_test_util.h — helpers of the end-to-end tests that run the tools as processes:
// the tool's path from the environment (set by tests/train/meson.build), a scratch
// directory per test process, and running a command with its exit code and output.
#pragma once

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

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

}  // namespace contra::test
