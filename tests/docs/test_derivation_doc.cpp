// test_derivation_doc.cpp — docs/derivation.md stays true to the code (suite: fast).
//
//  1. The worked example: every command line "$ build/tools/inspect_loss …" inside the
//     <!-- worked-example:begin/end --> region is run; every output line quoted under it
//     must be printed verbatim, and every number with ≥ 4 decimals in the region's prose
//     must equal, to its printed precision, a number the tool printed.
//  2. The code links: every link [`name`](../path) must point to an existing file that
//     contains `name` (a function, type or member as a whole word; a quoted "test case
//     name" verbatim); every other relative link must point to an existing file.
//  3. Nothing in the repository points outside it (the specification used to live in a
//     shared folder next to the checkout).
//
// Paths: CONTRA_SOURCE_ROOT (the repository), INSPECT_LOSS (the built tool).
#include <doctest/doctest.h>

#include "../train/tool_test_util.h"


#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, "set ", name, " (meson sets it for `meson test`)");
  return v;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    while (!l.empty() && (l.back() == ' ' || l.back() == '\r')) l.pop_back();
    out.push_back(l);
  }
  return out;
}

std::string doc_path() { return env("CONTRA_SOURCE_ROOT") + "/docs/derivation.md"; }

std::vector<double> numbers_in(const std::string& text) {
  static const std::regex num(R"([-+]?\d+\.\d+(?:[eE][-+]?\d+)?)");
  std::vector<double> v;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), num); it != std::sregex_iterator(); ++it)
    v.push_back(std::stod(it->str()));
  return v;
}

}  // namespace

TEST_CASE("derivation.md: the worked example's numbers are what inspect_loss prints") {
  const auto doc = lines_of(read_text(doc_path()));
  bool inside = false, in_code = false;
  std::string command, output, prose;
  std::vector<std::string> outputs;  // every command's output, for the prose numbers
  int commands = 0, quoted = 0;
  for (const std::string& l : doc) {
    if (l.find("<!-- worked-example:begin -->") != std::string::npos) inside = true;
    if (l.find("<!-- worked-example:end -->") != std::string::npos) inside = false;
    if (!inside) continue;
    if (l.rfind("```", 0) == 0) {
      in_code = !in_code;
      command.clear();
      continue;
    }
    if (!in_code) {
      prose += l + "\n";
      continue;
    }
    if (l.rfind("$ build/tools/inspect_loss ", 0) == 0) {
      command = l.substr(2);
      const std::string args = command.substr(std::string("build/tools/inspect_loss").size());
      const auto r = contra::test::run_command(env("INSPECT_LOSS") + args, contra::test::Capture::stdout_only);
      output = r.output;
      REQUIRE_MESSAGE(r.code == 0, "`", command, "` exited with ", r.code);
      outputs.push_back(output);
      ++commands;
      continue;
    }
    if (command.empty() || l.empty() || l == "..." || l.rfind("  ...", 0) == 0) continue;
    // a quoted output line must appear verbatim (up to trailing spaces) as a whole line
    bool found = false;
    for (const auto& o : lines_of(output)) found = found || o == l;
    CHECK_MESSAGE(found, "docs/derivation.md quotes a line that `", command, "` no longer prints:\n  ", l);
    ++quoted;
  }
  CHECK(commands >= 1);
  CHECK(quoted >= 20);
  // numbers in the prose: each equals a printed number rounded to the digits the text shows
  static const std::regex num(R"([-+]?\d+\.(\d{4,}))");
  std::vector<double> printed;
  for (const auto& o : outputs)
    for (double v : numbers_in(o)) printed.push_back(v);
  int checked = 0;
  for (auto it = std::sregex_iterator(prose.begin(), prose.end(), num); it != std::sregex_iterator(); ++it) {
    const double v = std::stod(it->str());
    const double half_ulp = 0.5 * std::pow(10.0, -static_cast<double>((*it)[1].length()));
    bool match = false;
    for (double p : printed) match = match || std::abs(p - v) <= half_ulp * (1 + 1e-9);
    CHECK_MESSAGE(match, "docs/derivation.md: the number ", it->str(), " in the worked example is not printed by the tool");
    ++checked;
  }
  CHECK(checked >= 5);
  MESSAGE("worked example: ", commands, " commands, ", quoted, " quoted lines, ", checked, " numbers in the prose");
}

