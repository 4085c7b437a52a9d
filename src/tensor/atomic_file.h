// atomic_file.h — durable file writes for every writer of the project (reliability.md C1, C3):
// checkpoints, .npy arrays, downloads, metric logs, manifests, results, reports.
//
// write_file_atomically(path, writer): creates a temporary file beside `path`
// ("<path>.tmp.<pid>"), lets `writer` fill it through write_all(), fsyncs it, renames it over
// `path` and fsyncs the directory. Any failure (disk full, permission, a throwing writer)
// removes the temporary file and throws contra::Error naming the path and errno text; the
// previous file at `path` is untouched. A crash leaves at most a stale "*.tmp.<pid>" file,
// which remove_stale_temp_files(dir) deletes on the next start.
//
// The one rule for durability failures: a failed write, fsync (of a file or of its
// directory) or rename throws contra::Error naming the file and the errno text. A file
// whose fsync failed may not be on disk, so no writer reports success after one. The only
// exception is a destructor (it cannot throw): it fsyncs best-effort, and the owner calls
// the throwing sync() first when durability matters (JsonlLog, CsvLog).
//
// It lives in the tensor layer, the lowest one that writes files (save_npy); nn, data and
// train use it from there.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace contra {

class AtomicWriter {
 public:
  // Writes all `n` bytes (retrying short writes and EINTR); throws on error.
  void write_all(const void* data, std::size_t n);
  std::size_t bytes_written() const { return written_; }
  // The temporary file being written (renamed over the target when the writer returns):
  // for checks that read the bytes back before they replace anything (download's MD5).
  const std::string& temp_path() const { return path_; }

 private:
  friend void write_file_atomically(const std::string&, const std::function<void(AtomicWriter&)>&);
  AtomicWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::size_t written_ = 0;
};

void write_file_atomically(const std::string& path, const std::function<void(AtomicWriter&)>& writer);
void write_file_atomically(const std::string& path, const std::string& contents);

// The building blocks, for writers that append (metric logs) or stream into files they
// rename themselves (archive extraction). Each throws contra::Error naming `path`.
void write_all_to_fd(int fd, const void* data, std::size_t n, const std::string& path);
void fsync_or_throw(int fd, const std::string& path);
void fsync_directory(const std::string& dir);

// Deletes "<anything>.tmp.<digits>" files in `dir` (left by a crash mid-write); returns
// how many were removed.
int remove_stale_temp_files(const std::string& dir);

// Reads a whole file; throws contra::Error naming the path when it cannot.
std::string read_file_bytes(const std::string& path);

}  // namespace contra
