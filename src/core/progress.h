// A progress line on stderr for long work: "label  [=====>    ] 512/1000  1234 img/s  ETA 3s".
// Quiet when stderr is not a terminal, when quiet=true, or for work that finishes within ~2 s. With a progress
// handler installed (octet/log.h), every update and the finish go to it instead (unless quiet=true).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "octet/log.h"

namespace octet {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool quiet = false, std::string unit = "img");
  ~Progress();
  void update(int64_t done);
  void set_total(int64_t total) { total_ = total; }  // when the amount of work grows as it goes
  void finish();
  double elapsed_s() const;

 private:
  void draw(int64_t done, bool final);
  std::string label_, unit_;
  int64_t total_;
  bool enabled_, drawn_ = false, finished_ = false;
  ProgressHandler handler_;  // when set: events instead of the line
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace octet
