// fuzz_common.h — shared by the libFuzzer targets: inputs as files (readers that take a
// path read them from a memfd, no disk I/O per input), and the rule that a reader may
// throw contra::Error and nothing else (any other exception, crash, leak or sanitizer
// report is a finding).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tensor/error.h"

namespace contra_fuzz {

// The input as a file path (/proc/self/fd/N of a memfd rewritten for every input).
inline std::string as_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("contra-fuzz-input", 0);
  if (fd < 0) std::abort();
  if (::ftruncate(fd, 0) != 0) std::abort();
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f; a contra::Error is an expected outcome (the input was rejected with a message).
template <typename F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const contra::Error& e) {
    if (std::string_view(e.what()).size() > 4096) std::abort();  // untrusted text is never printed whole
    return false;
  }
}

}  // namespace contra_fuzz
