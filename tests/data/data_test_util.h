// data_test_util.h — helpers shared by the data tests: scratch folders, byte files,
// hand-made PNG/gzip/tar files, and a check that an error message mentions things.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace contra::data::test {

namespace fs = std::filesystem;

// A fresh folder under /tmp, removed when the object goes.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() /
           ("contra_data_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
  std::string str(const std::string& rel = "") const { return rel.empty() ? path.string() : (path / rel).string(); }
  static int& counter() { static int c = 0; return c; }
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile g = gzopen(path.c_str(), "wb");
  REQUIRE(g != nullptr);
  REQUIRE(gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(g);
}

// Runs `f`, requires a contra::Error whose message contains every needle.
template <typename F>
void check_error(F&& f, std::initializer_list<std::string> needles) {
  bool threw = false;
  try {
    f();
  } catch (const contra::Error& e) {
    threw = true;
    const std::string msg = e.what();
    for (const auto& n : needles) {
      INFO("message: " << msg);
      CHECK_MESSAGE(msg.find(n) != std::string::npos, "missing '" << n << "'");
    }
  }
  CHECK_MESSAGE(threw, "expected a contra::Error");
}

// --- PNG built by hand (any bit depth / colour type), so odd PNGs can be tested ------
inline void put_u32(std::string& s, std::uint32_t v) {
  s += static_cast<char>(v >> 24); s += static_cast<char>(v >> 16);
  s += static_cast<char>(v >> 8); s += static_cast<char>(v);
}
inline void png_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  std::string td = std::string(type, 4) + data;
  out += td;
  put_u32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))));
}
// `rows`: the raw scanlines without filter bytes (filter 0 is added).
inline std::string make_png(std::uint32_t w, std::uint32_t h, int bit_depth, int color_type,
                            const std::string& rows, const std::string& palette = {}) {
  std::string out = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_u32(ihdr, w); put_u32(ihdr, h);
  ihdr += static_cast<char>(bit_depth); ihdr += static_cast<char>(color_type);
  ihdr += '\0'; ihdr += '\0'; ihdr += '\0';
  png_chunk(out, "IHDR", ihdr);
  if (!palette.empty()) png_chunk(out, "PLTE", palette);
  std::string raw;
  const std::size_t stride = h ? rows.size() / h : 0;
  for (std::uint32_t y = 0; y < h; ++y) { raw += '\0'; raw += rows.substr(y * stride, stride); }
  uLongf n = compressBound(static_cast<uLong>(raw.size()));
  std::string z(n, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  z.resize(n);
  png_chunk(out, "IDAT", z);
  png_chunk(out, "IEND", "");
  return out;
}

}  // namespace contra::data::test

// --- a child process with a small address space (RLIMIT_AS), for "never allocates from an
// unchecked header" tests. Skipped under AddressSanitizer, which reserves terabytes of
// address space for its shadow memory.
#if defined(__SANITIZE_ADDRESS__)
#define CONTRA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONTRA_TEST_ASAN 1
#endif
#endif
#include <sys/resource.h>
#include <sys/wait.h>

#include <new>

namespace contra::data::test {

constexpr bool kAddressSanitizer =
#ifdef CONTRA_TEST_ASAN
    true;
#else
    false;
#endif

// Runs f() in a forked child limited to `bytes` of address space. Returns 0 when f returned,
// 10 when it threw contra::Error, 11 on std::bad_alloc, 12 on anything else.
template <typename F>
int run_with_address_limit(std::uint64_t bytes, F&& f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit rl {bytes, bytes};
    ::setrlimit(RLIMIT_AS, &rl);
    try {
      f();
      ::_exit(0);
    } catch (const contra::Error&) {
      ::_exit(10);
    } catch (const std::bad_alloc&) {
      ::_exit(11);
    } catch (...) {
      ::_exit(12);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace contra::data::test
