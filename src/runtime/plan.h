// Plan: an optimized graph bound to a backend. build -> reshape -> run.
//
//   auto plan = Plan::build(std::move(graph), {.backend = "cpu"});
//   plan->reshape(plan->input_shapes(/*batch=*/16));
//   auto outs = plan->run({input});      // views, valid until the next run/reshape
//
// build(): the compile pipeline (passes/pipeline.h: constant folding, BatchNormalization folding, fusion,
//          quantization, NHWC where the backend prefers it), then one kernel per node from the backend,
//          falling back to `ref` where it says no.
// reshape(): concrete shapes for every tensor; nodes whose inputs are all known (weights, shapes) are
//          evaluated now and become constants (this is where Shape->Gather->Concat->Reshape folds);
//          buffers are assigned (a tensor's buffer is reused once its last reader has run).
// run(): executes the remaining nodes; an optional observer sees every node output (calibration).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pipeline.h"
#include "runtime/backend.h"

namespace octet {

struct PlanOptions {
  std::string backend = "cpu";
  bool fold_batchnorm = true;  // BatchNormalization after Conv folded into the Conv weights
  bool fuse = true;            // activations and residual adds into the producing op
  bool channels_last = true;   // 2-D convs and pools run NHWC where the backend prefers it (passes/nhwc.cpp)
  bool keep_all_outputs = false;  // keep every tensor alive after run (calibration, debugging)
  // INT8: when non-empty, the plan is quantized with these calibrated amax values (ONNX tensor name ->
  // amax, scale = amax / 127); see passes/quantize.h.
  std::map<std::string, float> int8_amax;
  std::vector<std::string> fp32_layers;  // INT8 plans: ONNX node names kept in FP32
  // Tensors the fusion pass must not fuse away (their producer absorbs no Add / activation after them). For a
  // Q/DQ model: every tensor it quantizes, so octet rounds exactly where the model does (api::make_plan, src/api/policy.cpp).
  std::set<std::string> keep_unfused;
  // INT8: keep the graph as the compile passes before quantization left it, so that update_int8_amax() can
  // change scales without a rebuild (costs the FP32 weights' memory once more).
  bool rescalable = false;
  // The backend's options; unset: BackendOptions::from_environment() (the OCTET_CPU_* switches).
  std::optional<BackendOptions> backend_options;
};

class Plan {
 public:
  using Observer = std::function<void(int value, const Tensor& t)>;

  static std::unique_ptr<Plan> build(Graph g, const PlanOptions& opt = {});
  // A plan of a graph that has already been through build()'s passes (a plan file, runtime/plan_file.h):
  // creates the kernels only. `opt` as the plan was built with; `report` its QuantizeReport.
  static std::unique_ptr<Plan> from_optimized(Graph g, const PlanOptions& opt, QuantizeReport report);

  const Graph& graph() const { return graph_; }
  const PlanOptions& options() const { return opt_; }
  // The backend the plan was built for (its target(), device_timer(), stats()).
  const Backend& backend() const { return *backend_; }
  // Declared input shapes with symbolic dims set to `batch` (first dim) or 1 (others); throws when a
  // symbolic dim other than the first cannot be guessed.
  std::vector<Shape> input_shapes(int64_t batch) const;
  void reshape(const std::vector<Shape>& input_shapes);
  const std::vector<Shape>& current_input_shapes() const { return in_shapes_; }
  // Inputs in graph-input order. Outputs in graph-output order, views into the plan's buffers.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const Observer* observer = nullptr);

