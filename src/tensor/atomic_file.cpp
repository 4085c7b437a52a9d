// atomic_file.cpp — temp file + fsync + rename + fsync(dir). See atomic_file.h.
#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "tensor/error.h"

namespace contra {

namespace fs = std::filesystem;

namespace {
std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

}  // namespace

// The one write loop: short writes and EINTR retried, every other failure thrown.
void write_all_to_fd(int fd, const void* data, std::size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, p + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("write", "writing " + path + " failed after " + std::to_string(done) + " bytes: " + errno_text(),
                  errno == ENOSPC ? "the disk is full; free space or choose another directory"
                  : errno == EFBIG ? "the file is over the file-size limit (ulimit -f); raise it or write elsewhere"
                                   : "");
    }
    done += static_cast<std::size_t>(w);
  }
}

void fsync_or_throw(int fd, const std::string& path) {
  if (::fsync(fd) != 0) throw Error("fsync", "fsync of " + path + " failed: " + errno_text(),
                                    "the data may not be on disk; check the disk and write again");
}

void fsync_directory(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error("fsync", "cannot open directory " + dir + ": " + errno_text());
  const int rc = ::fsync(dfd);
  const std::string err = rc != 0 ? errno_text() : "";
  ::close(dfd);
  if (rc != 0) throw Error("fsync", "fsync of directory " + dir + " failed: " + err,
                           "the rename may not be on disk; check the disk and write again");
}

void AtomicWriter::write_all(const void* data, std::size_t n) {
  write_all_to_fd(fd_, data, n, path_);
  written_ += n;
}

void write_file_atomically(const std::string& path, const std::function<void(AtomicWriter&)>& writer) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error("write_file_atomically", "cannot create " + tmp + ": " + errno_text(),
                "check that the directory exists and is writable");
  bool closed = false;
  try {
    AtomicWriter w(fd, tmp);
    writer(w);
    fsync_or_throw(fd, tmp);
    closed = true;
    if (::close(fd) != 0) throw Error("write_file_atomically", "closing " + tmp + " failed: " + errno_text());
  } catch (...) {
    if (!closed) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = errno_text();
    ::unlink(tmp.c_str());
    throw Error("write_file_atomically", "renaming " + tmp + " to " + path + " failed: " + err);
  }
  fsync_directory(parent_dir(path));
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  write_file_atomically(path, [&](AtomicWriter& w) { w.write_all(contents.data(), contents.size()); });
}

int remove_stale_temp_files(const std::string& dir) {
  static const std::regex pattern(R"(.+\.tmp\.[0-9]+)");
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && std::regex_match(name, pattern) && fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(path, std::string("cannot open file: ") + errno_text(), "check the path");
  const std::streamoff size = f.tellg();
  CONTRA_CHECK(size >= 0, path, "cannot determine the file size");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  f.seekg(0);
  if (size > 0 && !f.read(bytes.data(), size)) throw Error(path, "read failed: " + errno_text());
  return bytes;
}

}  // namespace contra
