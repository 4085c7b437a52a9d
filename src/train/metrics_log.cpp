#include "train/metrics_log.h"


#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace contra::train {

namespace {

void write_all(int fd, const std::string& s, const std::string& path) { write_all_to_fd(fd, s.data(), s.size(), path); }

// Splits file contents into complete lines; a last line without '\n' is torn and dropped.
std::vector<std::string> complete_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::string> lines;
  if (!f) return lines;
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string all = ss.str();
  size_t start = 0;
  while (true) {
    const size_t nl = all.find('\n', start);
    if (nl == std::string::npos) break;
    lines.push_back(all.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

int open_append(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  CONTRA_CHECK_HINT(fd >= 0, "metrics log", "check that the run directory is writable", "cannot open ", path);
  return fd;
}

}  // namespace

void filter_lines_atomic(const std::string& path, const std::function<bool(const std::string&)>& keep) {
  std::string out;
  for (const auto& l : complete_lines(path))
    if (keep(l)) out += l + "\n";
  write_file_atomically(path, out);
}

JsonlLog::JsonlLog(std::string path, const std::string& key, std::int64_t keep_below, int sync_every)
    : path_(std::move(path)), sync_every_(sync_every) {
  filter_lines_atomic(path_, [&](const std::string& line) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return false;
    if (keep_below >= 0 && j.contains(key) && j[key].is_number() && j[key].get<std::int64_t>() >= keep_below)
      return false;
    return true;
  });
  fd_ = open_append(path_);
}

// Best-effort fsync (a destructor cannot throw, atomic_file.h); sync() is the checked one.
JsonlLog::~JsonlLog() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

void JsonlLog::append(const nlohmann::json& entry) {
  // One write() per line: a kill leaves at most one torn line, trimmed on the next open.
  write_all(fd_, entry.dump() + "\n", path_);
  if (++since_sync_ >= sync_every_) sync();
}

void JsonlLog::sync() {
  fsync_or_throw(fd_, path_);
  since_sync_ = 0;
}

std::vector<nlohmann::json> JsonlLog::read(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& line : complete_lines(path)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

CsvLog::CsvLog(std::string path, std::vector<std::string> columns, std::int64_t keep_below)
    : path_(std::move(path)), columns_(std::move(columns)) {
  std::string header;
  for (size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + columns_[i];
  bool have_header = false;
  filter_lines_atomic(path_, [&](const std::string& line) {
    if (line == header) {
      const bool first = !have_header;
      have_header = true;
      return first;
    }
    // Data rows: keep only rows with the right column count and a first column < keep_below.
    size_t commas = 0;
    for (char c : line) commas += c == ',';
    if (commas + 1 != columns_.size()) return false;
    try {
      const std::int64_t k = std::stoll(line.substr(0, line.find(',')));
      return keep_below < 0 || k < keep_below;
    } catch (...) {
      return false;
    }
  });
  fd_ = open_append(path_);
  if (!have_header) {
    // Rewrite with the header first (rows without a header are from a foreign file: dropped).
    ::close(fd_);
    filter_lines_atomic(path_, [](const std::string&) { return false; });
    fd_ = open_append(path_);
    write_all(fd_, header + "\n", path_);
  }
}

// Best-effort, like ~JsonlLog: append() has already fsynced every row.
CsvLog::~CsvLog() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

void CsvLog::append(const std::vector<std::string>& values) {
  CONTRA_ASSERT(values.size() == columns_.size(), "csv row has ", values.size(), " values for ", columns_.size(),
                " columns");
  std::string row;
  for (size_t i = 0; i < values.size(); ++i) row += (i ? "," : "") + values[i];
  write_all(fd_, row + "\n", path_);
  fsync_or_throw(fd_, path_);
}

}  // namespace contra::train
