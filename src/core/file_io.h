// Reading and writing the user's files safely: the one place octet opens a file it was given by name.
//
//   std::string bytes = read_file("model.onnx", "model");        // regular files only; a FIFO never hangs
//   check_output("out.json", force, "--json");                     // before any work: refuse early
//   write_file_atomic("out.json", text);                           // temp + fsync + rename, or an Error
//
// Rules (README, "Files"): octet reads only regular files (a FIFO, device or directory given as an input is an
// error naming it, not a hang); it replaces only regular files (a device node, directory, FIFO or symbolic link
// at an output path is refused, never replaced by a regular file); it overwrites an existing output only when
// asked (--force); every write goes to a fresh temporary file in the target's folder (O_EXCL, never a fixed
// name a link could be planted at), is flushed, synced and closed with every step checked, then renamed over
// the target, and a failed or interrupted write (SIGINT, SIGTERM, SIGHUP) removes its temporary file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

// What kind of file system object `path` is, for messages: "a directory", "a FIFO", "a character device", ...;
// "" for a regular file, "missing" when nothing is there. `follow` false: a symbolic link is "a symbolic link".
std::string file_kind(const std::string& path, bool follow = true);

// Throws octet::Error unless `path` (links followed) is an existing regular file: "cannot read <what> '<path>':
// it is a FIFO (octet reads only regular files)".
void require_regular_file(const std::string& path, const char* what);

// Opens `path` for reading without blocking on a FIFO (O_NONBLOCK, then fstat on the descriptor: no race
// between the check and the open), refusing anything but a regular file. Returns the descriptor (blocking
// mode restored, close-on-exec); the caller closes it.
int open_regular_file(const std::string& path, const char* what);

// The whole file; refuses a non-regular file, and a file larger than `max_bytes` (naming both sizes).
std::string read_file(const std::string& path, const char* what, uint64_t max_bytes = UINT64_MAX);

// Size in bytes of the regular file `path` (links followed); throws as require_regular_file does.
uint64_t regular_file_size(const std::string& path, const char* what);

// Before writing `path` as output `what` (a flag name such as "--json", or "cache"): throws when something
// other than a regular file is there (a device, directory, FIFO, socket or symbolic link), or when a regular
// file is there and `overwrite` is false ("'<path>' exists; pass --force to overwrite it").
void check_output(const std::string& path, bool overwrite, const char* what);

// Writes `bytes` to `path` atomically (see the file comment). Refuses a non-regular target as check_output
// does (an existing regular file is replaced: call check_output first for the --force rule).
void write_file_atomic(const std::string& path, std::string_view bytes);
// The same for a file made of `pieces` written one after the other (a header and a large tensor's bytes, without
// copying them into one buffer first).
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace octet
