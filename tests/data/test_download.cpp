// Download and extraction: file:// transfers, checksum/size/HTML failures, 404s,
// interrupted (over-long and truncated) files, hostile archive members, and the whole
// cifar10 path from an archive made here (I3, I4). No network is used.
#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>

#include <cstdlib>

#include "data/cifar_reader.h"
#include "data/dataset_registry.h"
#include "data/download.h"
#include "data/md5.h"
#include "data_test_util.h"

using namespace contra;
using namespace contra::data;
using namespace contra::data::test;

namespace {
struct Member {
  std::string name;
  std::string content;
  enum Kind { file, dir, symlink, hardlink } kind = file;
  std::string target = {};
  std::int64_t declared_size = -1;  // -1 = content size
};

void make_tar_gz(const std::string& path, const std::vector<Member>& members) {
  fs::create_directories(fs::path(path).parent_path());
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_perm(e, 0644);
    if (m.kind == Member::dir) {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
    } else if (m.kind == Member::symlink) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, m.target.c_str());
    } else if (m.kind == Member::hardlink) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, m.target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, m.declared_size >= 0 ? m.declared_size : static_cast<la_int64_t>(m.content.size()));
    }
    archive_write_header(a, e);
    if (m.kind == Member::file && !m.content.empty()) archive_write_data(a, m.content.data(), m.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string cifar10_batch(int records, int label_shift) {
  std::string s;
  for (int r = 0; r < records; ++r) {
    s += static_cast<char>((r + label_shift) % 10);
    for (int p = 0; p < 3072; ++p) s += static_cast<char>((r + p) % 251);
  }
  return s;
}
}  // namespace

TEST_CASE("download: file:// transfer, verified and renamed atomically") {
  TempDir t("dl");
  write_bytes(t.str("src/blob.bin"), std::string(100000, 'x'));
  const std::string md5 = md5_hex(std::string(100000, 'x'));
  const std::string url = "file://" + t.str("src/blob.bin");
  download_file(url, t.str("root/blob.bin"), 100000, md5, false);
  CHECK(read_bytes(t.str("root/blob.bin")) == std::string(100000, 'x'));
  auto no_leftovers = [&] {
    for (const auto& e : fs::directory_iterator(t.str("root")))
      CHECK_MESSAGE(e.path().filename().string().find(".tmp.") == std::string::npos, e.path().string());
  };
  no_leftovers();
  SUBCASE("wrong checksum: expected, actual and URL in the message; nothing kept") {
    check_error([&] { download_file(url, t.str("root/b2.bin"), 100000, std::string(32, '0'), false); },
                {"MD5 " + md5, "expected " + std::string(32, '0'), url});
    CHECK(!fs::exists(t.str("root/b2.bin")));
    no_leftovers();
  }
  SUBCASE("an HTML page instead of the archive") {
    write_bytes(t.str("src/page.html"), "<!DOCTYPE html><html><body>Moved</body></html>");
    check_error([&] { download_file("file://" + t.str("src/page.html"), t.str("root/b3.bin"), 0, md5, false); },
                {"HTML page", "expected " + md5});
    CHECK(!fs::exists(t.str("root/b3.bin")));
  }
  SUBCASE("truncated transfer (too few bytes)") {
    write_bytes(t.str("src/short.bin"), std::string(5000, 'x'));
    check_error([&] { download_file("file://" + t.str("src/short.bin"), t.str("root/b4.bin"), 100000, md5, false); },
                {"5000 bytes", "expected 100000"});
    CHECK(!fs::exists(t.str("root/b4.bin")));
    no_leftovers();
  }
  SUBCASE("more bytes than expected aborts the transfer") {
    write_bytes(t.str("src/long.bin"), std::string(200000, 'x'));
    check_error([&] { download_file("file://" + t.str("src/long.bin"), t.str("root/b5.bin"), 100000, md5, false); },
                {"more than the expected 100000 bytes"});
    no_leftovers();
  }
  SUBCASE("404 / missing source") {
    check_error([&] { download_file("file://" + t.str("src/none.bin"), t.str("root/b6.bin"), 0, md5, false); },
                {"none.bin", "failed"});
    CHECK(!fs::exists(t.str("root/b6.bin")));
  }
}

