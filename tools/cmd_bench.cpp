// octet bench MODEL: throughput and latency percentiles on random inputs, like trtexec.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <random>

#include <sys/resource.h>

#include "commands.h"
#include "common.h"

namespace octet::cli {

int cmd_bench(int argc, char** argv) {
  Args a("bench", "MODEL.onnx [options]",
         "Time a model on random inputs: warm-up, then --iterations runs; prints throughput and latency percentiles.");
  a.opt("batch", "N", "batch size (the model's first, symbolic dimension)", "1");
  a.opt("iterations", "K", "timed runs", "50");
  a.opt("warmup", "K", "untimed runs first", "5");
  a.opt("precision", "P", "fp32 or int8 (int8 needs --cache)", "fp32");
  add_int8_options(a);
  a.opt("json", "FILE", "write results as JSON");
  a.flag("force", "overwrite an existing --json file");
  a.flag("quiet", "no progress output");
  a.flag("verbose", "print the plan: every executed node, its op and backend");
  a.flag("profile", "after the timed runs, time every node over --iterations more runs; print per-op-type and per-node times");
  add_runtime_options(a);
  add_shapes_option(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet bench: give exactly one model file");
  const std::string precision = a.get("precision");
  OCTET_CHECK(precision == "fp32" || precision == "int8", "octet bench: --precision is fp32 or int8, got '", precision, "'");
  int64_t batch = a.get_int("batch", 1), iters = a.get_int("iterations", 50), warm = a.get_int("warmup", 5);
  OCTET_CHECK(batch > 0 && iters > 0 && warm >= 0, "octet bench: --batch and --iterations must be positive");
  check_json_output(a);
  auto plan = load_plan(a.positional()[0], a, precision);
  // A Q/DQ model whose asymmetric INT8 is simulated runs an FP32 plan: say so rather than "fp32" or "int8".
  const char* label = plan->is_int8() ? "int8" : precision == "int8" ? "int8-simulated" : "fp32";
  auto shapes = plan->input_shapes(batch);
  plan->reshape(shapes);
  std::vector<Tensor> inputs;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Value& v = plan->graph().value(plan->graph().inputs[i]);
    OCTET_CHECK(v.dtype == DType::f32, "octet bench: input '", v.name, "' is ", dtype_name(v.dtype),
                "; only float inputs can be filled with random data");
    Tensor t(DType::f32, shapes[i]);
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = u(rng);
    inputs.push_back(t);
  }
  if (a.on("verbose"))
    for (const auto& line : plan->describe()) std::printf("  %s\n", line.c_str());
  for (int64_t i = 0; i < warm; ++i) plan->run(inputs);
  std::vector<double> ms;
  double total = 0;
  // A device backend (cuda) is timed on its own queue with its events: each run from before its uploads to
  // after its downloads; throughput over the whole loop.
  std::unique_ptr<DeviceTimer> timer = plan->backend().device_timer();
  if (timer) {
    std::vector<std::pair<size_t, size_t>> marks;
    const size_t first = timer->record();
    for (int64_t i = 0; i < iters; ++i) {
      const size_t s = i == 0 ? first : timer->record();
      plan->run(inputs);
      marks.push_back({s, timer->record()});
    }
    for (const auto& [s, e] : marks) ms.push_back(timer->elapsed_ms(s, e));
    total = timer->elapsed_ms(first, marks.back().second) / 1000.0;
  } else {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iters; ++i) {
      auto s = std::chrono::steady_clock::now();
      plan->run(inputs);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
    }
    total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const char* clock = timer ? "device events" : "host steady_clock";
  const std::string stats = plan->backend().stats();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(ms.size())))]; };
  double thr = static_cast<double>(batch * iters) / total;
  std::printf("model       %s\nbackend     %s  %s  batch %lld  iterations %lld\n", a.positional()[0].c_str(),
              plan->options().backend.c_str(), label, static_cast<long long>(batch), static_cast<long long>(iters));
  // The OpenMP waiting in effect (when the user set nothing, tools/main.cpp sets a short GOMP_SPINCOUNT on an idle
  // machine, else OMP_WAIT_POLICY=passive).
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin_count = std::getenv("GOMP_SPINCOUNT");
  const char* omp_defaults = std::getenv("OCTET_OMP_DEFAULTS");
  const bool by_octet = omp_defaults && std::strcmp(omp_defaults, "applied") == 0;
  std::printf("openmp      OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s%s\n", wait_policy ? wait_policy : "(unset)",
              spin_count ? spin_count : "(unset)", by_octet ? "  (octet's default)" : "");
  std::printf("throughput  %.1f images/s\nlatency ms  p50 %.3f  p90 %.3f  p99 %.3f  min %.3f\n", thr, pct(50), pct(90),
              pct(99), ms.front());
  std::printf("clock       %s%s%s\n", clock, stats.empty() ? "" : "; ", stats.c_str());
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double peak_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  std::printf("peak RSS    %.1f MiB\n", peak_mb);
  if (a.on("profile")) {
    // Per-node time from the observer, which sees every node's outputs right after the node ran: the time
    // between a node's first output and the previous node's is that node (plus the observer's own ~50 ns).
    const Graph& G = plan->graph();
    std::map<int, double> node_ms;
    std::chrono::steady_clock::time_point last;
    int last_node = -1;
    Plan::Observer obs = [&](int v, const Tensor&) {
      const int node = G.value(v).producer;
      if (node < 0 || node == last_node) return;
      auto now = std::chrono::steady_clock::now();
      node_ms[node] += std::chrono::duration<double, std::milli>(now - last).count();
      last = now;
      last_node = node;
    };
    for (int64_t i = 0; i < iters; ++i) {
      last = std::chrono::steady_clock::now();
      last_node = -1;
      plan->run(inputs, &obs);
    }
    std::map<std::string, double> op_ms;
    double sum = 0;
    std::vector<std::pair<double, int>> top;
    for (auto& [node, t] : node_ms) {
      const Node& n = G.nodes[static_cast<size_t>(node)];
      op_ms[op_name(n.op)] += t / static_cast<double>(iters);
      top.push_back({t / static_cast<double>(iters), node});
      sum += t / static_cast<double>(iters);
    }
    std::printf("profile     %.3f ms per run in %zu nodes; per op type:\n", sum, node_ms.size());
    std::vector<std::pair<double, std::string>> ops;
    for (auto& [op, t] : op_ms) ops.push_back({t, op});
    std::sort(ops.rbegin(), ops.rend());
    for (auto& [t, op] : ops) std::printf("  %-14s %8.3f ms  %5.1f%%\n", op.c_str(), t, 100.0 * t / sum);
    std::sort(top.rbegin(), top.rend());
    std::printf("nodes:\n");
    for (size_t i = 0; i < top.size(); ++i) {
      const Node& n = G.nodes[static_cast<size_t>(top[i].second)];
      const Shape& s = plan->shape(n.outputs[0]);
      std::string shp;
      for (size_t d = 0; d < s.size(); ++d) {
        if (d) shp += 'x';
        shp += std::to_string(s[d]);
      }
      std::printf("  %8.3f ms  %-10s %-40s %s\n", top[i].first, op_name(n.op), n.name.c_str(), shp.c_str());
    }
  }
  if (a.has("json")) {
    nlohmann::json j = {{"model", a.positional()[0]}, {"backend", plan->options().backend}, {"precision", label},
                        {"batch", batch}, {"iterations", iters}, {"throughput", thr},
                        {"latency_ms", {{"p50", pct(50)}, {"p90", pct(90)}, {"p99", pct(99)}, {"min", ms.front()}}}, {"peak_rss_mib", peak_mb}, {"clock", clock}, {"backend_stats", stats},
                        {"omp_wait_policy", wait_policy ? wait_policy : ""}, {"gomp_spincount", spin_count ? spin_count : ""}};
    write_json(a.get("json"), j);
  }
  return 0;
}

}  // namespace octet::cli
