// error.h — the one error type of the library, and the invariant checks.
//
// Library code throws contra::Error for anything a user can cause (bad shapes, bad files,
// bad options). The message says what went wrong, where (the op), the values seen and a
// hint for the fix. Tools catch it in main(), print it and exit non-zero.
// Internal invariants (bugs, not user errors) abort with file:line in every build type.
#pragma once

#include <sstream>
#include <stdexcept>
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace contra {

class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string what, std::string hint = {})
      : std::runtime_error(compose(where, what, hint)),
        where_(std::move(where)), what_(std::move(what)), hint_(std::move(hint)) {}

  const std::string& where() const { return where_; }
  const std::string& detail() const { return what_; }
  const std::string& hint() const { return hint_; }

 private:
  static std::string compose(const std::string& where, const std::string& what,
                             const std::string& hint) {
    std::string s = where.empty() ? what : where + ": " + what;
    if (!hint.empty()) s += " (hint: " + hint + ")";
    return s;
  }
  std::string where_, what_, hint_;
};

// Untrusted text (a name, a value or a token from a file) as it may appear in a message:
// at most `max` bytes, control bytes shown as '?', and "… (N bytes)" when it was cut.
inline std::string abbreviate(std::string_view s, std::size_t max = 80) {
  std::string out(s.substr(0, std::min(s.size(), max)));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (s.size() > max) out += "… (" + std::to_string(s.size()) + " bytes)";
  return out;
}

namespace detail {
[[noreturn]] void invariant_failed(const char* expr, const char* file, int line, const std::string& msg);

template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace contra

// CONTRA_CHECK(cond, where, what..., hint): user-facing check that throws contra::Error.
// `what` is streamed, so shapes and values can be put in directly.
#define CONTRA_CHECK(cond, where, ...)                                                    \
  do {                                                                                    \
    if (!(cond)) throw ::contra::Error((where), ::contra::detail::concat(__VA_ARGS__));   \
  } while (0)

#define CONTRA_CHECK_HINT(cond, where, hint, ...)                                         \
  do {                                                                                    \
    if (!(cond))                                                                          \
      throw ::contra::Error((where), ::contra::detail::concat(__VA_ARGS__), (hint));      \
  } while (0)

// CONTRA_ASSERT(cond, msg...): internal invariant; aborts with file:line in every build.
#define CONTRA_ASSERT(cond, ...)                                                          \
  do {                                                                                    \
    if (!(cond))                                                                          \
      ::contra::detail::invariant_failed(#cond, __FILE__, __LINE__,                       \
                                         ::contra::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
