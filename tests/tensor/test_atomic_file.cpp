// tensor/atomic_file.h: the one durable-write utility (every writer of the project uses it).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

using namespace contra;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("contra_atomic_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str(const char* name) const { return (path / name).string(); }
};

int files_in(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}
}  // namespace

TEST_CASE("atomic_file: replaces the file whole, and a throwing writer leaves the old one and no temporary") {
  TempDir t;
  const std::string path = t.str("a.txt");
  write_file_atomically(path, std::string("first\n"));
  CHECK(read_file_bytes(path) == "first\n");
  write_file_atomically(path, [](AtomicWriter& w) {
    w.write_all("sec", 3);
    w.write_all("ond\n", 4);
    CHECK(w.bytes_written() == 7);
    CHECK(w.temp_path().find(".tmp.") != std::string::npos);
    CHECK(read_file_bytes(w.temp_path()) == "second\n");  // visible only under the temporary name
  });
  CHECK(read_file_bytes(path) == "second\n");
  CHECK_THROWS_AS(write_file_atomically(path,
                                        [](AtomicWriter& w) {
                                          w.write_all("half", 4);
                                          throw std::runtime_error("writer failed");
                                        }),
                  std::runtime_error);
  CHECK(read_file_bytes(path) == "second\n");
  CHECK(files_in(t.path) == 1);
}

TEST_CASE("atomic_file: failures throw contra::Error naming the file") {
  TempDir t;
  // No such directory: the temporary cannot be created.
  CHECK_THROWS_WITH_AS(write_file_atomically(t.str("missing/x.txt"), std::string("x")),
                       doctest::Contains("missing/x.txt"), Error);
  // A descriptor open for reading only: write(2) fails, the error names the path given.
  const std::string path = t.str("ro.txt");
  write_file_atomically(path, std::string("x"));
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK_THROWS_WITH_AS(write_all_to_fd(fd, "y", 1, path), doctest::Contains("ro.txt"), Error);
  ::close(fd);
  CHECK_THROWS_WITH_AS(fsync_directory(t.str("nowhere")), doctest::Contains("nowhere"), Error);
}

TEST_CASE("atomic_file: stale temporaries of a crash are removed, other files kept") {
  TempDir t;
  write_file_atomically(t.str("keep.tmp"), std::string("a"));
  write_file_atomically(t.str("x.safetensors.tmp.123"), std::string("b"));
  CHECK(remove_stale_temp_files(t.path.string()) == 1);
  CHECK(fs::exists(t.str("keep.tmp")));
  CHECK(!fs::exists(t.str("x.safetensors.tmp.123")));
}
