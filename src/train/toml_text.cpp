// toml_text.cpp — TOML text checked before toml++ parses it (toml_text.h).
#include "train/toml_text.h"

#include <cctype>
#include <cstring>

#include "train/config.h"  // UsageError

namespace contra::train {

// What toml++ 3.3 must not see (each found by fuzz/fuzz_config; it asserts in debug builds
// and has undefined behaviour in release ones):
//  - a table header whose key does not start with a key character, "[[[1]]]" or "[\x1b"
//    (TOML_ASSERT_ASSUME in parse_key; fixed upstream in toml++ PR 301);
//  - a non-ASCII character where whitespace may stand, "a·b = 1" (TOML_UNREACHABLE in
//    is_non_ascii_horizontal_whitespace for U+00A1–U+0499);
//  - '}' where an array item may start, "a = [[}" (TOML_ASSERT_ASSUME in parse_value).
// All are errors in TOML 1.0 anyway: outside strings and comments only ASCII is allowed,
// and no control character but tab. So the text is scanned first (strings and comments are
// followed, non-ASCII inside them is fine) and refused with file:line:col.
void check_toml_text(const std::string& text, const std::string& source_name) {
  enum class State { normal, basic, literal, ml_basic, ml_literal, comment } st = State::normal;
  std::size_t line = 1, line_start = 0;
  bool at_line_start = true;
  auto fail = [&](std::size_t at, const std::string& what) {
    throw UsageError(source_name + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1),
                     "malformed TOML: " + what);
  };
  auto starts = [&](std::size_t at, const char* s) { return text.compare(at, std::strlen(s), s) == 0; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      at_line_start = true;
      if (st == State::basic || st == State::literal || st == State::comment) st = State::normal;
      continue;
    }
    switch (st) {
      case State::normal:
        if (c >= 0x80) fail(i, "a character outside a string or comment that is not ASCII");
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) fail(i, "a control character");
        if (at_line_start && c != ' ' && c != '\t') {
          at_line_start = false;
          if (c == '[') {  // a [table] or [[array]] header: its key must start like a key
            std::size_t k = i + 1;
            if (k < text.size() && text[k] == '[') ++k;
            while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
            const unsigned char d = k < text.size() ? static_cast<unsigned char>(text[k]) : 0;
            if (!(std::isalnum(d) || d == '_' || d == '-' || d == '"' || d == '\''))
              fail(i, "a [table] header must start with a key");
          }
        }
        if (c == '[' || c == ',') {  // an array or inline-table item may not start with '}'
          std::size_t k = i + 1;
          while (k < text.size()) {
            if (text[k] == '#') {  // a comment runs to the end of its line
              while (k < text.size() && text[k] != '\n') ++k;
            } else if (text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\n') {
              ++k;
            } else {
              break;
            }
          }
          if (k < text.size() && text[k] == '}') fail(i, std::string("'}' right after '") + char(c) + "'");
        }
        if (c == '#') st = State::comment;
        else if (starts(i, "\"\"\"")) st = State::ml_basic, i += 2;
        else if (starts(i, "'''")) st = State::ml_literal, i += 2;
        else if (c == '"') st = State::basic;
        else if (c == '\'') st = State::literal;
        break;
      case State::basic:
        if (c == '\\') ++i;  // the escaped character (a newline is left to toml++)
        else if (c == '"') st = State::normal;
        break;
      case State::literal:
        if (c == '\'') st = State::normal;
        break;
      case State::ml_basic:
        if (c == '\\') ++i;
        else if (starts(i, "\"\"\"")) st = State::normal, i += 2;
        break;
      case State::ml_literal:
        if (starts(i, "'''")) st = State::normal, i += 2;
        break;
      case State::comment:
        break;
    }
  }
}

toml::table parse_toml_checked(const std::string& text, const std::string& source_name) {
  check_toml_text(text, source_name);
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& s = e.source();
    throw UsageError(source_name + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column),
                std::string("malformed TOML: ") + std::string(e.description()));
  }
}

}  // namespace contra::train
