// metrics_log.h — append-only metric logs that survive being killed mid-write.
//
// `metrics.jsonl`: one JSON object per line. Opening an existing log (on resume) trims a
// torn last line (one without its newline, or that does not parse) and drops every entry
// whose step is ≥ the resume step, so the resumed run continues without gaps or duplicates
// (reliability.md L1). Each line is written with a single write() and flushed; fsync is
// issued every `sync_every` lines and on close.
//
// `epochs.csv`: a header line and one row per epoch, handled the same way (rows keyed by
// the first column).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace contra::train {

class JsonlLog {
 public:
  // Opens `path` for appending; entries with entry[key] ≥ keep_below are dropped
  // (pass keep_below < 0 to keep every intact entry).
  JsonlLog(std::string path, const std::string& key = "step", std::int64_t keep_below = -1, int sync_every = 50);
  ~JsonlLog();
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  void append(const nlohmann::json& entry);
  void sync();
  const std::string& path() const { return path_; }

  // Reads every intact entry of a log (for plots and reports).
  static std::vector<nlohmann::json> read(const std::string& path);

 private:
  std::string path_;
  int fd_ = -1;
  int sync_every_ = 50, since_sync_ = 0;
};

class CsvLog {
 public:
  // Keeps rows whose first column (an integer) is < keep_below (all if keep_below < 0).
  CsvLog(std::string path, std::vector<std::string> columns, std::int64_t keep_below = -1);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;
  void append(const std::vector<std::string>& values);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  int fd_ = -1;
};

// Rewrites `path` keeping only the lines for which keep(line) is true, atomically
// (temp file + fsync + rename). A missing file is created empty.
void filter_lines_atomic(const std::string& path, const std::function<bool(const std::string&)>& keep);

}  // namespace contra::train
