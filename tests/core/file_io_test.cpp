// core/file_io: what octet reads (regular files only, a FIFO never hangs) and how it writes (only regular files
// are replaced, atomically; a failed write leaves the old file and no temporary file).
#include "core/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::error_without_hang;

class FileIo : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("octet_file_io_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Names in the folder other than `keep`: temporary files left behind show up here.
  std::vector<std::string> others(const std::vector<std::string>& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), n) == keep.end()) out.push_back(n);
    }
    return out;
  }
  fs::path dir_;
};

void put(const std::string& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
}

std::string get(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

TEST_F(FileIo, FifoReadThrowsFastNamingIt) {
  const std::string fifo = path("in.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& read : std::vector<std::function<void()>>{
           [&] { read_file(fifo, "input"); },
           [&] { ::close(open_regular_file(fifo, "input")); },
           [&] { require_regular_file(fifo, "input"); },
           [&] { regular_file_size(fifo, "input"); }}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string e = error_without_hang(fifo, read);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_HAS(e, "FIFO");
    EXPECT_HAS(e, fifo);
    EXPECT_HAS(e, "input");
  }
  EXPECT_EQ(file_kind(fifo), "a FIFO");
}

TEST_F(FileIo, DirectoryIsNeitherReadNorReplaced) {
  fs::create_directories(path("d"));
  EXPECT_HAS(error_of([&] { read_file(path("d"), "cache"); }), "a directory");
  EXPECT_HAS(error_of([&] { check_output(path("d"), true, "-o"); }), "a directory");
  EXPECT_HAS(error_of([&] { write_file_atomic(path("d"), "x"); }), "a directory");
  EXPECT_HAS(error_of([&] { check_output(path("d") + "/", true, "-o"); }), "directory");
  EXPECT_TRUE(fs::is_directory(path("d")));
  EXPECT_TRUE(others({"d"}).empty());
}

// A private character device like /dev/null (1,3) in the test folder when we may make one (root): were the
// refusal ever to regress, the rename would replace that node, not the machine's /dev/null. Without the right
// to make it, /dev/null itself, which such a user cannot replace anyway.
std::string null_device(const std::string& folder) {
  const std::string p = folder + "/null";
  if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) return p;
  return "/dev/null";
}

