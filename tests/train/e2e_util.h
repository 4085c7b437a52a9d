// e2e_util.h — shared by the end-to-end suites that run build/tools/* as subprocesses.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace contra_e2e {

// The path of a tool from the environment variable meson sets (CONTRA_PRETRAIN, ...).
inline const char* tool(const char* name) {
  const char* p = std::getenv(name);
  REQUIRE_MESSAGE(p != nullptr, "environment variable ", name, " (path of the tool) is not set");
  return p;
}

// A fresh folder /tmp/<tag><pid> for this test process (made empty on first use).
inline std::string fresh_temp_dir(const std::string& tag) {
  namespace fs = std::filesystem;
  const std::string p = (fs::temp_directory_path() / (tag + std::to_string(::getpid()))).string();
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

}  // namespace contra_e2e
