// download.cpp — libcurl transfer, verification, guarded libarchive extraction.
#include "data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include "data/md5.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace contra::data {

namespace fs = std::filesystem;

namespace {
const char* kWhere = "download";

bool offline_env() {
  const char* s = std::getenv("CONTRA_OFFLINE");
  return s && *s && std::string(s) != "0";
}

struct Transfer {
  AtomicWriter* out = nullptr;
  std::exception_ptr write_error;  // thrown by out->write_all inside curl's C callback, rethrown after it
  std::uint64_t written = 0;
  std::uint64_t limit = 0;  // abort above this many bytes (0 = none)
  bool too_long = false;
  bool progress = false;
  std::chrono::steady_clock::time_point last;
  std::string label;
};

std::size_t on_data(char* p, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t bytes = size * n;
  if (t->limit && t->written + bytes > t->limit) {
    t->too_long = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  try {  // no exception may cross curl's C frames: keep it, fail the transfer, rethrow later
    t->out->write_all(p, bytes);
  } catch (...) {
    t->write_error = std::current_exception();
    return 0;
  }
  t->written += bytes;
  return bytes;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->progress) return 0;
  const auto tnow = std::chrono::steady_clock::now();
  if (tnow - t->last < std::chrono::seconds(1) && !(total > 0 && now == total)) return 0;
  t->last = tnow;
  if (total > 0)
    std::fprintf(stderr, "\r%s: %.1f / %.1f MB (%.0f%%)", t->label.c_str(), now / 1e6, total / 1e6,
                 100.0 * static_cast<double>(now) / static_cast<double>(total));
  else
    std::fprintf(stderr, "\r%s: %.1f MB", t->label.c_str(), now / 1e6);
  std::fflush(stderr);
  return 0;
}

bool looks_like_html(const std::string& path) {
  char head[512] = {};
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return false;
  const std::size_t n = std::fread(head, 1, sizeof head - 1, f.get());
  std::string s(head, n);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s.find("<!doctype html") != std::string::npos || s.find("<html") != std::string::npos;
}

// libarchive's message for the last error; it may be NULL (found by fuzz/fuzz_archive: a
// std::string built from it crashed).
std::string archive_error_text(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? abbreviate(s, 300) : "unknown error (libarchive gave no message)";
}

// A member's path without "." components and without a trailing slash: "./top/b" → "top/b",
// "top/./b/" → "top/b", "." or "./" → "" (the archive's root, nothing to create).
fs::path member_relative_path(const std::string& name) {
  fs::path out;
  for (const auto& part : fs::path(name))
    if (!part.empty() && part != ".") out /= part;
  return out;
}

// One libcurl transfer of `url` into `out` (HTTP errors, stalls and bodies over
// `expected_size` fail it); throws naming the URL and the bytes received.
void fetch_into(AtomicWriter& out, const std::string& url, std::uint64_t expected_size, bool progress,
                const std::string& label) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Transfer t;
  t.out = &out;
  t.limit = expected_size ? expected_size : 0;
  t.progress = progress;
  t.label = label;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (progress) std::fprintf(stderr, "\n");
  if (t.write_error) std::rethrow_exception(t.write_error);
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (t.too_long) why = "the server sent more than the expected " + std::to_string(expected_size) + " bytes";
    throw Error(kWhere, "fetching " + url + " failed: " + why + " (" + std::to_string(t.written) +
                            " bytes received, nothing kept)");
  }
}

std::string manual_hint(const RemoteArchive& a, const std::string& root) {
  std::string s = "download " + a.url;
  if (!a.md5.empty()) s += " (MD5 " + a.md5;
  if (a.size) s += ", " + std::to_string(a.size) + " bytes";
  if (!a.md5.empty()) s += ")";
  s += " and put it at " + (fs::path(root) / a.file_name).string();
  if (!a.required_files.empty())
    s += ", or unpack it so that " + (fs::path(root) / a.required_files[0]).string() + " exists";
  return s;
}
}  // namespace

