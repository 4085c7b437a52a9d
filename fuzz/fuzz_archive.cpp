// fuzz_archive — archive extraction (tar, tar.gz, zip through libarchive) with the guards
// against `..`, absolute paths, links, special files and oversize members. The property
// checked beyond "no crash": nothing is ever written outside the destination folder.
#include <unistd.h>

#include <filesystem>

#include "data/download.h"
#include "fuzz_common.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path base = fs::temp_directory_path() / ("contra-fuzz-archive-" + std::to_string(::getpid()));
  static const fs::path root = base / "root";
  std::error_code ec;
  fs::create_directories(base, ec);
  const std::string archive = contra_fuzz::as_file(data, size);
  contra::data::ExtractLimits limits;
  limits.max_member_bytes = 1 << 20;
  limits.max_total_bytes = 4 << 20;
  limits.max_members = 1000;
  contra_fuzz::accepts([&] { contra::data::extract_archive(archive, root.string(), limits); });
  for (const auto& e : fs::directory_iterator(base, ec))
    if (e.path() != root) std::abort();  // written outside the destination
  fs::remove_all(root, ec);
  return 0;
}