TEST_CASE("extract: hostile members are rejected and nothing is left behind (I4)") {
  TempDir t("ex");
  const std::string root = t.str("root");
  auto expect_rejected = [&](const std::vector<Member>& members, std::initializer_list<std::string> needles) {
    make_tar_gz(t.str("a.tar.gz"), members);
    check_error([&] { extract_archive(t.str("a.tar.gz"), root); }, needles);
    // Nothing outside the data folder, nothing left inside it.
    CHECK(!fs::exists(t.str("evil.txt")));
    CHECK(!fs::exists("/tmp/contra_evil_abs.txt"));
    if (fs::exists(root)) CHECK(fs::is_empty(root));
  };
  SUBCASE("a good archive extracts") {
    make_tar_gz(t.str("ok.tar.gz"), {{"d/", "", Member::dir}, {"d/x.txt", "hello"}, {"d/sub/y.txt", "world"}});
    extract_archive(t.str("ok.tar.gz"), root);
    CHECK(read_bytes(t.str("root/d/x.txt")) == "hello");
    CHECK(read_bytes(t.str("root/d/sub/y.txt")) == "world");
    CHECK(std::distance(fs::directory_iterator(root), fs::directory_iterator()) == 1);
    // Extracting again does not overwrite.
    check_error([&] { extract_archive(t.str("ok.tar.gz"), root); }, {"already exists"});
  }
  SUBCASE("../ escape") {
    expect_rejected({{"d/ok.txt", "fine"}, {"d/../../evil.txt", "x"}}, {"'..'", "evil.txt"});
  }
  SUBCASE("absolute path") {
    expect_rejected({{"/tmp/contra_evil_abs.txt", "x"}}, {"absolute"});
  }
  SUBCASE("symlink") {
    expect_rejected({{"d/link", "", Member::symlink, "/etc/passwd"}}, {"link or special file", "d/link"});
  }
  SUBCASE("hard link") {
    expect_rejected({{"d/a.txt", "a"}, {"d/b.txt", "", Member::hardlink, "d/a.txt"}}, {"link"});
  }
  SUBCASE("oversize member") {
    make_tar_gz(t.str("big.tar.gz"), {{"d/big.bin", std::string(5000, 'b')}});
    ExtractLimits lim;
    lim.max_member_bytes = 4096;
    check_error([&] { extract_archive(t.str("big.tar.gz"), root, lim); }, {"d/big.bin", "5000 bytes", "4096"});
    lim.max_member_bytes = 1 << 20;
    lim.max_total_bytes = 4096;
    check_error([&] { extract_archive(t.str("big.tar.gz"), root, lim); }, {"size limit"});
    if (fs::exists(root)) CHECK(fs::is_empty(root));
  }
  SUBCASE("corrupt archive") {
    make_tar_gz(t.str("c.tar.gz"), {{"d/x.bin", std::string(300000, 'q')}});
    std::string bytes = read_bytes(t.str("c.tar.gz"));
    write_bytes(t.str("c.tar.gz"), bytes.substr(0, bytes.size() / 2));
    check_error([&] { extract_archive(t.str("c.tar.gz"), root); }, {"c.tar.gz"});
    if (fs::exists(root)) CHECK(fs::is_empty(root));
  }
}

TEST_CASE("cifar10 end to end from a file:// archive, and the offline message") {
  TempDir t("cifar_dl");
  std::vector<Member> members = {{"cifar-10-batches-bin/", "", Member::dir}};
  for (int i = 1; i <= 5; ++i)
    members.push_back({"cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin", cifar10_batch(10000, i)});
  members.push_back({"cifar-10-batches-bin/test_batch.bin", cifar10_batch(10000, 0)});
  members.push_back({"cifar-10-batches-bin/batches.meta.txt", "airplane\n"});
  make_tar_gz(t.str("srv/cifar-10-binary.tar.gz"), members);
  const std::string archive = t.str("srv/cifar-10-binary.tar.gz");
  RemoteArchive remote = cifar10_archive();
  remote.url = "file://" + archive;
  remote.size = fs::file_size(archive);
  remote.md5 = md5_file(archive);
  DatasetOptions o;
  o.root = t.str("data");
  o.archive = remote;
  o.download.progress = false;

  SUBCASE("downloads, verifies, extracts, reads; the second open uses the files") {
    const DatasetSplits s = open_dataset("cifar10", o);
    CHECK(s.train.size() == 50000);
    CHECK(s.test.size() == 10000);
    CHECK(s.train.labels[0] == 1);       // batch 1, record 0: (0 + 1) % 10
    CHECK(s.train.labels[10000] == 2);   // batch 2
    CHECK(s.train.image(3)[5] == 8);     // (3 + 5) % 251
    CHECK(fs::exists(t.str("data/cifar-10-binary.tar.gz")));
    o.archive->url = "file://" + t.str("srv/gone.tar.gz");  // would fail if it were fetched
    const DatasetSplits again = open_dataset("cifar10_lt", o);
    CHECK(again.train.size() == 12406);  // LDAM ratio 100 on 5000 per class
    CHECK(again.test.size() == 10000);
    CHECK(again.train.manifest_json.find("\"total\":12406") != std::string::npos);
  }
  SUBCASE("a wrong checksum extracts nothing") {
    o.archive->md5 = std::string(32, 'f');
    check_error([&] { open_dataset("cifar10", o); }, {"expected " + std::string(32, 'f'), "put it at"});
    CHECK(!fs::exists(t.str("data/cifar-10-batches-bin")));
    CHECK(!fs::exists(t.str("data/cifar-10-binary.tar.gz")));
  }
  SUBCASE("offline: says what to download and where to put it") {
    o.download.allow_download = false;
    check_error([&] { open_dataset("cifar10", o); },
                {"downloading is disabled", "cifar-10-binary.tar.gz", remote.md5, t.str("data")});
    o.download.allow_download = true;
    ::setenv("CONTRA_OFFLINE", "1", 1);
    check_error([&] { open_dataset("cifar10", o); }, {"CONTRA_OFFLINE"});
    ::unsetenv("CONTRA_OFFLINE");
  }
  SUBCASE("an archive placed by hand is verified before use") {
    write_bytes(t.str("data/cifar-10-binary.tar.gz"), "<html>not it</html>");
    check_error([&] { open_dataset("cifar10", o); }, {"HTML page", "delete"});
    CHECK(!fs::exists(t.str("data/cifar-10-batches-bin")));
  }
  SUBCASE("a truncated batch file already in place is reported with sizes (I1)") {
    fs::create_directories(t.str("data/cifar-10-batches-bin"));
    for (int i = 1; i <= 5; ++i)
      write_bytes(t.str("data/cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"), cifar10_batch(10000, 0));
    write_bytes(t.str("data/cifar-10-batches-bin/test_batch.bin"), cifar10_batch(9999, 0));
    check_error([&] { open_dataset("cifar10", o); }, {"test_batch.bin", "30726927 bytes (9999 records)", "expected 30730000"});
  }
}