  // INT8 plans built with PlanOptions::rescalable: the plan as Plan::build would make it with `amax` instead of
  // options().int8_amax, bit for bit, without a rebuild: the quantization pass runs again on the kept graph,
  // and only the nodes whose attributes or constant inputs (requantization multipliers, scales, biases in
  // accumulator units) differ get new kernels; their steps are prepared again. When the new graph differs in
  // more than that (another op stays FP32), the plan is rebuilt.
  struct ScaleUpdate {
    bool rebuilt = false;  // the whole plan was rebuilt (the steps may differ)
    size_t first_step = 0;  // the first step whose node changed (steps() when none; 0 when not reshaped or rebuilt)
    int kernels = 0;        // kernels created again
  };
  ScaleUpdate update_int8_amax(const std::map<std::string, float>& amax);
  // Steps (non-folded nodes, in execution order) after reshape.
  size_t steps() const { return steps_.size(); }
  // Plans built with keep_all_outputs, after run(): a copy of every value the steps computed (others: empty).
  std::vector<Tensor> saved_tensors() const;
  // run() that executes only the steps from `first_step` on; host backends only (cpu, ref). The values computed
  // before it are taken from `saved` (indexed by value): those of live_values(first_step) are needed, e.g.
  // saved_tensors() of a run on the same inputs by a plan whose steps before `first_step` are the same (plans
  // built with keep_all_outputs), or a `snapshot` of such a run (any plan). With `snapshot`: when the run reaches
  // step `snapshot_step` (first_step <= snapshot_step <= steps()), copies of the values live_values(snapshot_step)
  // are put there (indexed by value, the others empty), so that a later run_from(snapshot_step) can start there.
  std::vector<Tensor> run_from(size_t first_step, const std::vector<Tensor>& inputs, const std::vector<Tensor>& saved,
                               size_t snapshot_step = 0, std::vector<Tensor>* snapshot = nullptr);
  // After reshape: the values computed by the steps before `step` that the steps from `step` on read or that are
  // graph outputs (what run_from(step) takes from `saved`), in value order.
  std::vector<int> live_values(size_t step) const;
  // The tensor last computed for value v (valid after run with keep_all_outputs, or for constants).
  const Tensor& tensor(int v) const { return tensors_[static_cast<size_t>(v)]; }
  // Shape of value v after reshape.
  const Shape& shape(int v) const { return tensors_[static_cast<size_t>(v)].shape(); }
  bool is_folded(int v) const { return folded_[static_cast<size_t>(v)] != 0; }
  // One line per executed node: name, op, backend, and for a node that falls back to ref, why.
  std::vector<std::string> describe() const;
  size_t arena_bytes() const { return arena_bytes_; }
  // For INT8 plans: the precision chosen for every ONNX node, and why.
  const QuantizeReport& quantize_report() const { return qreport_; }
  bool is_int8() const { return !opt_.int8_amax.empty(); }

 private:
  Plan() = default;
  void create_kernels();  // one kernel per node of graph_: backend_ where it supports the node, else ref_
  void create_kernel(size_t node);
  void bind_inputs(const std::vector<Tensor>& inputs);  // reshapes when their shapes changed
  struct Step {
    int node;
    std::unique_ptr<Kernel> kernel;
    const char* backend;
    std::vector<const Tensor*> in;
    std::vector<Tensor*> out;
  };
  Graph graph_;
  PlanOptions opt_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Backend> ref_;
  std::vector<std::unique_ptr<Kernel>> kernels_;  // per node
  std::vector<const char*> kernel_backend_;       // per node
  std::vector<std::string> fallback_;             // per node: why it runs on ref while the backend is not ref
  std::vector<Step> steps_;                       // after reshape: non-folded nodes
  std::vector<Tensor> tensors_;                   // per value
  std::vector<char> folded_;                      // per value: known before run
  std::vector<Shape> in_shapes_;
  std::vector<std::shared_ptr<void>> buffers_;
  size_t arena_bytes_ = 0;
  bool reshaped_ = false;
  QuantizeReport qreport_;
  std::shared_ptr<const Graph> prequant_;  // rescalable INT8 plans: the graph before quantization
  std::shared_ptr<WeightCache> weights_;   // rescalable INT8 plans: prequant_'s weights quantized
  std::vector<int> step_of_value_;         // after reshape: the step that computes a value, or -1
};

// Runs `g` once on the reference backend, unfused: the oracle for tests.
std::vector<Tensor> run_reference(const Graph& g, const std::vector<Tensor>& inputs);

}  // namespace octet