void verify_file(const std::string& path, std::uint64_t expected_size,
                 const std::string& expected_md5, const std::string& origin) {
  std::error_code ec;
  const std::uint64_t size = fs::file_size(path, ec);
  CONTRA_CHECK(!ec, kWhere, "cannot stat ", path, ": ", ec.message());
  const std::string html = looks_like_html(path) ? " (the file is an HTML page, not the archive)" : "";
  CONTRA_CHECK_HINT(expected_size == 0 || size == expected_size, kWhere,
                    "the transfer was interrupted or the server sent something else; delete it and retry",
                    path, " from ", origin, " has ", size, " bytes, expected ", expected_size, html);
  if (!expected_md5.empty()) {
    const std::string got = md5_file(path);
    CONTRA_CHECK_HINT(got == expected_md5, kWhere,
                      "the file is corrupt or a different version; delete it and retry", path,
                      " from ", origin, " has MD5 ", got, ", expected ", expected_md5, html);
  }
}

void download_file(const std::string& url, const std::string& dest, std::uint64_t expected_size,
                   const std::string& expected_md5, bool progress) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::error_code ec;
  fs::create_directories(fs::path(dest).parent_path(), ec);
  // Written to "<dest>.tmp.<pid>", verified there, renamed over `dest` only when it passed.
  write_file_atomically(dest, [&](AtomicWriter& w) {
    fetch_into(w, url, expected_size, progress, fs::path(dest).filename().string());
    verify_file(w.temp_path(), expected_size, expected_md5, url);
  });
}

void extract_archive(const std::string& archive_path, const std::string& dest_dir,
                     const ExtractLimits& limits) {
  const std::string where = "extract";
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  const fs::path staging = fs::path(dest_dir) / (".extract-" + std::to_string(::getpid()) + "-" +
                                                 fs::path(archive_path).filename().string());
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  CONTRA_CHECK(!ec, where, "cannot create ", staging.string(), ": ", ec.message());
  struct Cleanup {
    fs::path p; bool keep = false;
    ~Cleanup() { if (!keep) { std::error_code e; fs::remove_all(p, e); } }
  } cleanup{staging};

  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(), &archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw Error(where, archive_path + ": cannot open archive: " + archive_error_text(a.get()));
  std::uint64_t total = 0, members = 0;
  std::vector<fs::path> top_level;
  archive_entry* e = nullptr;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      throw Error(where, archive_path + ": corrupt archive: " + archive_error_text(a.get()),
                  "delete the archive and download it again");
    const char* raw = archive_entry_pathname(e);
    const std::string name = raw ? raw : "";
    CONTRA_CHECK(++members <= limits.max_members, where, archive_path, " has more than ",
                 limits.max_members, " members");
    // Path checks (I4): relative, no `..`, no empty names.
    CONTRA_CHECK_HINT(!name.empty() && name[0] != '/', where, "the archive is unsafe; do not use it",
                      archive_path, ": member '", name, "' has an absolute or empty path");
    for (const auto& part : fs::path(name))
      CONTRA_CHECK_HINT(part != "..", where, "the archive is unsafe; do not use it", archive_path,
                        ": member '", name, "' escapes the data folder with '..'");
    // "./top/b" (as `tar -C dir .` writes) is "top/b"; "." and "./" name the root itself.
    const fs::path rel = member_relative_path(name);
    if (rel.empty()) continue;
    const auto type = archive_entry_filetype(e);
    CONTRA_CHECK_HINT((type == AE_IFREG || type == AE_IFDIR) && archive_entry_hardlink(e) == nullptr,
                      where, "only regular files and folders are extracted", archive_path,
                      ": member '", name, "' is a link or special file");
    const fs::path out = staging / rel;
    const fs::path first = *rel.begin();
    if (std::find(top_level.begin(), top_level.end(), first) == top_level.end()) top_level.push_back(first);
    if (type == AE_IFDIR) {
      fs::create_directories(out, ec);
      continue;
    }
    const auto declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    CONTRA_CHECK(declared >= 0 && static_cast<std::uint64_t>(declared) <= limits.max_member_bytes,
                 where, archive_path, ": member '", name, "' is ", declared,
                 " bytes, over the limit of ", limits.max_member_bytes);
    fs::create_directories(out.parent_path(), ec);
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    CONTRA_CHECK(fd >= 0, where, "cannot create ", out.string(), " (duplicate member '", name, "'?)");
    const struct CloseOnExit { int fd; ~CloseOnExit() { ::close(fd); } } closer{fd};
    std::uint64_t member_bytes = 0;
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0)
        throw Error(where, archive_path + ": corrupt data in member '" + name +
                               "': " + archive_error_text(a.get()),
                    "delete the archive and download it again");
      member_bytes += static_cast<std::uint64_t>(n);
      total += static_cast<std::uint64_t>(n);
      if (member_bytes > limits.max_member_bytes || total > limits.max_total_bytes)
        throw Error(where, detail::concat(archive_path, ": member '", name, "' or the archive exceeds the size limit (",
                                          limits.max_member_bytes, " per member, ",
                                          limits.max_total_bytes, " in all)"));
      write_all_to_fd(fd, buf.data(), static_cast<std::size_t>(n), out.string());
    }
    fsync_or_throw(fd, out.string());  // before the staging folder is renamed into place
  }
  // Move the top-level entries into place (each an atomic rename).
  for (const auto& t : top_level) {
    const fs::path target = fs::path(dest_dir) / t;
    CONTRA_CHECK_HINT(!fs::exists(target, ec), where, "remove it (it is incomplete) and run again",
                      target.string(), " already exists; not overwriting it with the contents of ",
                      archive_path);
  }
  for (const auto& t : top_level) {
    fs::rename(staging / t, fs::path(dest_dir) / t, ec);
    CONTRA_CHECK(!ec, where, "cannot move ", (staging / t).string(), " into ", dest_dir, ": ",
                 ec.message());
  }
  fsync_directory(dest_dir);
}

