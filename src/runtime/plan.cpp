#include "runtime/plan.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "backends/ref/propagate.h"
#include "passes/pipeline.h"

namespace octet {

namespace {

CompileOptions compile_options(const PlanOptions& opt) {
  CompileOptions co;
  co.fold_batchnorm = opt.fold_batchnorm;
  co.fuse = opt.fuse;
  co.channels_last = opt.channels_last;
  co.int8_amax = opt.int8_amax;
  co.fp32_layers = opt.fp32_layers;
  co.keep_unfused = opt.keep_unfused;
  return co;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.raw() == b.raw() || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool same_attr(const Attr& a, const Attr& b) {
  if (a.kind != b.kind || a.i != b.i || std::memcmp(&a.f, &b.f, sizeof(float)) != 0 || a.s != b.s ||
      a.ints != b.ints || !same_floats(a.floats, b.floats) || a.strings != b.strings)
    return false;
  if (a.t.defined() != b.t.defined()) return false;
  return !a.t.defined() || same_bytes(a.t, b.t);
}

bool same_attrs(const std::map<std::string, Attr>& a, const std::map<std::string, Attr>& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
    if (i->first != j->first || !same_attr(i->second, j->second)) return false;
  return true;
}

// The same nodes, values and wiring; attribute values and constant data may differ.
bool same_structure(const Graph& a, const Graph& b) {
  if (a.nodes.size() != b.nodes.size() || a.values.size() != b.values.size() || a.inputs != b.inputs ||
      a.outputs != b.outputs)
    return false;
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node &x = a.nodes[i], &y = b.nodes[i];
    if (x.op != y.op || x.name != y.name || x.inputs != y.inputs || x.outputs != y.outputs ||
        x.post.act != y.post.act || x.post.alpha != y.post.alpha || x.post.beta != y.post.beta ||
        x.post.residual_input != y.post.residual_input || x.attrs.size() != y.attrs.size())
      return false;
    for (auto p = x.attrs.begin(), q = y.attrs.begin(); p != x.attrs.end(); ++p, ++q)
      if (p->first != q->first || p->second.kind != q->second.kind) return false;
  }
  for (size_t v = 0; v < a.values.size(); ++v) {
    const Value &x = a.values[v], &y = b.values[v];
    if (x.name != y.name || x.dtype != y.dtype || x.producer != y.producer || x.layout_of != y.layout_of ||
        x.constant.has_value() != y.constant.has_value())
      return false;
    if (x.constant && (x.constant->dtype() != y.constant->dtype() || x.constant->shape() != y.constant->shape()))
      return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Plan> Plan::build(Graph g, const PlanOptions& opt) {
  std::unique_ptr<Plan> p(new Plan());
  p->opt_ = opt;
  p->backend_ = make_backend(opt.backend, opt.backend_options ? *opt.backend_options : BackendOptions::from_environment());
  p->ref_ = make_ref_backend();
  CompileOptions co = compile_options(opt);
  const BackendTraits traits{p->backend_->preferred_layout()};
  Graph pre = compile_before_quantize(std::move(g), co, traits);
  if (opt.rescalable && !opt.int8_amax.empty()) {
    p->prequant_ = std::make_shared<const Graph>(pre);
    p->weights_ = std::make_shared<WeightCache>();
    co.weight_cache = p->weights_.get();
  }
  CompiledGraph c = compile_from_quantize(std::move(pre), co, traits);
  p->qreport_ = std::move(c.report);
  p->graph_ = std::move(c.graph);
  p->create_kernels();
  return p;
}

Plan::ScaleUpdate Plan::update_int8_amax(const std::map<std::string, float>& amax) {
  OCTET_CHECK(prequant_, "Plan::update_int8_amax: the plan is not an INT8 plan built with PlanOptions::rescalable");
  OCTET_CHECK(!amax.empty(), "Plan::update_int8_amax: no amax values (an FP32 plan is another build)");
  PlanOptions o = opt_;
  o.int8_amax = amax;
  CompileOptions co = compile_options(o);
  co.weight_cache = weights_.get();
  CompiledGraph c = compile_from_quantize(Graph(*prequant_), co, BackendTraits{backend_->preferred_layout()});
  ScaleUpdate u;
  if (!same_structure(graph_, c.graph)) {
    kernels_.clear();  // they refer to graph_'s nodes
    kernel_backend_.clear();
    fallback_.clear();
    steps_.clear();
    graph_ = std::move(c.graph);
    qreport_ = std::move(c.report);
    opt_ = o;
    create_kernels();
    if (reshaped_) reshape(in_shapes_);
    u.rebuilt = true;
    u.kernels = static_cast<int>(kernels_.size());
    return u;
  }
  Graph& G = graph_;
  std::vector<char> value_changed(G.values.size(), 0);
  for (size_t v = 0; v < G.values.size(); ++v)
    if (G.values[v].constant && !same_bytes(*G.values[v].constant, *c.graph.values[v].constant)) {
      value_changed[v] = 1;
      G.values[v].constant = c.graph.values[v].constant;
    }
  std::vector<size_t> changed;
  for (size_t i = 0; i < G.nodes.size(); ++i) {
    Node& n = G.nodes[i];
    bool differs = !same_attrs(n.attrs, c.graph.nodes[i].attrs);
    for (int in : n.inputs) differs = differs || (in >= 0 && value_changed[static_cast<size_t>(in)]);
    if (!differs) continue;
    n.attrs = c.graph.nodes[i].attrs;
    changed.push_back(i);
  }
  qreport_ = std::move(c.report);
  opt_ = o;
  std::vector<int> old_inplace;
  for (size_t i : changed) old_inplace.push_back(kernels_[i]->inplace_input());
  for (size_t i : changed) create_kernel(i);
  u.kernels = static_cast<int>(changed.size());
  if (!reshaped_) return u;
  // Only the changed steps are prepared again, unless a changed node or constant feeds what reshape() folded,
  // or a kernel's wish to write into its input changed the buffer plan.
  std::vector<int> step_of_node(G.nodes.size(), -1);
  for (size_t s = 0; s < steps_.size(); ++s) step_of_node[static_cast<size_t>(steps_[s].node)] = static_cast<int>(s);
  bool again = false;
  for (size_t k = 0; k < changed.size(); ++k)
    again = again || step_of_node[changed[k]] < 0 || kernels_[changed[k]]->inplace_input() != old_inplace[k];
  for (size_t i = 0; i < G.nodes.size() && !again; ++i)
    if (step_of_node[i] < 0)
      for (int in : G.nodes[i].inputs) again = again || (in >= 0 && value_changed[static_cast<size_t>(in)]);
  if (again) {
    reshape(in_shapes_);
    return u;
  }
  for (size_t v = 0; v < G.values.size(); ++v)
    if (value_changed[v]) tensors_[v] = *G.values[v].constant;
  u.first_step = steps_.size();
  for (size_t i : changed) {
    Step& st = steps_[static_cast<size_t>(step_of_node[i])];
    kernels_[i]->prepare(st.in, st.out);
    u.first_step = std::min(u.first_step, static_cast<size_t>(step_of_node[i]));
  }
  return u;
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
  kernels_.resize(graph_.nodes.size());
  kernel_backend_.resize(graph_.nodes.size());
  fallback_.resize(graph_.nodes.size());
  for (size_t i = 0; i < graph_.nodes.size(); ++i) create_kernel(i);
}

void Plan::create_kernel(size_t i) {
  const Graph& G = graph_;
  const Node& n = G.nodes[i];
  bool fast = backend_->supports(G, n);
  Backend& b = fast ? *backend_ : *ref_;
  kernels_[i].reset();
  kernels_[i] = b.create(G, n);
  kernel_backend_[i] = b.name();
  fallback_[i] = fast || std::string(backend_->name()) == "ref" ? std::string() : std::string(backend_->name()) + " does not support it";
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

  step_of_value_.assign(G.values.size(), -1);
  for (int ni : exec) {
    const Node& n = G.nodes[static_cast<size_t>(ni)];
    for (int out : n.outputs) step_of_value_[static_cast<size_t>(out)] = static_cast<int>(steps_.size());
    Step st{ni, nullptr, kernel_backend_[static_cast<size_t>(ni)], {}, {}};
    for (int in : n.inputs) st.in.push_back(in < 0 ? nullptr : &tensors_[static_cast<size_t>(in)]);
    for (int out : n.outputs) st.out.push_back(&tensors_[static_cast<size_t>(out)]);
    kernels_[static_cast<size_t>(ni)]->prepare(st.in, st.out);
    steps_.push_back(std::move(st));
  }
}

void Plan::bind_inputs(const std::vector<Tensor>& inputs) {
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
}

std::vector<Tensor> Plan::run(const std::vector<Tensor>& inputs, const Observer* observer) {
  const Graph& G = graph_;
  bind_inputs(inputs);
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

std::vector<Tensor> Plan::saved_tensors() const {
  OCTET_CHECK(opt_.keep_all_outputs, "Plan::saved_tensors: the plan does not keep its tensors (keep_all_outputs)");
  std::vector<Tensor> saved(tensors_.size());
  for (const Step& st : steps_)
    for (int out : graph_.nodes[static_cast<size_t>(st.node)].outputs)
      if (tensors_[static_cast<size_t>(out)].defined()) saved[static_cast<size_t>(out)] = tensors_[static_cast<size_t>(out)].clone();
  return saved;
}

std::vector<int> Plan::live_values(size_t step) const {
  OCTET_CHECK(reshaped_, "Plan::live_values: the plan has not been reshaped");
  const Graph& G = graph_;
  std::vector<char> live(G.values.size(), 0);
  auto mark = [&](int v) {
    if (v >= 0 && step_of_value_[static_cast<size_t>(v)] >= 0 && static_cast<size_t>(step_of_value_[static_cast<size_t>(v)]) < step)
      live[static_cast<size_t>(v)] = 1;
  };
  for (size_t s = step; s < steps_.size(); ++s)
    for (int in : G.nodes[static_cast<size_t>(steps_[s].node)].inputs) mark(in);
  for (int v : G.outputs) mark(v);
  std::vector<int> out;
  for (size_t v = 0; v < live.size(); ++v)
    if (live[v]) out.push_back(static_cast<int>(v));
  return out;
}

std::vector<Tensor> Plan::run_from(size_t first_step, const std::vector<Tensor>& inputs, const std::vector<Tensor>& saved,
                                   size_t snapshot_step, std::vector<Tensor>* snapshot) {
  const Graph& G = graph_;
  bind_inputs(inputs);
  first_step = std::min(first_step, steps_.size());
  OCTET_CHECK(!snapshot || (snapshot_step >= first_step && snapshot_step <= steps_.size()), "Plan::run_from: snapshot at step ",
              snapshot_step, " outside the run's steps ", first_step, "..", steps_.size());
  if (first_step > 0) {
    OCTET_CHECK(saved.size() == tensors_.size(), "Plan::run_from: ", saved.size(), " saved tensors for a plan of ",
                tensors_.size(), " values");
    // The values computed before first_step that the later steps read or the caller gets back. (In a plan that
    // does not keep its tensors, these are live at first_step, so no other value shares their buffers yet.)
    for (int v : live_values(first_step)) {
      const Tensor& from = saved[static_cast<size_t>(v)];
      Tensor& to = tensors_[static_cast<size_t>(v)];
      OCTET_CHECK(from.defined(), "Plan::run_from: value '", G.value(v).name, "' (computed before step ", first_step,
                  ") was not saved");
      OCTET_CHECK(from.dtype() == to.dtype() && from.shape() == to.shape(), "Plan::run_from: saved value '",
                  G.value(v).name, "' is ", shape_str(from.shape()), ", the plan's ", shape_str(to.shape()));
      if (from.raw() != to.raw()) std::memcpy(to.raw(), from.raw(), to.nbytes());
    }
  }
  auto take_snapshot = [&]() {
    snapshot->assign(tensors_.size(), Tensor());
    for (int v : live_values(snapshot_step)) (*snapshot)[static_cast<size_t>(v)] = tensors_[static_cast<size_t>(v)].clone();
  };
  for (size_t s = first_step; s < steps_.size(); ++s) {
    if (snapshot && s == snapshot_step) take_snapshot();
    Step& st = steps_[s];
    kernels_[static_cast<size_t>(st.node)]->run(st.in, st.out);
    if (opt_.keep_all_outputs) kernels_[static_cast<size_t>(st.node)]->to_host(st.out);
  }
  if (snapshot && snapshot_step == steps_.size()) take_snapshot();
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
