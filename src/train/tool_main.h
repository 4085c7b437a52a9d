// tool_main.h — the end of every tool's main(): run the body, print an error as
// "error: <what> (hint: …)" and map it to the exit code (exit_codes.h: UsageError → 2, any other → 1).
#pragma once

#include <exception>
#include <functional>
#include <iostream>

#include "train/config.h"
#include "train/exit_codes.h"

namespace contra::train {

inline int run_tool(const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntimeError;
  }
}

}  // namespace contra::train
