// download.h — fetching, verifying and unpacking dataset archives (I3, I4).
//
// Order of operations, each step leaving nothing half-written:
//   1. libcurl downloads into `<dest>.tmp.<pid>` (tensor/atomic_file.h) (progress on stderr; HTTP errors, stalls
//      and over-long bodies abort the transfer);
//   2. the size and the MD5 of the temporary file are checked against the published values
//      (an HTML page, a truncated transfer or a wrong file fails here, with expected,
//      actual and the URL in the message), and only then is it renamed to `<dest>`;
//   3. libarchive unpacks into a fresh staging folder inside the data root, rejecting
//      members with absolute paths, `..` components, links, devices, or sizes over the
//      limits; the staging folder is deleted on any error, and renamed into place on success.
// Offline (CONTRA_OFFLINE=1 or DownloadOptions::allow_download = false), or when a step
// fails, the error says which file to fetch, its checksum, and where to put it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace contra::data {

struct RemoteArchive {
  std::string url;                          // https://, http:// or file://
  std::string file_name;                    // the archive's name inside the data root
  std::uint64_t size = 0;                   // bytes; 0 = unknown (MD5 still checked)
  std::string md5;                          // lower-case hex
  std::vector<std::string> required_files;  // relative to the root; all present = done
};

struct ExtractLimits {
  std::uint64_t max_member_bytes = 1ull << 30;
  std::uint64_t max_total_bytes = 4ull << 30;
  std::uint64_t max_members = 100000;
};

struct DownloadOptions {
  bool allow_download = true;  // CONTRA_OFFLINE=1 in the environment also forbids it
  bool progress = true;
  ExtractLimits limits;
};

// Downloads `url` to `dest` (temporary file, verify, atomic rename). Throws contra::Error.
void download_file(const std::string& url, const std::string& dest, std::uint64_t expected_size,
                   const std::string& expected_md5, bool progress);

// Throws unless `path` has `expected_size` bytes (when non-zero) and MD5 `expected_md5`.
void verify_file(const std::string& path, std::uint64_t expected_size,
                 const std::string& expected_md5, const std::string& origin);

// Unpacks a tar/tar.gz/zip archive into `dest_dir` with the checks above.
void extract_archive(const std::string& archive, const std::string& dest_dir,
                     const ExtractLimits& limits = {});

// Makes sure `root` holds the archive's `required_files`: uses them when present, else
// verifies and extracts `root/file_name` when present, else downloads it (if allowed).
void ensure_archive(const RemoteArchive& archive, const std::string& root,
                    const DownloadOptions& options = {});

}  // namespace contra::data
