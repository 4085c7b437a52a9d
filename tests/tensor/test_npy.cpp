// .npy reading and writing: round trips and hostile files.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tensor/npy.h"

using namespace contra;

namespace {
std::string tmp_path(const char* name) { return std::string("/tmp/contra_test_") + name; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string npy_bytes(const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + std::string(data_bytes, '\0');
}
}  // namespace

TEST_CASE("npy round trip for every dtype") {
  const std::string p = tmp_path("rt.npy");
  Tensor f = Tensor::from_vector<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3});
  save_npy(p, f);
  Tensor g = load_npy(p);
  CHECK(g.shape() == Shape{2, 3});
  CHECK(g.to_vector<float>() == f.to_vector<float>());
  save_npy(p, Tensor::from_vector<double>({0.1, 0.2}, {2}));
  CHECK(load_npy(p).to_vector<double>() == std::vector<double>{0.1, 0.2});
  save_npy(p, Tensor::from_vector<std::int64_t>({-3, 9}, {1, 2}));
  CHECK(load_npy(p).to_vector<std::int64_t>() == std::vector<std::int64_t>{-3, 9});
  save_npy(p, Tensor::from_vector<std::uint8_t>({255}, {1}));
  CHECK(load_npy(p).to_vector<std::uint8_t>() == std::vector<std::uint8_t>{255});
  std::remove(p.c_str());
}

TEST_CASE("npy: hostile and malformed files are rejected with the file named") {
  const std::string p = tmp_path("bad.npy");
  write_bytes(p, "not a numpy file at all");
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("bad magic"), Error);
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20));
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("needs 24"), Error);
  write_bytes(p, npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8));
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("unsupported dtype"), Error);
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", 0));
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("too large"), Error);
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16));
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("Fortran"), Error);
  write_bytes(p, std::string("\x93NUMPY\x01\x00\xff\x7f", 10));
  CHECK_THROWS_WITH_AS(load_npy(p), doctest::Contains("past the end"), Error);
  CHECK_THROWS_WITH_AS(load_npy("/nonexistent/x.npy"), doctest::Contains("cannot open"), Error);
  std::remove(p.c_str());
}

TEST_CASE("npy: the header as written (int32 is named int32), long headers and parse_npy from memory") {
  const std::string dir = "/tmp/contra_npy_info_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto npy = [](const std::string& header_dict, const std::string& data) {
    std::string h = header_dict;
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size() & 0xff) + static_cast<char>(h.size() >> 8) +
           h + data;
  };
  const std::string i32 = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", std::string(16, '\1'));
  std::ofstream(dir + "/i.npy", std::ios::binary) << i32;
  const NpyInfo info = read_npy_info(dir + "/i.npy");
  CHECK(info.descr == "<i4");
  CHECK(info.dtype == "int32");
  CHECK(info.shape == Shape{2, 2});
  const Tensor t = parse_npy(i32, "mem");
  CHECK(t.dtype() == DType::i64);
  CHECK(t.to_vector<std::int64_t>() == std::vector<std::int64_t>(4, 0x01010101));
  // A 60 KB header (a long padded dict) parses without recursion; a 60 KB bogus shape is
  // refused with the text cut short.
  std::string padded = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), " + std::string(60000, ' ') + "}";
  CHECK(parse_npy(npy(padded, std::string(4, '\0')), "mem").shape() == Shape{1});
  const std::string junk = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(60000, 'x') + "), }", "");
  try {
    parse_npy(junk, "junk.npy");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("junk.npy") != std::string::npos);
    CHECK(std::string(e.what()).size() < 400);
  }
  std::filesystem::remove_all(dir);
}
