// Which of a plan's device launches go into CUDA graphs (plain C++: tested on the CPU with a fake device,
// tests/cuda/graph_recorder_test.cpp; the cuda backend drives it with cudaStreamBeginCapture & co.).
//
// A plan run is a sequence of kernels; between two "flushes" (anything that must not be captured or must see
// the device's work done: an upload, a download, a host kernel, a reshape) the kernels' launches form a
// segment. The first run after a reshape launches eagerly (it uploads the constants); from the second run on a
// segment is captured into a graph the first time it is seen (keyed by its first kernel) and replayed after
// that: the kernels of a replayed segment do their bookkeeping but defer their launches, and the flush that
// ends the segment launches the graph — when the segment's kernels came in the recorded order. If the run
// deviates (another kernel, or a flush before the segment is complete), the deferred launches are issued
// eagerly in order and the segment is dropped (recorded again next time), so a deviation costs speed, never
// results.
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace octet::cuda {

// What the recorder asks of the device.
class GraphDevice {
 public:
  virtual ~GraphDevice() = default;
  virtual void begin_capture() = 0;
  virtual int end_capture() = 0;             // the captured launches as an instantiated graph: its id
  virtual void abort_capture() = 0;          // end a capture and discard it (after an error)
  virtual void launch_graph(int id) = 0;
  virtual void destroy_graph(int id) = 0;
};

class GraphRecorder {
 public:
  GraphRecorder(GraphDevice& dev, bool enabled) : dev_(dev), enabled_(enabled) {}
  ~GraphRecorder() = default;
  GraphRecorder(const GraphRecorder&) = delete;
  GraphRecorder& operator=(const GraphRecorder&) = delete;

  // Before `kernel` (an identity) launches in its `run`-th run since the last reset (0 = the first). True: the
  // caller launches now (eagerly, or into a capture); false: the launch is part of a replayed graph and the
  // caller skips it — `relaunch` issues it should the replay break off.
  bool before_launch(const void* kernel, int run, std::function<void()> relaunch) {
    if (state_ == State::Replaying) {
      Segment& s = segments_[first_];
      if (pos_ < s.kernels.size() && s.kernels[pos_] == kernel) {
        ++pos_;
        deferred_.push_back(std::move(relaunch));
        return false;
      }
      finish_replay();  // complete: its graph runs; else: the deferred launches are issued, the segment dropped
    }
    if (state_ == State::Capturing) {
      segments_[first_].kernels.push_back(kernel);
      return true;
    }
    if (!enabled_ || run < 1) return true;
    auto it = segments_.find(kernel);
    if (it != segments_.end()) {
      state_ = State::Replaying;
      first_ = kernel;
      pos_ = 1;
      deferred_.clear();
      deferred_.push_back(std::move(relaunch));
      return false;
    }
    dev_.begin_capture();
    state_ = State::Capturing;
    first_ = kernel;
    segments_[kernel] = Segment{-1, {kernel}};
    return true;
  }

  // Before an upload, a download, a host kernel or a synchronization: what is pending runs (in stream order).
  void flush() {
    if (state_ == State::Capturing) {
      state_ = State::Idle;
      Segment& s = segments_[first_];
      try {
        s.graph = dev_.end_capture();
      } catch (...) {
        segments_.erase(first_);
        throw;
      }
      ++captured_;
      dev_.launch_graph(s.graph);
      ++replayed_;
    } else if (state_ == State::Replaying) {
      finish_replay();
    }
  }

  // A launch threw: a capture in progress is discarded (the launches it held never ran; the error stands).
  void abort() {
    if (state_ == State::Capturing) {
      dev_.abort_capture();
      segments_.erase(first_);
    }
    state_ = State::Idle;
    deferred_.clear();
  }

  // Shapes or buffers changed: every graph is stale (what is pending runs first).
  void reset() {
    flush();
    for (auto& [k, s] : segments_)
      if (s.graph >= 0) dev_.destroy_graph(s.graph);
    segments_.clear();
  }

  int graphs_captured() const { return captured_; }
  int graphs_launched() const { return replayed_; }
  int replays_broken() const { return broken_; }
  bool capturing() const { return state_ == State::Capturing; }

 private:
  enum class State { Idle, Capturing, Replaying };
  struct Segment {
    int graph = -1;
    std::vector<const void*> kernels;
  };
  void finish_replay() {
    state_ = State::Idle;
    Segment& s = segments_[first_];
    if (pos_ == s.kernels.size()) {
      dev_.launch_graph(s.graph);
      ++replayed_;
    } else {
      for (auto& f : deferred_) f();
      dev_.destroy_graph(s.graph);
      segments_.erase(first_);
      ++broken_;
    }
    deferred_.clear();
  }

  GraphDevice& dev_;
  bool enabled_;
  State state_ = State::Idle;
  const void* first_ = nullptr;  // the open segment's first kernel
  size_t pos_ = 0;               // replay: kernels of the segment seen so far
  std::vector<std::function<void()>> deferred_;
  std::map<const void*, Segment> segments_;
  int captured_ = 0, replayed_ = 0, broken_ = 0;
};

}  // namespace octet::cuda
