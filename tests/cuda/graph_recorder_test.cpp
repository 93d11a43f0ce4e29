// The CUDA-graph segmenting of the cuda backend (src/backends/cuda/graph_recorder.h) against a fake device
// that executes "launches" as appends to a log: whatever the recorder decides, every run must perform the same
// launches in the same order as an eager run, and from the second run on the steady state must be graphs.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "backends/cuda/graph_recorder.h"

namespace octet::cuda {
namespace {

// A stream: eager launches append to `done`; during a capture they go to the capture; a graph launch appends
// what was captured.
struct FakeDevice : GraphDevice {
  std::vector<std::string> done;
  std::vector<std::string>* capture = nullptr;
  std::vector<std::string> open;
  std::map<int, std::vector<std::string>> graphs;
  int next = 0, launches = 0;
  void begin_capture() override {
    EXPECT_EQ(capture, nullptr) << "nested capture";
    open.clear();
    capture = &open;
  }
  int end_capture() override {
    EXPECT_NE(capture, nullptr);
    capture = nullptr;
    graphs[next] = open;
    return next++;
  }
  void abort_capture() override { capture = nullptr; }
  void launch_graph(int id) override {
    ASSERT_TRUE(graphs.count(id)) << "graph " << id;
    ++launches;
    for (const auto& s : graphs[id]) done.push_back(s);
  }
  void destroy_graph(int id) override { graphs.erase(id); }
  void kernel(const std::string& name) { (capture ? *capture : done).push_back(name); }
};

// A plan run: each entry is a kernel name, or "|" for a flush (upload/download/host kernel).
void run(GraphRecorder& r, FakeDevice& d, const std::vector<std::string>& steps, int run_index,
         std::map<std::string, int>& ids) {
  for (const std::string& s : steps) {
    if (s == "|") {
      r.flush();
      continue;
    }
    const void* id = &ids[s];
    if (r.before_launch(id, run_index, [&d, s] { d.kernel(s); })) d.kernel(s);
  }
  r.flush();  // the run's final download
}

std::vector<std::string> kernels_of(const std::vector<std::string>& steps) {
  std::vector<std::string> k;
  for (const auto& s : steps)
    if (s != "|") k.push_back(s);
  return k;
}

TEST(CudaGraphRecorder, EveryRunLaunchesWhatAnEagerRunDoes) {
  const std::vector<std::string> plan = {"|", "a", "b", "c", "|", "d", "e", "|", "f"};
  for (bool enabled : {false, true}) {
    FakeDevice d;
    GraphRecorder r(d, enabled);
    std::map<std::string, int> ids;
    for (int i = 0; i < 5; ++i) {
      d.done.clear();
      run(r, d, plan, i, ids);
      EXPECT_EQ(d.done, kernels_of(plan)) << "run " << i << (enabled ? " graphs" : " eager");
      EXPECT_FALSE(r.capturing());
    }
    // Three segments, captured once in run 1, replayed in runs 1..4.
    EXPECT_EQ(r.graphs_captured(), enabled ? 3 : 0);
    EXPECT_EQ(d.launches, enabled ? 3 * 4 : 0);
    EXPECT_EQ(r.replays_broken(), 0);
  }
}

TEST(CudaGraphRecorder, DeviationsFallBackToEagerLaunchesInOrder) {
  FakeDevice d;
  GraphRecorder r(d, true);
  std::map<std::string, int> ids;
  const std::vector<std::string> plan = {"a", "b", "c", "d"};
  for (int i = 0; i < 3; ++i) run(r, d, plan, i, ids);
  // An observer run: a flush after every kernel (to_host), then another order, then a longer segment.
  for (const auto& other : std::vector<std::vector<std::string>>{
           {"a", "|", "b", "|", "c", "|", "d"}, {"a", "c", "b", "d"}, {"a", "b", "c", "d", "e"}, {"a", "b"}, plan, plan}) {
    d.done.clear();
    run(r, d, other, 5, ids);
    EXPECT_EQ(d.done, kernels_of(other));
  }
  EXPECT_GT(r.replays_broken(), 0);
}

TEST(CudaGraphRecorder, ResetDropsGraphsAndAbortDiscardsTheCapture) {
  FakeDevice d;
  GraphRecorder r(d, true);
  std::map<std::string, int> ids;
  const std::vector<std::string> plan = {"a", "b"};
  run(r, d, plan, 0, ids);
  run(r, d, plan, 1, ids);
  EXPECT_EQ(d.graphs.size(), 1u);
  r.reset();
  EXPECT_TRUE(d.graphs.empty());
  // A launch that throws mid-capture: abort() ends the capture; the next run records afresh.
  EXPECT_TRUE(r.before_launch(&ids["a"], 1, [] {}));
  EXPECT_TRUE(r.capturing());
  r.abort();
  EXPECT_FALSE(r.capturing());
  EXPECT_EQ(d.capture, nullptr);
  d.done.clear();
  run(r, d, plan, 2, ids);
  EXPECT_EQ(d.done, plan);
}

}  // namespace
}  // namespace octet::cuda