TEST_F(FileIo, DeviceOutputRefusedAndLeftADevice) {
  const std::string dev = null_device(dir_.string());
  const std::string e = error_of([&] { check_output(dev, true, "--json"); });
  EXPECT_HAS(e, "character device");
  EXPECT_HAS(e, "--json");
  EXPECT_HAS(e, dev);
  EXPECT_HAS(error_of([&] { write_file_atomic(dev, "x"); }), "character device");
  struct stat st {};
  ASSERT_EQ(::lstat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(others({"null"}).empty());
}

TEST_F(FileIo, SymlinkOutputRefusedAndNotFollowed) {
  put(path("victim"), "precious");
  fs::create_symlink(path("victim"), path("out.json"));
  EXPECT_HAS(error_of([&] { check_output(path("out.json"), true, "--json"); }), "symbolic link");
  EXPECT_HAS(error_of([&] { write_file_atomic(path("out.json"), "new"); }), "symbolic link");
  EXPECT_EQ(get(path("victim")), "precious");
  EXPECT_TRUE(fs::is_symlink(path("out.json")));
  EXPECT_TRUE(others({"victim", "out.json"}).empty());
}

// The old writers used the fixed name OUT.tmp: a link planted there must not be written through.
TEST_F(FileIo, LinkAtTheOldFixedTempNameIsNotFollowed) {
  put(path("victim"), "precious");
  fs::create_symlink(path("victim"), path("out.json.tmp"));
  write_file_atomic(path("out.json"), "{}\n");
  EXPECT_EQ(get(path("out.json")), "{}\n");
  EXPECT_EQ(get(path("victim")), "precious");
  EXPECT_TRUE(others({"victim", "out.json", "out.json.tmp"}).empty());
}

TEST_F(FileIo, ExistingOutputNeedsOverwriteAndFolderMustExist) {
  put(path("a.json"), "old");
  const std::string e = error_of([&] { check_output(path("a.json"), false, "--json"); });
  EXPECT_HAS(e, "--force");
  EXPECT_HAS(e, path("a.json"));
  check_output(path("a.json"), true, "--json");
  check_output(path("new.json"), false, "--json");
  EXPECT_HAS(error_of([&] { check_output(path("no/such/dir/x.json"), true, "--json"); }), path("no/such/dir"));
  EXPECT_HAS(error_of([&] { check_output(path("a.json") + "/x", true, "--json"); }), "not a folder");
  EXPECT_HAS(error_of([] { check_output("", true, "--json"); }), "empty");
}

TEST_F(FileIo, AtomicWriteReplacesARegularFileKeepingItsMode) {
  put(path("out.bin"), "old contents, longer than the new ones");
  ASSERT_EQ(::chmod(path("out.bin").c_str(), 0600), 0);
  write_file_atomic(path("out.bin"), "new");
  EXPECT_EQ(get(path("out.bin")), "new");
  EXPECT_EQ(fs::status(path("out.bin")).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  write_file_atomic(path("fresh.bin"), std::string(1 << 20, 'x'));
  EXPECT_EQ(fs::file_size(path("fresh.bin")), 1u << 20);
  write_file_atomic(path("empty.bin"), "");
  EXPECT_EQ(fs::file_size(path("empty.bin")), 0u);
  const std::string big(3 << 20, 'b');
  write_file_atomic(path("pieces.bin"), std::vector<std::string_view>{"head|", big, "", "|tail"});
  EXPECT_EQ(get(path("pieces.bin")), "head|" + big + "|tail");
  EXPECT_TRUE(others({"out.bin", "fresh.bin", "empty.bin", "pieces.bin"}).empty());
  EXPECT_EQ(read_file(path("out.bin"), "x"), "new");
  EXPECT_HAS(error_of([&] { read_file(path("fresh.bin"), "cache", 1000); }), "more than the 1000");
}

// A full disk, simulated with a file size limit in a child process (writes fail with EFBIG): the old file
// stays as it was and no temporary file is left.
TEST_F(FileIo, FailedWriteKeepsTheOldFileAndLeavesNoTemp) {
  put(path("out.npy"), "old");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    try {
      write_file_atomic(path("out.npy"), std::string(100000, 'n'));
    } catch (const Error& e) {
      const std::string m = e.what();
      ::_exit(m.find("out.npy") != std::string::npos && m.find("File too large") != std::string::npos ? 0 : 2);
    }
    ::_exit(1);  // no error: the limit did not bite
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the write did not fail; 2: the message does not say why";
  EXPECT_EQ(get(path("out.npy")), "old");
  EXPECT_TRUE(others({"out.npy"}).empty());
}

TEST_F(FileIo, StaleTempsOfDeadProcessesAreRemoved) {
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);  // reaped: that pid runs nothing now
  const std::string d = std::to_string(dead), me = std::to_string(::getpid());
  put(path("out.cache.tmp." + d + ".0badf00d"), "stale");  // a dead writer's: removed
  put(path("out.cache.tmp." + me + ".0badf00d"), "live");  // a running writer's: kept
  put(path("out.cache.tmp." + d + ".backup"), "user's");   // not a name octet makes: kept
  put(path("other.tmp." + d + ".0badf00d"), "other");      // another output's: not this write's business
  write_file_atomic(path("out.cache"), "new");
  EXPECT_EQ(get(path("out.cache")), "new");
  EXPECT_FALSE(fs::exists(path("out.cache.tmp." + d + ".0badf00d")));
  EXPECT_TRUE(fs::exists(path("out.cache.tmp." + me + ".0badf00d")));
  EXPECT_TRUE(fs::exists(path("out.cache.tmp." + d + ".backup")));
  EXPECT_TRUE(fs::exists(path("other.tmp." + d + ".0badf00d")));
}

TEST_F(FileIo, MissingInputNamesTheFile) {
  const std::string e = error_of([&] { read_file(path("nope.cache"), "calibration cache"); });
  EXPECT_HAS(e, path("nope.cache"));
  EXPECT_HAS(e, "calibration cache");
  EXPECT_EQ(file_kind(path("nope.cache")), "missing");
  put(path("r"), "12345");
  EXPECT_EQ(regular_file_size(path("r"), "x"), 5u);
  EXPECT_EQ(file_kind(path("r")), "");
}

}  // namespace
}  // namespace octet
