#include "runtime/plan.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "backends/ref/propagate.h"
#include "passes/pipeline.h"

namespace octet {

std::unique_ptr<Plan> Plan::build(Graph g, const PlanOptions& opt) {
  std::unique_ptr<Plan> p(new Plan());
  p->opt_ = opt;
  p->backend_ = make_backend(opt.backend, opt.backend_options ? *opt.backend_options : BackendOptions::from_environment());
  p->ref_ = make_ref_backend();
  CompileOptions co;
  co.fold_batchnorm = opt.fold_batchnorm;
  co.fuse = opt.fuse;
  co.channels_last = opt.channels_last;
  co.int8_amax = opt.int8_amax;
  co.fp32_layers = opt.fp32_layers;
  co.keep_unfused = opt.keep_unfused;
  CompiledGraph c = compile(std::move(g), co, BackendTraits{p->backend_->preferred_layout()});
  p->qreport_ = std::move(c.report);
  p->graph_ = std::move(c.graph);
  p->create_kernels();
  return p;
}

std::unique_ptr<Plan> Plan::from_optimized(Graph g, const PlanOptions& opt, QuantizeReport report) {
  std::unique_ptr<Plan> p(new Plan());
  p->opt_ = opt;
  p->backend_ = make_backend(opt.backend, opt.backend_options ? *opt.backend_options : BackendOptions::from_environment());
  p->ref_ = make_ref_backend();
  p->qreport_ = std::move(report);
  p->graph_ = std::move(g);
  p->create_kernels();
  return p;
}

void Plan::create_kernels() {
  const Graph& G = graph_;
  for (const Node& n : G.nodes) {
    bool fast = backend_->supports(G, n);
    Backend& b = fast ? *backend_ : *ref_;
    kernels_.push_back(b.create(G, n));
    kernel_backend_.push_back(b.name());
    fallback_.push_back(fast || std::string(backend_->name()) == "ref" ? std::string() : std::string(backend_->name()) + " does not support it");
  }
}

std::vector<Shape> Plan::input_shapes(int64_t batch) const {
  std::vector<Shape> shapes;
  for (int v : graph_.inputs) {
    const Value& val = graph_.value(v);
    OCTET_CHECK(val.has_declared_shape, "input '", val.name, "' has no declared shape; give one explicitly");
    Shape s;
    for (size_t i = 0; i < val.declared.size(); ++i) {
      const Dim& d = val.declared[i];
      if (d.value >= 0) s.push_back(d.value);
      else if (i == 0) s.push_back(batch);
      else fail("input '", val.name, "' has symbolic dimension '", d.symbol, "' at position ", i,
                "; give the input shape explicitly (octet's --shapes ", val.name,
                ":DIMS, e.g. 1x3x480x640) or data of the size it takes");
    }
    shapes.push_back(s);
  }
  return shapes;
}

void Plan::reshape(const std::vector<Shape>& input_shapes) {
  const Graph& G = graph_;
  Propagation prop = propagate(G, input_shapes);
  in_shapes_ = input_shapes;
  reshaped_ = true;
  steps_.clear();
  tensors_ = prop.data;
  folded_ = prop.known;
  const std::vector<int>& exec = prop.exec;
  struct Info { DType dtype; Shape shape; };
  std::vector<Info> info(G.values.size());
  for (size_t v = 0; v < G.values.size(); ++v) info[v] = {prop.dtype[v], prop.shape[v]};
  // Inputs have their shape (no data yet) when kernels prepare.
  for (int v : G.inputs)
    tensors_[static_cast<size_t>(v)] = Tensor::view(prop.dtype[static_cast<size_t>(v)], prop.shape[static_cast<size_t>(v)], nullptr);

  // Buffer assignment: greedy reuse of freed buffers (best fit by size).
  std::vector<int> last_use(G.values.size(), -1);
  for (size_t s = 0; s < exec.size(); ++s)
    for (int in : G.nodes[static_cast<size_t>(exec[s])].inputs)
      if (in >= 0) last_use[static_cast<size_t>(in)] = static_cast<int>(s);
  std::multimap<size_t, std::shared_ptr<void>> free_bufs;
  arena_bytes_ = 0;
  auto take = [&](size_t bytes) {
    auto it = free_bufs.lower_bound(bytes);
    if (it != free_bufs.end() && it->first <= bytes * 2 + 4096) {
      auto b = std::make_pair(it->second, it->first);
      free_bufs.erase(it);
      return b;
    }
    arena_bytes_ += bytes;
    return std::make_pair(aligned_alloc_shared(bytes), bytes);
  };
  std::vector<size_t> buf_size(G.values.size(), 0);
  std::vector<std::shared_ptr<void>> buf_of(G.values.size());
  for (size_t s = 0; s < exec.size(); ++s) {
    const Node& n = G.nodes[static_cast<size_t>(exec[s])];
    // In place (Kernel::inplace_input): output 0 takes the buffer of an input that dies here.
    int alias = -1;
    if (!opt_.keep_all_outputs && !n.outputs.empty()) {
      const int i = kernels_[static_cast<size_t>(exec[s])]->inplace_input();
      const int in = i >= 0 && static_cast<size_t>(i) < n.inputs.size() ? n.inputs[static_cast<size_t>(i)] : -1;
      const size_t o = static_cast<size_t>(n.outputs[0]);
      if (in >= 0 && buf_of[static_cast<size_t>(in)] && last_use[static_cast<size_t>(in)] == static_cast<int>(s) &&
          !G.is_graph_output(in) && std::count(n.inputs.begin(), n.inputs.end(), in) == 1 &&
          numel(info[o].shape) * static_cast<int64_t>(dtype_size(info[o].dtype)) ==
              numel(info[static_cast<size_t>(in)].shape) * static_cast<int64_t>(dtype_size(info[static_cast<size_t>(in)].dtype)))
        alias = in;
    }
    for (int out : n.outputs) {
      size_t v = static_cast<size_t>(out);
      if (alias >= 0 && out == n.outputs[0]) {
        const size_t a = static_cast<size_t>(alias);
        buf_of[v] = std::move(buf_of[a]);
        buf_size[v] = buf_size[a];
        buf_of[a].reset();
        tensors_[v] = Tensor::view(info[v].dtype, info[v].shape, buf_of[v].get(), buf_of[v]);
        continue;
      }
      size_t bytes = static_cast<size_t>(numel(info[v].shape)) * dtype_size(info[v].dtype);
      auto [buf, cap] = take(std::max<size_t>(bytes, 64));
      buf_of[v] = buf;
      buf_size[v] = cap;
      tensors_[v] = Tensor::view(info[v].dtype, info[v].shape, buf.get(), buf);
    }
    if (opt_.keep_all_outputs) continue;
    for (int in : n.inputs) {
      if (in < 0) continue;
      size_t v = static_cast<size_t>(in);
      if (last_use[v] == static_cast<int>(s) && buf_of[v] && !G.is_graph_output(in)) {
        free_bufs.emplace(buf_size[v], buf_of[v]);
        buf_of[v].reset();
      }
    }
    // Outputs nobody reads (optional outputs) are released right away.
    for (int out : n.outputs) {
      size_t v = static_cast<size_t>(out);
      if (last_use[v] < 0 && !G.is_graph_output(out) && buf_of[v]) {
        free_bufs.emplace(buf_size[v], buf_of[v]);
        buf_of[v].reset();
      }
    }
  }

  for (int ni : exec) {
    const Node& n = G.nodes[static_cast<size_t>(ni)];
    Step st{ni, nullptr, kernel_backend_[static_cast<size_t>(ni)], {}, {}};
    for (int in : n.inputs) st.in.push_back(in < 0 ? nullptr : &tensors_[static_cast<size_t>(in)]);
    for (int out : n.outputs) st.out.push_back(&tensors_[static_cast<size_t>(out)]);
    kernels_[static_cast<size_t>(ni)]->prepare(st.in, st.out);
    steps_.push_back(std::move(st));
  }
}

std::vector<Tensor> Plan::run(const std::vector<Tensor>& inputs, const Observer* observer) {
  const Graph& G = graph_;
  OCTET_CHECK(inputs.size() == G.inputs.size(), "the model has ", G.inputs.size(), " inputs, ", inputs.size(),
              " given");
  bool same = reshaped_ && in_shapes_.size() == inputs.size();
  for (size_t i = 0; same && i < inputs.size(); ++i) same = inputs[i].shape() == in_shapes_[i];
  if (!same) {
    std::vector<Shape> s;
    for (const auto& t : inputs) s.push_back(t.shape());
    reshape(s);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& val = G.value(G.inputs[i]);
    OCTET_CHECK(inputs[i].dtype() == val.dtype, "input '", val.name, "' expects ", dtype_name(val.dtype), ", got ",
                dtype_name(inputs[i].dtype()));
    tensors_[static_cast<size_t>(G.inputs[i])] = inputs[i];
  }
  if (observer)
    for (int v : G.inputs) (*observer)(v, tensors_[static_cast<size_t>(v)]);
  for (Step& st : steps_) {
    kernels_[static_cast<size_t>(st.node)]->run(st.in, st.out);
    if (observer || opt_.keep_all_outputs) kernels_[static_cast<size_t>(st.node)]->to_host(st.out);
    if (observer)
      for (int out : G.nodes[static_cast<size_t>(st.node)].outputs) (*observer)(out, tensors_[static_cast<size_t>(out)]);
  }
  std::vector<Tensor> outs;
  for (int v : G.outputs) outs.push_back(tensors_[static_cast<size_t>(v)]);
  return outs;
}

std::vector<std::string> Plan::describe() const {
  std::vector<std::string> lines;
  for (const Step& st : steps_) {
    const Node& n = graph_.nodes[static_cast<size_t>(st.node)];
    std::string post;
    if (n.post.residual_input >= 0) post += "+Add";
    if (n.post.act != Activation::None) post += "+Act";
    std::string why = fallback_[static_cast<size_t>(st.node)];
    if (why.empty()) why = kernels_[static_cast<size_t>(st.node)]->fallback_reason();
    lines.push_back(n.name + " " + op_name(n.op) + post + " [" + st.backend + "]" + (why.empty() ? "" : " (ref: " + why + ")"));
  }
  return lines;
}

std::vector<Tensor> run_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  PlanOptions opt;
  opt.backend = "ref";
  opt.fold_batchnorm = false;
  opt.fuse = false;
  auto plan = Plan::build(g, opt);
  std::vector<Tensor> outs;
  for (const auto& t : plan->run(inputs)) outs.push_back(t.clone());
  return outs;
}

}  // namespace octet