void ensure_archive(const RemoteArchive& a, const std::string& root, const DownloadOptions& o) {
  std::error_code ec;
  // The first required file that is missing ("" when all are present).
  auto first_missing = [&]() -> std::string {
    for (const auto& f : a.required_files)
      if (!fs::is_regular_file(fs::path(root) / f, ec)) return f;
    return "";
  };
  const std::string missing = first_missing();
  if (!a.required_files.empty() && missing.empty()) return;
  const std::string archive_path = (fs::path(root) / a.file_name).string();
  const std::string hint = manual_hint(a, root);
  if (!fs::exists(archive_path, ec)) {
    const bool allowed = o.allow_download && !offline_env();
    if (!allowed)
      throw Error(kWhere,
                  "missing " + (fs::path(root) / (missing.empty() ? a.file_name : missing)).string() +
                      " and downloading is disabled" + (offline_env() ? " (CONTRA_OFFLINE is set)" : ""),
                  hint);
    if (o.progress) std::fprintf(stderr, "downloading %s to %s\n", a.url.c_str(), archive_path.c_str());
    try {
      download_file(a.url, archive_path, a.size, a.md5, o.progress);
    } catch (const Error& e) {
      throw Error(kWhere, e.detail() + (e.hint().empty() ? "" : " (" + e.hint() + ")"), hint);
    }
  } else {
    try {
      verify_file(archive_path, a.size, a.md5, archive_path);
    } catch (const Error& e) {
      throw Error(kWhere, e.detail(), "delete " + archive_path + " and run again, or " + hint);
    }
  }
  extract_archive(archive_path, root, o.limits);
  for (const auto& f : a.required_files)
    CONTRA_CHECK_HINT(fs::is_regular_file(fs::path(root) / f, ec), kWhere, hint, archive_path,
                      " did not contain ", f);
}

}  // namespace contra::data
