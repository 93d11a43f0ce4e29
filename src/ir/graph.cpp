#include "ir/graph.h"

#include <algorithm>
#include <queue>
#include <sstream>

namespace octet {

namespace {
struct OpInfo {
  const char* name;
  OpGroup group;
};
constexpr OpInfo kOps[] = {
#define OCTET_OP(name, group) {#name, OpGroup::group},
#include "ir/ops.inc"
#undef OCTET_OP
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == kOpCount, "op table out of sync with ops.inc");
}  // namespace

const char* op_name(OpType op) { return kOps[static_cast<int>(op)].name; }
OpGroup op_group(OpType op) { return kOps[static_cast<int>(op)].group; }

std::optional<OpType> op_from_name(const std::string& name) {
  for (int i = 0; i < kOpCount; ++i)
    if (name == kOps[i].name) return static_cast<OpType>(i);
  return std::nullopt;
}

int64_t Node::attr_i(const std::string& k, int64_t def) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? def : it->second.i;
}
float Node::attr_f(const std::string& k, float def) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? def : it->second.f;
}
std::string Node::attr_s(const std::string& k, const std::string& def) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? def : it->second.s;
}
std::vector<int64_t> Node::attr_ints(const std::string& k, std::vector<int64_t> def) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? def : it->second.ints;
}
std::vector<float> Node::attr_floats(const std::string& k, std::vector<float> def) const {
  auto it = attrs.find(k);
  return it == attrs.end() ? def : it->second.floats;
}
std::string Node::describe() const { return "node '" + name + "' (" + op_name(op) + ")"; }

int Graph::find(const std::string& value_name) const {
  auto it = by_name_.find(value_name);
  return it == by_name_.end() ? -1 : it->second;
}

int Graph::add_value(const std::string& name, DType dtype) {
  OCTET_CHECK(find(name) < 0, "tensor name '", name, "' is defined twice");
  Value v;
  v.name = name;
  v.dtype = dtype;
  values.push_back(std::move(v));
  int idx = static_cast<int>(values.size()) - 1;
  by_name_[name] = idx;
  return idx;
}

int Graph::add_constant(const std::string& name, Tensor t) {
  int v = add_value(name, t.dtype());
  values[static_cast<size_t>(v)].constant = std::move(t);
  return v;
}

std::string Graph::unique_name(const std::string& base) {
  std::string n = base;
  while (find(n) >= 0) n = base + "__" + std::to_string(++uniq_);
  return n;
}

bool Graph::is_graph_output(int v) const {
  return std::find(outputs.begin(), outputs.end(), v) != outputs.end();
}

std::vector<std::vector<int>> Graph::consumers() const {
  std::vector<std::vector<int>> c(values.size());
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int in : nodes[n].inputs)
      if (in >= 0 && (c[static_cast<size_t>(in)].empty() || c[static_cast<size_t>(in)].back() != static_cast<int>(n)))
        c[static_cast<size_t>(in)].push_back(static_cast<int>(n));
  return c;
}

void Graph::finalize() {
  // 1. Dead-node removal: keep nodes reachable backwards from the graph outputs.
  std::vector<int> producer(values.size(), -1);
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int out : nodes[n].outputs) {
      if (out < 0) continue;
      OCTET_CHECK(producer[static_cast<size_t>(out)] < 0, "tensor '", values[static_cast<size_t>(out)].name,
                  "' is produced by two nodes: '", nodes[static_cast<size_t>(producer[static_cast<size_t>(out)])].name,
                  "' and '", nodes[n].name, "'");
      producer[static_cast<size_t>(out)] = static_cast<int>(n);
    }
  std::vector<char> live(nodes.size(), 0);
  std::vector<int> stack;
  for (int o : outputs)
    if (producer[static_cast<size_t>(o)] >= 0) stack.push_back(producer[static_cast<size_t>(o)]);
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (live[static_cast<size_t>(n)]) continue;
    live[static_cast<size_t>(n)] = 1;
    for (int in : nodes[static_cast<size_t>(n)].inputs)
      if (in >= 0 && producer[static_cast<size_t>(in)] >= 0) stack.push_back(producer[static_cast<size_t>(in)]);
  }
  std::vector<Node> kept;
  for (size_t n = 0; n < nodes.size(); ++n)
    if (live[n]) kept.push_back(std::move(nodes[n]));
  nodes = std::move(kept);

  // 2. Topological order (Kahn), stable with respect to the file order.
  std::fill(producer.begin(), producer.end(), -1);
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int out : nodes[n].outputs)
      if (out >= 0) producer[static_cast<size_t>(out)] = static_cast<int>(n);
  std::vector<int> indeg(nodes.size(), 0);
  std::vector<std::vector<int>> succ(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int in : nodes[n].inputs) {
      if (in < 0) continue;
      int p = producer[static_cast<size_t>(in)];
      if (p >= 0) {
        ++indeg[n];
        succ[static_cast<size_t>(p)].push_back(static_cast<int>(n));
      } else if (!values[static_cast<size_t>(in)].constant &&
                 std::find(inputs.begin(), inputs.end(), in) == inputs.end()) {
        fail(nodes[n].describe(), " reads tensor '", values[static_cast<size_t>(in)].name,
             "' which no node produces and which is neither a graph input nor an initializer");
      }
    }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t n = 0; n < nodes.size(); ++n)
    if (indeg[n] == 0) ready.push(static_cast<int>(n));
  std::vector<int> order;
  while (!ready.empty()) {
    int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int s : succ[static_cast<size_t>(n)])
      if (--indeg[static_cast<size_t>(s)] == 0) ready.push(s);
  }
  if (order.size() != nodes.size()) {
    std::ostringstream os;
    int shown = 0;
    for (size_t n = 0; n < nodes.size() && shown < 5; ++n)
      if (indeg[n] > 0) os << (shown++ ? ", " : "") << "'" << nodes[n].name << "'";
    fail("the graph has a cycle through nodes ", os.str());
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (int n : order) sorted.push_back(std::move(nodes[static_cast<size_t>(n)]));
  nodes = std::move(sorted);
  for (auto& v : values) v.producer = -1;
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int out : nodes[n].outputs)
      if (out >= 0) values[static_cast<size_t>(out)].producer = static_cast<int>(n);
  for (int o : outputs)
    OCTET_CHECK(values[static_cast<size_t>(o)].producer >= 0 || values[static_cast<size_t>(o)].constant ||
                    std::find(inputs.begin(), inputs.end(), o) != inputs.end(),
                "graph output '", values[static_cast<size_t>(o)].name, "' is produced by no node");
}

int64_t declared_batch(const Graph& g) {
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    if (!val.declared.empty() && val.declared[0].value >= 0) return val.declared[0].value;
  }
  return -1;
}

}  // namespace octet
