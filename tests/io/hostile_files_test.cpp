// Data the user points octet at that must not hang it or inflate it: links in image folders (loops, links to
// parents, to other class folders, to images read already), FIFOs as data files or inside folders.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "io/dataset.h"
#include "io/image.h"
#include "io/io_test_util.h"
#include "io/npy.h"

#include "test_util.h"

namespace octet {
namespace {

using test::TempDir;
namespace fs = std::filesystem;
using test::error_of;
using test::error_without_hang;

void png(const std::string& path, int value) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, cv::Mat(4, 4, CV_8UC1, cv::Scalar(value)))) << path;
}

// Runs `f` in a child process, killed after `seconds`: its result (0..250), -1 when it did not finish in time
// (a walk that does not end must fail the test, not hang it), -2 when it threw or crashed.
int in_child(const std::function<int()>& f, int seconds) {
  const pid_t pid = ::fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    int r = 251;
    try {
      r = f();
    } catch (...) {
    }
    ::_exit(r);
  }
  int status = 0;
  for (int i = 0; i < seconds * 20; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) && WEXITSTATUS(status) <= 250 ? WEXITSTATUS(status) : -2;
    ::usleep(50000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

int folder_size(const std::string& dir, bool labelled) {
  return in_child([&] { return static_cast<int>(std::min<size_t>(open_dataset(dir, labelled)->size(), 250)); }, 20);
}

std::vector<std::string> names(const Dataset& ds, const std::string& root) {
  std::vector<std::string> v;
  for (size_t i = 0; i < ds.size(); ++i) v.push_back(fs::path(ds.sample_name(i)).lexically_relative(root).string());
  return v;
}

// `ln -s . sub` used to count every image 33 times (the walk followed the link down to a depth limit).
TEST(IoHostile, FolderLinksVisitEachFolderAndImageOnce) {
  TempDir dir;
  png(dir / "f/0.png", 0);
  png(dir / "f/1.png", 1);
  png(dir / "f/real/2.png", 2);
  fs::create_directory_symlink(".", dir / "f/sub");            // a loop
  fs::create_directory_symlink("..", dir / "f/real/up");       // a loop through the parent
  fs::create_directory_symlink("real", dir / "f/again");       // the same folder twice ("again" < "real")
  fs::create_symlink("0.png", dir / "f/zz.png");               // an image read already
  ASSERT_EQ(::link((dir / "f/1.png").c_str(), (dir / "f/hard.png").c_str()), 0);  // the same file, hard-linked
  ASSERT_EQ(folder_size(dir / "f", false), 3);  // -1: the walk does not end
  auto ds = open_dataset(dir / "f", false);
  EXPECT_EQ(names(*ds, dir / "f"), (std::vector<std::string>{"0.png", "1.png", "real/2.png"}));

  // A link to a folder outside is still followed (once), and sorts with the rest.
  png(dir / "outside/9.png", 9);
  fs::create_directory_symlink(dir / "outside", dir / "f/ext");
  ds = open_dataset(dir / "f", false);
  EXPECT_EQ(names(*ds, dir / "f"), (std::vector<std::string>{"0.png", "1.png", "ext/9.png", "real/2.png"}));
}

// Two links to "." made the walk grow without bound (2^depth paths).
TEST(IoHostile, TwoLoopLinksFinish) {
  TempDir dir;
  png(dir / "f/0.png", 0);
  fs::create_directory_symlink(".", dir / "f/a");
  fs::create_directory_symlink(".", dir / "f/b");
  EXPECT_EQ(folder_size(dir / "f", false), 1);  // -1: the walk does not end
}

TEST(IoHostile, LabelledLinksGiveNoImageTwoLabels) {
  TempDir dir;
  png(dir / "d/a/1.png", 1);
  png(dir / "d/b/2.png", 2);
  png(dir / "d/b/3.png", 3);
  fs::create_directory_symlink("../b", dir / "d/a/to_b");  // b's images inside class a
  fs::create_directory_symlink("..", dir / "d/b/top");     // every class inside class b
  ASSERT_EQ(folder_size(dir / "d", true), 3);
  auto ds = open_dataset(dir / "d", true);
  EXPECT_EQ(names(*ds, dir / "d"), (std::vector<std::string>{"a/1.png", "b/2.png", "b/3.png"}));
  EXPECT_EQ(ds->label(0), 0);
  EXPECT_EQ(ds->label(1), 1);
  EXPECT_EQ(ds->label(2), 1);

  // A class folder that is another class folder: an error naming it, not the same images under two labels.
  fs::create_directory_symlink("a", dir / "d/c");
  const std::string e = error_of([&] { open_dataset(dir / "d", true); });
  EXPECT_NE(e.find(dir / "d/c"), std::string::npos) << e;
  EXPECT_NE(e.find("already read"), std::string::npos) << e;
}

TEST(IoHostile, FifoInsideAFolderIsSkipped) {
  TempDir dir;
  png(dir / "f/0.png", 0);
  ASSERT_EQ(::mkfifo((dir / "f/pipe.jpg").c_str(), 0600), 0);
  std::unique_ptr<Dataset> ds;
  error_without_hang(dir / "f/pipe.jpg", [&] { ds = open_dataset(dir / "f", false); });
  ASSERT_TRUE(ds);
  EXPECT_EQ(names(*ds, dir / "f"), (std::vector<std::string>{"0.png"}));
  // Decoding it by name (as a data set entry would) refuses it too.
  const std::string e = error_without_hang(dir / "f/pipe.jpg", [&] { decode_image(dir / "f/pipe.jpg"); });
  EXPECT_NE(e.find("FIFO"), std::string::npos) << e;
}

TEST(IoHostile, FifoAsDataFileIsRefusedNamingIt) {
  TempDir dir;
  for (const char* name : {"x.npy", "x.npz", "t10k-images-idx3-ubyte", "one.png", "noext"}) {
    const std::string fifo = dir / name;
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string e = error_without_hang(fifo, [&] { open_dataset(fifo, false); });
    EXPECT_NE(e.find("FIFO"), std::string::npos) << e;
    EXPECT_NE(e.find(fifo), std::string::npos) << e;
  }
  // The readers themselves, not only open_dataset's check.
  EXPECT_NE(error_without_hang(dir / "x.npy", [&] { read_npy(dir / "x.npy"); }).find("FIFO"), std::string::npos);
  EXPECT_NE(error_without_hang(dir / "x.npz", [&] { read_npz(dir / "x.npz"); }).find("FIFO"), std::string::npos);
  EXPECT_NE(error_without_hang(dir / "t10k-images-idx3-ubyte", [&] { open_idx(dir / "t10k-images-idx3-ubyte", false); })
                .find("FIFO"),
            std::string::npos);
}

// An IDX labels file that is a FIFO is an error naming it (it used to be silently "missing").
TEST(IoHostile, FifoIdxLabelsRefused) {
  TempDir dir;
  std::string img = std::string("\0\0\x08\x03", 4) + std::string("\0\0\0\x01", 4) + std::string("\0\0\0\x02", 4) +
                    std::string("\0\0\0\x02", 4) + std::string(4, '\x10');
  test::write_file(dir / "t-images-idx3-ubyte", img);
  ASSERT_EQ(::mkfifo((dir / "t-labels-idx1-ubyte").c_str(), 0600), 0);
  const std::string e =
      error_without_hang(dir / "t-labels-idx1-ubyte", [&] { open_idx(dir / "t-images-idx3-ubyte", false); });
  EXPECT_NE(e.find("FIFO"), std::string::npos) << e;
  EXPECT_NE(e.find("t-labels-idx1-ubyte"), std::string::npos) << e;
}

}  // namespace
// Bytes OpenCV would hand to a decoder octet never meant to expose are refused by their first bytes, naming the
// file: a DICOM header (GDCM asserted and aborted the process on this one, found by fuzz_image), JPEG 2000,
// OpenEXR, Radiance HDR. The formats the folder walk accepts still decode.
TEST(IoHostile, OnlyKnownImageFormatsReachTheDecoder) {
  std::string dicom(128, '\0');
  dicom[0] = 'P';
  dicom[1] = '\x89';
  dicom[2] = 'P';
  dicom += "N\xff\xff\xff" "DICM";
  const std::string jp2 = std::string("\0\0\0\x0cjP  \r\n\x87\n", 12) + std::string(64, '\0');
  const std::string exr = std::string("\x76\x2f\x31\x01", 4) + std::string(64, '\0');
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + std::string(16, '\0');
  for (const std::string* bytes : std::initializer_list<const std::string*>{&dicom, &jp2, &exr, &hdr}) {
    const std::string e = error_of([&] { decode_image(bytes->data(), bytes->size(), "scan.jpg"); });
    EXPECT_NE(e.find("scan.jpg"), std::string::npos) << e;
    EXPECT_NE(e.find("not a JPEG, PNG, BMP, WebP, TIFF or PNM file"), std::string::npos) << e;
  }
  for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"}) {
    std::vector<unsigned char> buf;
    ASSERT_TRUE(cv::imencode(ext, cv::Mat(3, 5, CV_8UC3, cv::Scalar(10, 20, 30)), buf)) << ext;
    const cv::Mat img = decode_image(buf.data(), buf.size(), std::string("x") + ext);
    EXPECT_EQ(img.rows, 3) << ext;
    EXPECT_EQ(img.cols, 5) << ext;
  }
}

}  // namespace octet