TEST_CASE("extract: members written as ./top/b (tar -C dir .) extract into top/ (issue 13.9)") {
  TempDir t("dot");
  const std::string root = t.str("root");
  make_tar_gz(t.str("dot.tar.gz"), {{"./", "", Member::dir},
                                    {"./top/", "", Member::dir},
                                    {"./top/b", "bee"},
                                    {"./top/./sub/c", "sea"},
                                    {"./README", "readme"}});
  extract_archive(t.str("dot.tar.gz"), root);
  CHECK(read_bytes(t.str("root/top/b")) == "bee");
  CHECK(read_bytes(t.str("root/top/sub/c")) == "sea");
  CHECK(read_bytes(t.str("root/README")) == "readme");
  // Nothing is left in a staging folder.
  for (const auto& e : fs::directory_iterator(root))
    CHECK_MESSAGE(e.path().filename().string().rfind(".extract-", 0) != 0, e.path());
}

TEST_CASE("extract: libarchive errors without a message do not crash (found by fuzz_archive)") {
  // A gzip stream libarchive fails on without an error string: building the message from
  // archive_error_string()'s NULL once crashed.
  const unsigned char bytes[] = {
      0x1f, 0x8b, 0x08, 0x00, 0xa9, 0xe2, 0x0e, 0x6b, 0x00, 0x03, 0xed, 0xd4, 0x41, 0x0a, 0x85, 0x20, 0x10, 0x06, 0xe0,
      0x8e, 0xe2, 0x09, 0x74, 0xa4, 0x74, 0xce, 0xa3, 0xd0, 0xa2, 0x4d, 0x3d, 0x6a, 0x82, 0x8e, 0xff, 0x46, 0x5a, 0x25,
      0x44, 0x41, 0x98, 0x3c, 0xde, 0x7c, 0x1b, 0x0d, 0x41, 0xc7, 0x7e, 0x46, 0x9a, 0x3e, 0xa6, 0x29, 0x0c, 0x00, 0xd0,
      0x39, 0x95, 0x46, 0x96, 0x8f, 0xfb, 0xc7, 0x71, 0x8e, 0xe8, 0xb1, 0x51, 0xae, 0x74, 0x61, 0xc9, 0xba, 0x50, 0x98,
      0xb9, 0x94, 0xa7, 0xfb, 0xe4, 0x97, 0xfb, 0x11, 0xc4, 0xf9, 0x07, 0x1d, 0x87, 0xb1, 0xe0, 0x19, 0xfc, 0x3f, 0x7c,
      0xd7, 0x9d, 0xe7, 0x6f, 0x79, 0xf1, 0x8e, 0xbf, 0x05, 0xe4, 0x40, 0xd4, 0xe3, 0x4c, 0xee, 0xf8, 0xf3, 0xfc, 0xc3,
      0x0b, 0x6a, 0xdf, 0x51, 0x9c, 0xd3, 0x26, 0xbd, 0x00, 0xcb, 0x1a, 0x4d, 0xd4, 0xb4, 0x51, 0x91, 0x33, 0xae, 0xfa,
      0x1f, 0xa0, 0xcd, 0xfa, 0xdf, 0x7a, 0x94, 0xfe, 0x7f, 0x45, 0xec, 0xfb, 0xda, 0x25, 0x08, 0x21, 0x84, 0x21, 0x84,
      0xa8, 0xe0, 0x0b, 0xac, 0x87, 0x00, 0x0e, 0x00, 0x00};
  TempDir t("noerr");
  write_bytes(t.str("x.tar.gz"), std::string(reinterpret_cast<const char*>(bytes), sizeof bytes));
  try {
    extract_archive(t.str("x.tar.gz"), t.str("root"));
  } catch (const contra::Error& e) {
    CHECK(std::string(e.what()).find("x.tar.gz") != std::string::npos);
  }
  if (fs::exists(t.str("root")))
    for (const auto& m : fs::directory_iterator(t.str("root")))
      CHECK_MESSAGE(m.path().filename().string().rfind(".extract-", 0) != 0, m.path());
}
