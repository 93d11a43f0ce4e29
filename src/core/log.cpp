// The library's message and progress handlers (include/octet/log.h): process-wide, behind one mutex.
#include <cstdio>
#include <mutex>

#include "octet/log.h"

namespace octet {

namespace {
std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}
LogHandler& handler() {
  static LogHandler h = default_log_handler;
  return h;
}
}  // namespace

LogHandler set_log_handler(LogHandler h) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  LogHandler old = std::move(handler());
  handler() = std::move(h);
  return old;
}

void default_log_handler(LogLevel level, const std::string& text) {
  std::fprintf(stderr, "%s: %s\n", level == LogLevel::note ? "note" : "warning", text.c_str());
}

void log_message(LogLevel level, const std::string& text) {
  LogHandler h;
  {
    std::lock_guard<std::mutex> lock(handler_mutex());
    h = handler();
  }
  if (h) h(level, text);
}

namespace {
ProgressHandler& progress() {
  static ProgressHandler h;
  return h;
}
}  // namespace

ProgressHandler set_progress_handler(ProgressHandler h) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  ProgressHandler old = std::move(progress());
  progress() = std::move(h);
  return old;
}

ProgressHandler progress_handler() {
  std::lock_guard<std::mutex> lock(handler_mutex());
  return progress();
}

}  // namespace octet
