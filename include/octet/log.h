// Messages from the library: notes and warnings that octet's API paths produce (an asymmetric Q/DQ model run
// as a simulation, FP32 layers taken from a cache's sidecar, an unreadable sidecar ignored, ...). They go to
// the log handler; the default handler prints "note: <text>" / "warning: <text>" to stderr, as the CLI does.
//
//   octet::set_log_handler([](octet::LogLevel level, const std::string& text) { my_log(level, text); });
//   octet::set_log_handler(nullptr);   // messages are dropped
//
// The handler is process-wide and may be called from any thread that calls into octet.
//
// Progress of long work (calibration passes, refinement, tune): without a progress handler, a progress line on
// stderr when it is a terminal (as the CLI shows it); with one, the handler gets every update instead. Work
// asked to be quiet (CalibrationOptions::quiet, the default for library calls) reports nothing either way.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace octet {

enum class LogLevel { note, warning };
using LogHandler = std::function<void(LogLevel level, const std::string& text)>;

// Installs `handler` (nullptr: drop messages); returns the previous one.
LogHandler set_log_handler(LogHandler handler);
// The handler the library starts with: "note: ..." / "warning: ..." + newline on stderr.
void default_log_handler(LogLevel level, const std::string& text);
// Sends a message to the current handler (used by octet itself).
void log_message(LogLevel level, const std::string& text);

struct ProgressEvent {
  std::string label;  // "calibrate 1/2", "refine", "tune", "eval"
  int64_t done = 0;
  int64_t total = 0;  // 0: unknown (or still growing)
  std::string unit;   // "img", "trials"
  bool finished = false;
};
using ProgressHandler = std::function<void(const ProgressEvent& event)>;
// Installs `handler` (nullptr: the progress line on stderr); returns the previous one.
ProgressHandler set_progress_handler(ProgressHandler handler);
// The installed progress handler (empty when none); used by octet itself.
ProgressHandler progress_handler();

}  // namespace octet