TEST_CASE("derivation.md: every function, type, file and test it names exists") {
  const std::string root = env("CONTRA_SOURCE_ROOT");
  const std::string text = read_text(doc_path());
  static const std::regex link(R"(\[([^\]]+)\]\(([^)\s#]+)(#[^)]*)?\))");
  int code_links = 0, test_links = 0, file_links = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), link); it != std::sregex_iterator(); ++it) {
    std::string label = (*it)[1].str(), target = (*it)[2].str();
    if (target.rfind("http", 0) == 0) continue;
    const fs::path file = fs::path(root) / "docs" / target;
    CHECK_MESSAGE(fs::exists(file), "docs/derivation.md links to ", target, ", which does not exist");
    if (!fs::exists(file)) continue;
    ++file_links;
    if (label.size() < 3 || label.front() != '`' || label.back() != '`') continue;
    label = label.substr(1, label.size() - 2);
    if (fs::is_directory(file)) continue;
    const std::string body = read_text(file.string());
    if (label.find('/') != std::string::npos) continue;  // a file named by its path: existence is enough
    if (label.front() == '"') {  // a test case by its name
      CHECK_MESSAGE(body.find(label) != std::string::npos, "docs/derivation.md names the test ", label, " in ", target,
                    ", which has no such test case");
      ++test_links;
      continue;
    }
    if (label.size() > 2 && label.compare(label.size() - 2, 2, "()") == 0) label.resize(label.size() - 2);
    // A::b → both A and b must be whole words in the file
    size_t start = 0;
    while (true) {
      const size_t sep = label.find("::", start);
      const std::string part = label.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
      const std::regex word("(^|[^A-Za-z0-9_])" + part + "([^A-Za-z0-9_]|$)");
      CHECK_MESSAGE(std::regex_search(body, word), "docs/derivation.md names `", part, "` in ", target,
                    ", which does not contain it");
      if (sep == std::string::npos) break;
      start = sep + 2;
    }
    ++code_links;
  }
  CHECK(code_links >= 30);
  CHECK(test_links >= 15);
  MESSAGE("links: ", file_links, " to files, ", code_links, " to functions/types, ", test_links, " to tests");
}

TEST_CASE("no file of the repository points outside it (the specification lives in docs/derivation.md)") {
  const std::string root = env("CONTRA_SOURCE_ROOT");
  const std::string needle = std::string("shared") + "/docs";  // spelt apart so this file does not match
  std::vector<fs::path> files = {fs::path(root) / "README.md", fs::path(root) / "meson.build"};
  for (const char* dir : {"src", "tests", "tools", "bench", "scripts", "docs", "examples"}) {
    const fs::path d = fs::path(root) / dir;
    if (!fs::exists(d)) continue;
    for (const auto& e : fs::recursive_directory_iterator(d))
      if (e.is_regular_file() && e.file_size() < (1 << 20) && e.path().extension() != ".npy" &&
          e.path().extension() != ".png" && e.path().extension() != ".safetensors")
        files.push_back(e.path());
  }
  int scanned = 0;
  for (const auto& f : files) {
    if (!fs::exists(f)) continue;
    ++scanned;
    const auto ls = lines_of(read_text(f.string()));
    for (size_t i = 0; i < ls.size(); ++i)
      CHECK_MESSAGE(ls[i].find(needle) == std::string::npos, f.string(), ":", i + 1, " points outside the repository: ",
                    ls[i]);
  }
  CHECK(scanned > 50);
}
