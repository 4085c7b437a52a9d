// atomic_file.h — durable, all-or-nothing file replacement (reliability.md C1, C3).
//
// write_file_atomically(path, writer): creates a temporary file beside `path`
// ("<path>.tmp.<pid>"), lets `writer` fill it through write_all(), fsyncs it, renames it over
// `path` and fsyncs the directory. Any failure (disk full, permission, a throwing writer)
// removes the temporary file and throws contra::Error naming the path and errno text; the
// previous file at `path` is untouched. A crash leaves at most a stale "*.tmp.<pid>" file,
// which remove_stale_temp_files(dir) deletes on the next start.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace contra::nn {

class AtomicWriter {
 public:
  // Writes all `n` bytes (retrying short writes and EINTR); throws on error.
  void write_all(const void* data, std::size_t n);
  std::size_t bytes_written() const { return written_; }

 private:
  friend void write_file_atomically(const std::string&, const std::function<void(AtomicWriter&)>&);
  AtomicWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::size_t written_ = 0;
};

void write_file_atomically(const std::string& path, const std::function<void(AtomicWriter&)>& writer);
void write_file_atomically(const std::string& path, const std::string& contents);

// Deletes "<anything>.tmp.<digits>" files in `dir` (left by a crash mid-write); returns
// how many were removed.
int remove_stale_temp_files(const std::string& dir);

// Reads a whole file; throws contra::Error naming the path when it cannot.
std::string read_file_bytes(const std::string& path);

}  // namespace contra::nn
