// tool_main.h — the end of every tool's main(): run the body, print an error as
// "error: <what> (hint: …)" and map it to the exit code (UsageError → 2, any other → 1).
#pragma once

#include <exception>
#include <functional>
#include <iostream>

#include "train/config.h"

namespace contra::train {

inline int run_tool(const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace contra::train
