// md5.cpp — RFC 1321 MD5: 64-byte blocks, four rounds of 16 operations
// a = b + ((a + F(b,c,d) + M[g] + K[i]) <<< s[i]), K[i] = floor(|sin(i+1)| · 2^32).
#include "data/md5.h"

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <memory>
#include <vector>

#include "tensor/error.h"

namespace contra::data {

namespace {
constexpr std::uint32_t kK[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
constexpr int kS[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
inline std::uint32_t rotl(std::uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }
}  // namespace

Md5::Md5() : h_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {}

void Md5::block(const std::uint8_t* p) {
  std::uint32_t m[16];
  for (int i = 0; i < 16; ++i)
    m[i] = std::uint32_t(p[4 * i]) | std::uint32_t(p[4 * i + 1]) << 8 |
           std::uint32_t(p[4 * i + 2]) << 16 | std::uint32_t(p[4 * i + 3]) << 24;
  std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3];
  for (int i = 0; i < 64; ++i) {
    std::uint32_t f;
    int g;
    if (i < 16) { f = (b & c) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
    else { f = c ^ (b | ~d); g = (7 * i) % 16; }
    const std::uint32_t tmp = d;
    d = c;
    c = b;
    b = b + rotl(a + f + kK[i] + m[g], kS[i]);
    a = tmp;
  }
  h_[0] += a; h_[1] += b; h_[2] += c; h_[3] += d;
}

void Md5::update(const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::size_t fill = static_cast<std::size_t>(length_ % 64);
  length_ += n;
  if (fill) {
    const std::size_t take = std::min<std::size_t>(64 - fill, n);
    std::memcpy(buf_.data() + fill, p, take);
    p += take; n -= take; fill += take;
    if (fill < 64) return;
    block(buf_.data());
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  if (n) std::memcpy(buf_.data(), p, n);
}

std::array<std::uint8_t, 16> Md5::digest() {
  const std::uint64_t bits = length_ * 8;
  const std::uint8_t pad0 = 0x80;
  update(&pad0, 1);
  const std::uint8_t zero = 0;
  while (length_ % 64 != 56) update(&zero, 1);
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(bits >> (8 * i));
  update(len, 8);
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(h_[i] >> (8 * j));
  return out;
}

std::string Md5::hex_digest() {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (auto b : digest()) { s += hex[b >> 4]; s += hex[b & 15]; }
  return s;
}

std::string md5_hex(const std::string& bytes) {
  Md5 m;
  m.update(bytes.data(), bytes.size());
  return m.hex_digest();
}

std::string md5_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  CONTRA_CHECK(f != nullptr, "md5", "cannot open ", path, " for reading");
  Md5 m;
  std::vector<char> buf(1 << 20);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) m.update(buf.data(), n);
  CONTRA_CHECK(!std::ferror(f.get()), "md5", "read error in ", path);
  return m.hex_digest();
}

}  // namespace contra::data
