// md5.h — MD5 message digest (RFC 1321), used only to verify downloaded archives.
//
// Implemented here (one small file, checked against the RFC 1321 test vectors in
// tests/data) so the data layer needs no OpenSSL. MD5 is not a security measure here: it
// detects truncated, corrupted or wrong files, matching the checksums datasets publish.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace contra::data {

class Md5 {
 public:
  Md5();
  void update(const void* data, std::size_t n);
  std::array<std::uint8_t, 16> digest();  // finishes; the object must not be updated after
  std::string hex_digest();               // lower-case, 32 characters

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 4> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::uint64_t length_ = 0;  // bytes seen
};

std::string md5_hex(const std::string& bytes);
// MD5 of a file's contents; throws naming the file when it cannot be read.
std::string md5_file(const std::string& path);

}  // namespace contra::data
