// world_options.cpp — the environment overrides of the collective and heartbeat timeouts. See world.h.
#include <cstdlib>
#include <string>

#include "dist/world.h"
#include "tensor/error.h"

namespace contra::dist {

CommOptions options_from_environment(CommOptions options) {
  if (const char* v = std::getenv("CONTRA_DIST_TIMEOUT_S")) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    CONTRA_CHECK_HINT(end != v && *end == '\0' && t > 0, "CONTRA_DIST_TIMEOUT_S",
                      "set it to the collective timeout in seconds, e.g. 60", "not a positive number: '", v, "'");
    options.timeout_s = t;
  }
  if (const char* v = std::getenv("CONTRA_DIST_HEARTBEAT_TIMEOUT_S")) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    CONTRA_CHECK_HINT(end != v && *end == '\0' && t > 0, "CONTRA_DIST_HEARTBEAT_TIMEOUT_S",
                      "set it to how long ranks may go without hearing rank 0 while it works alone, e.g. 60",
                      "not a positive number: '", v, "'");
    options.heartbeat_timeout_s = t;
  }
  return options;
}

}  // namespace contra::dist
