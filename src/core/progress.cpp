#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace octet {

Progress::Progress(std::string label, int64_t total, bool quiet, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(!quiet && isatty(2)) {
  start_ = last_ = std::chrono::steady_clock::now();
  if (!quiet) handler_ = progress_handler();
  if (handler_) enabled_ = false;
}

Progress::~Progress() { finish(); }

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done) {
  done_ = done;
  if (handler_) handler_({label_, done, total_, unit_, false});
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // Nothing in the first 2 s (short work stays silent), then at most 10 redraws a second.
  if (elapsed_s() < 2.0 || std::chrono::duration<double>(now - last_).count() < 0.1) return;
  last_ = now;
  draw(done, false);
}

void Progress::draw(int64_t done, bool final) {
  double t = elapsed_s();
  double rate = t > 0 ? static_cast<double>(done) / t : 0;
  const int width = 24;
  int filled = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
  double eta = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : 0;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld  %.0f %s/s  %s %.0fs   ", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), rate, unit_.c_str(),
               final ? "took" : "ETA", final ? t : eta);
  if (final) std::fputc('\n', stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (handler_) handler_({label_, done_, total_, unit_, true});
  if (enabled_ && drawn_) draw(total_, true);
}

}  // namespace octet
