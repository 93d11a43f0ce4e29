#include "core/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "core/error.h"

namespace octet {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// The folder `path` is in ("." for a bare name, "/" for "/x").
std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

const char* kind_of_mode(mode_t m) {
  if (S_ISREG(m)) return "";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

// --- temporary files removed on SIGINT / SIGTERM / SIGHUP -------------------------------------------------
// Fixed slots so that the handler only reads plain memory and calls unlink (async-signal-safe). A slot is
// claimed (kClaimed) before its path is written and published (kReady) after, so two threads never write the
// same slot and the handler never reads a half-written path.
constexpr int kSlots = 16;
constexpr size_t kPathMax = 4096;
constexpr int kFree = 0, kClaimed = 1, kReady = 2;
std::array<std::atomic<int>, kSlots> g_state{};
std::array<std::array<char, kPathMax>, kSlots> g_paths{};
std::once_flag g_install;

void on_signal(int sig) {
  for (int i = 0; i < kSlots; ++i)
    if (g_state[i].load() == kReady) ::unlink(g_paths[i].data());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;
    // Only where nobody else handles the signal (a host program, Python's SIGINT): theirs wins.
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

int register_temp(const std::string& path) {
  if (path.size() >= kPathMax) return -1;
  std::call_once(g_install, install_handlers);
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_state[i].compare_exchange_strong(expected, kClaimed)) continue;
    std::memcpy(g_paths[i].data(), path.c_str(), path.size() + 1);
    g_state[i].store(kReady);
    return i;
  }
  return -1;  // all slots busy: the file is still removed on every error path, just not on a signal
}

void unregister_temp(int slot) {
  if (slot >= 0) g_state[slot].store(kFree);
}

// Removes "<base>.tmp.<pid>.<hex>" files in `dir` left by an octet process that no longer runs (kill -9).
void remove_stale_temps(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  const std::string prefix = base + ".tmp.";
  while (const dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n.size() <= prefix.size() || n.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = n.substr(prefix.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    long pid = 0;
    bool digits = true;
    for (char c : rest.substr(0, dot)) {
      if (c < '0' || c > '9') digits = false;
      else pid = pid * 10 + (c - '0');
      if (pid > 1L << 30) digits = false;
      if (!digits) break;
    }
    if (!digits || pid <= 0) continue;
    // Exactly the name write_file_atomic makes (8 hex digits after the pid): never a user's "x.tmp.12.bak".
    const std::string_view hex = rest.substr(dot + 1);
    if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    const std::string full = (dir == "/" ? "" : dir) + "/" + std::string(n);
    struct stat st {};
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(full.c_str());
  }
  ::closedir(d);
}

}  // namespace

std::string file_kind(const std::string& path, bool follow) {
  struct stat st {};
  const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return errno == ENOENT || errno == ENOTDIR ? "missing" : "unreadable (" + errno_text(errno) + ")";
  return kind_of_mode(st.st_mode);
}

void require_regular_file(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot read ", what, " '", path, "': ", errno_text(errno));
  if (!S_ISREG(st.st_mode))
    fail("cannot read ", what, " '", path, "': it is ", kind_of_mode(st.st_mode), " (octet reads only regular files)");
}

int open_regular_file(const std::string& path, const char* what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("cannot read ", what, " '", path, "': ", errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail("cannot read ", what, " '", path, "': ", errno_text(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("cannot read ", what, " '", path, "': it is ", kind_of_mode(st.st_mode), " (octet reads only regular files)");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

uint64_t regular_file_size(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("cannot read ", what, " '", path, "': ", errno_text(errno));
  if (!S_ISREG(st.st_mode))
    fail("cannot read ", what, " '", path, "': it is ", kind_of_mode(st.st_mode), " (octet reads only regular files)");
  return static_cast<uint64_t>(st.st_size);
}

std::string read_file(const std::string& path, const char* what, uint64_t max_bytes) {
  const int fd = open_regular_file(path, what);
  struct stat st {};
  if (::fstat(fd, &st) != 0) st.st_size = 0;  // cannot fail on an open descriptor; read() reports what is there
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    fail("cannot read ", what, " '", path, "': it is ", size, " bytes, more than the ", max_bytes, " allowed");
  }
  std::string out;
  try {
    out.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    fail("cannot read ", what, " '", path, "': not enough memory for its ", size, " bytes");
  }
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      ::close(fd);
      fail("cannot read ", what, " '", path, "': ", errno_text(e));
    }
    if (r == 0) break;  // shrank while reading: keep what is there, the parser reports a truncation
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  ::close(fd);
  return out;
}

void check_output(const std::string& path, bool overwrite, const char* what) {
  OCTET_CHECK(!path.empty(), what, ": the output path is empty");
  OCTET_CHECK(path.back() != '/', "cannot write ", what, " '", path, "': it names a directory; give a file name");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) fail("cannot write ", what, " '", path, "': ", errno_text(errno));
    // Nothing there yet: its folder must exist, so that a typo fails now rather than after the work.
    const std::string dir = parent_dir(path);
    struct stat ds {};
    if (::stat(dir.c_str(), &ds) != 0)
      fail("cannot write ", what, " '", path, "': folder '", dir, "': ", errno_text(errno));
    if (!S_ISDIR(ds.st_mode)) fail("cannot write ", what, " '", path, "': '", dir, "' is not a folder");
    return;
  }
  if (!S_ISREG(st.st_mode))
    fail("cannot write ", what, " '", path, "': it is ", kind_of_mode(st.st_mode),
         "; octet replaces only regular files (give a new file name)");
  if (!overwrite) fail("'", path, "' exists; pass --force to overwrite it");
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  check_output(path, /*overwrite=*/true, "output");
  const size_t slash = path.rfind('/');
  const std::string dir = parent_dir(path);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  remove_stale_temps(dir, base);
  std::random_device rd;
  std::string tmp;
  int fd = -1;
  int open_errno = 0;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    char suffix[40];
    std::snprintf(suffix, sizeof suffix, ".tmp.%d.%08x", static_cast<int>(getpid()), static_cast<unsigned>(rd()));
    tmp = path + suffix;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    open_errno = errno;
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0)
    fail("cannot write '", path, "': cannot create a temporary file in '", dir, "': ", errno_text(open_errno));
  const int slot = register_temp(tmp);
  // Replacing a file keeps its permission bits (a private 0600 file stays private).
  struct stat old_st {};
  if (::lstat(path.c_str(), &old_st) == 0 && S_ISREG(old_st.st_mode)) ::fchmod(fd, old_st.st_mode & 07777);
  const auto cleanup_fail = [&](const char* step, int e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    unregister_temp(slot);
    fail("cannot write '", path, "': ", step, ": ", errno_text(e), " (nothing was changed)");
  };
  for (const std::string_view bytes : pieces) {
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        cleanup_fail("write failed", errno);
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  if (::fsync(fd) != 0) cleanup_fail("fsync failed", errno);
  const int rc = ::close(fd);
  const int close_errno = errno;
  fd = -1;
  if (rc != 0) cleanup_fail("close failed", close_errno);
  // Check again right before the rename: something other than a regular file placed there meanwhile is not
  // replaced (a narrow race remains between this check and rename; rename never follows a link at `path`).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    errno = EEXIST;
    cleanup_fail("something other than a regular file appeared there", EEXIST);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) cleanup_fail("rename failed", errno);
  unregister_temp(slot);
  // Make the rename itself durable; failure here does not un-write the file, so it is not an error.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace octet
