// Plan file writer and (untrusted-input) reader; the format is documented in plan_file.h.
#include "runtime/plan_file.h"

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

#include "core/file_io.h"

namespace octet {

static_assert(std::endian::native == std::endian::little, "plan files are little-endian; add byte swaps here");

namespace {

constexpr size_t kMaxRank = 64;  // sanity bound for shapes (no op has more)

// FNV-1a 64 over 8-byte words in 4 interleaved lanes (a bytewise FNV runs at ~4 cycles/byte; this at ~1/8
// of that), tail bytes into lane 0, lanes and length folded together bytewise. Each step h = (h ^ w) * p is a
// bijection of h for a fixed w, so one changed word always changes its lane's final state. Guards against
// corruption, not against forgery.
uint64_t checksum(const char* p, size_t n) {
  constexpr uint64_t kPrime = 1099511628211ull, kBasis = 14695981039346656037ull;
  uint64_t lane[4] = {kBasis, kBasis ^ 1, kBasis ^ 2, kBasis ^ 3};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * k, 8);
      lane[k] = (lane[k] ^ w) * kPrime;
    }
  for (; i < n; ++i) lane[0] = (lane[0] ^ static_cast<unsigned char>(p[i])) * kPrime;
  uint64_t h = kBasis;
  auto fold = [&](uint64_t w) {
    for (int b = 0; b < 8; ++b) h = (h ^ ((w >> (8 * b)) & 0xff)) * kPrime;
  };
  for (uint64_t l : lane) fold(l);
  fold(static_cast<uint64_t>(n));
  return h;
}

// ---------------------------------------------------------------------------------------------- writing

class Writer {
 public:
  std::string out;
  template <typename T> void pod(T v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void u8(uint8_t v) { pod(v); }
  void u32(uint32_t v) { pod(v); }
  void i32(int32_t v) { pod(v); }
  void i64(int64_t v) { pod(v); }
  void u64(uint64_t v) { pod(v); }
  void f32(float v) { pod(v); }
  void count(size_t n) {
    OCTET_CHECK(n <= std::numeric_limits<uint32_t>::max(), "plan file: ", n, " entries do not fit a u32 count");
    u32(static_cast<uint32_t>(n));
  }
  void str(const std::string& s) {
    count(s.size());
    out.append(s);
  }
  void index(int v) { i32(static_cast<int32_t>(v)); }
  void tensor(const Tensor& t) {
    u8(static_cast<uint8_t>(dtype_to_onnx(t.dtype())));
    count(t.shape().size());
    for (int64_t d : t.shape()) i64(d);
    u64(t.nbytes());
    if (t.nbytes()) out.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
};

void write_attr(Writer& w, const Attr& a) {
  w.u8(static_cast<uint8_t>(a.kind));
  uint8_t mask = (a.i != 0 ? 1 : 0) | (std::bit_cast<uint32_t>(a.f) != 0 ? 2 : 0) | (!a.s.empty() ? 4 : 0) |
                 (!a.ints.empty() ? 8 : 0) | (!a.floats.empty() ? 16 : 0) | (!a.strings.empty() ? 32 : 0) |
                 (a.t.defined() ? 64 : 0);
  w.u8(mask);
  if (mask & 1) w.i64(a.i);
  if (mask & 2) w.f32(a.f);
  if (mask & 4) w.str(a.s);
  if (mask & 8) {
    w.count(a.ints.size());
    for (int64_t x : a.ints) w.i64(x);
  }
  if (mask & 16) {
    w.count(a.floats.size());
    for (float x : a.floats) w.f32(x);
  }
  if (mask & 32) {
    w.count(a.strings.size());
    for (const auto& s : a.strings) w.str(s);
  }
  if (mask & 64) w.tensor(a.t);
}

// The passes leave values nobody reads any more in Graph::values (e.g. the FP32 weights of a QConv, which now
// reads their int8 copy). A plan keeps only what runs: values read or written by a node and the graph's
// inputs and outputs, with their data; and, name and shape only, the values `layout_of` points at. Indices
// are renumbered in order. (Saving a loaded plan writes the same bytes again.)
void write_graph(Writer& w, const Graph& g) {
  const size_t nv = g.values.size();
  std::vector<char> keep(nv, 0);  // 0 dropped, 1 name only (layout_of target), 2 whole value
  for (const Node& n : g.nodes) {
    for (int v : n.inputs)
      if (v >= 0) keep[static_cast<size_t>(v)] = 2;
    for (int v : n.outputs) keep[static_cast<size_t>(v)] = 2;
  }
  for (int v : g.inputs) keep[static_cast<size_t>(v)] = 2;
  for (int v : g.outputs) keep[static_cast<size_t>(v)] = 2;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t v = 0; v < nv; ++v) {
      int t = g.values[v].layout_of;
      if (keep[v] && t >= 0 && !keep[static_cast<size_t>(t)]) keep[static_cast<size_t>(t)] = 1, changed = true;
    }
  }
  std::vector<int> idx(nv, -1);
  size_t kept = 0;
  for (size_t v = 0; v < nv; ++v)
    if (keep[v]) idx[v] = static_cast<int>(kept++);
  auto ix = [&](int v) { return v < 0 ? -1 : idx[static_cast<size_t>(v)]; };

  w.str(g.name);
  w.i64(g.opset);
  w.count(kept);
  for (size_t i = 0; i < nv; ++i) {
    if (!keep[i]) continue;
    const Value& v = g.values[i];
    w.str(v.name);
    w.u8(static_cast<uint8_t>(dtype_to_onnx(v.dtype)));
    w.u8(v.has_declared_shape);
    w.count(v.declared.size());
    for (const Dim& d : v.declared) {
      w.i64(d.value);
      w.str(d.symbol);
    }
    w.index(ix(v.layout_of));
    bool data = v.constant.has_value() && keep[i] == 2;
    w.u8(data);
    if (data) w.tensor(*v.constant);
  }
  w.count(g.nodes.size());
  for (const Node& n : g.nodes) {
    w.str(op_name(n.op));
    w.str(n.name);
    w.count(n.inputs.size());
    for (int v : n.inputs) w.index(ix(v));
    w.count(n.outputs.size());
    for (int v : n.outputs) w.index(ix(v));
    w.count(n.attrs.size());
    for (const auto& [k, a] : n.attrs) {
      w.str(k);
      write_attr(w, a);
    }
    w.u8(static_cast<uint8_t>(n.post.act));
    w.f32(n.post.alpha);
    w.f32(n.post.beta);
    w.index(n.post.residual_input);
    w.count(n.post.fused_names.size());
    for (const auto& s : n.post.fused_names) w.str(s);
  }
  w.count(g.inputs.size());
  for (int v : g.inputs) w.index(ix(v));
  w.count(g.outputs.size());
  for (int v : g.outputs) w.index(ix(v));
}

// ---------------------------------------------------------------------------------------------- reading

class Reader {
 public:
  Reader(std::string_view b, const std::string& what) : b_(b), what_(what) {}
  template <typename... A> [[noreturn]] void bad(A&&... a) const {
    fail("cannot load plan '", what_, "': ", std::forward<A>(a)..., " (at byte ", pos_, ")");
  }
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }
  void need(uint64_t n, const char* field) const {
    if (n > left()) bad("truncated file: ", field, " needs ", n, " bytes, ", left(), " left");
  }
  template <typename T> T pod(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  uint8_t u8(const char* f) { return pod<uint8_t>(f); }
  uint32_t u32(const char* f) { return pod<uint32_t>(f); }
  int64_t i64(const char* f) { return pod<int64_t>(f); }
  uint64_t u64(const char* f) { return pod<uint64_t>(f); }
  float f32(const char* f) { return pod<float>(f); }
  bool boolean(const char* f) {
    uint8_t v = u8(f);
    if (v > 1) bad(f, " is ", int(v), ", expected 0 or 1");
    return v != 0;
  }
  // A count of entries that take at least `min_bytes` each: bounded by the bytes left.
  uint32_t count(const char* f, size_t min_bytes) {
    uint32_t n = u32(f);
    if (static_cast<uint64_t>(n) * min_bytes > left()) bad(f, ": count ", n, " does not fit the ", left(), " bytes left");
    return n;
  }
  std::string str(const char* f, bool nonempty = false) {
    uint32_t n = u32(f);
    need(n, f);
    std::string s(b_.data() + pos_, n);
    pos_ += n;
    if (nonempty && s.empty()) bad(f, " is empty");
    return s;
  }
  // -1 (when allowed) or an index in [0, n).
  int index(const char* f, size_t n, bool allow_none) {
    int32_t v = pod<int32_t>(f);
    if (v == -1 && allow_none) return -1;
    if (v < 0 || static_cast<uint64_t>(v) >= n)
      bad(f, " is ", v, ", outside [", allow_none ? "-1" : "0", ", ", n, ")");
    return v;
  }
  DType dtype(const char* f) {
    uint8_t code = u8(f);
    try {
      return dtype_from_onnx(code);
    } catch (const Error&) {
      bad(f, ": unsupported dtype code ", int(code));
    }
  }
  Tensor tensor(const char* f) {
    DType dt = dtype(f);
    uint32_t rank = count(f, 8);
    if (rank > kMaxRank) bad(f, ": rank ", rank, " exceeds ", kMaxRank);
    Shape s(rank);
    int64_t n = 1;
    for (auto& d : s) {
      d = i64(f);
      if (d < 0) bad(f, ": negative dimension ", d);
      if (d > 0 && n > std::numeric_limits<int64_t>::max() / d) bad(f, ": shape overflows");
      n *= d;
    }
    uint64_t nbytes = u64(f);
    // Check the element count against the bytes left before multiplying (no overflow, no huge allocation).
    if (static_cast<uint64_t>(n) > left()) bad(f, ": ", shape_str(s), " does not fit the ", left(), " bytes left");
    uint64_t expect = static_cast<uint64_t>(n) * dtype_size(dt);
    if (nbytes != expect) bad(f, ": ", nbytes, " data bytes for ", dtype_name(dt), " ", shape_str(s), ", expected ", expect);
    need(nbytes, f);
    Tensor t(dt, s);
    if (nbytes) std::memcpy(t.raw(), b_.data() + pos_, nbytes);
    pos_ += nbytes;
    return t;
  }
  CpuLevel level(const char* f) {
    std::string s = str(f);
    auto l = cpu_level_from_name(s);
    if (!l) bad(f, ": unknown CPU feature level '", s, "'");
    return *l;
  }

 private:
  std::string_view b_;
  const std::string& what_;
  size_t pos_ = 0;
};

Attr read_attr(Reader& r) {
  Attr a;
  uint8_t kind = r.u8("attribute kind");
  if (kind > static_cast<uint8_t>(Attr::Kind::Tensor)) r.bad("unknown attribute kind ", int(kind));
  a.kind = static_cast<Attr::Kind>(kind);
  uint8_t mask = r.u8("attribute fields");
  if (mask & 0x80) r.bad("attribute field mask ", int(mask), " has unknown bits");
  if (mask & 1) a.i = r.i64("attribute int");
  if (mask & 2) a.f = r.f32("attribute float");
  if (mask & 4) a.s = r.str("attribute string");
  if (mask & 8) {
    a.ints.resize(r.count("attribute ints", 8));
    for (auto& x : a.ints) x = r.i64("attribute ints");
  }
  if (mask & 16) {
    a.floats.resize(r.count("attribute floats", 4));
    for (auto& x : a.floats) x = r.f32("attribute floats");
  }
  if (mask & 32) {
    a.strings.resize(r.count("attribute strings", 4));
    for (auto& x : a.strings) x = r.str("attribute strings");
  }
  if (mask & 64) a.t = r.tensor("attribute tensor");
  return a;
}

Graph read_graph(Reader& r) {
  Graph g;
  g.name = r.str("graph name");
  g.opset = r.i64("opset");
  // Smallest encodings: value 16 bytes, node 33 bytes.
  uint32_t nv = r.count("value count", 16);
  g.values.reserve(nv);
  std::vector<int> layout_of(nv);
  for (uint32_t i = 0; i < nv; ++i) {
    std::string name = r.str("value name", /*nonempty=*/true);
    if (g.find(name) >= 0) r.bad("value name '", name, "' appears twice");
    DType dt = r.dtype("value dtype");
    int v = g.add_value(name, dt);
    Value& val = g.value(v);
    val.has_declared_shape = r.boolean("has_declared_shape");
    val.declared.resize(r.count("declared dims", 12));
    if (val.declared.size() > kMaxRank) r.bad("value '", name, "' declares ", val.declared.size(), " dimensions");
    for (Dim& d : val.declared) {
      d.value = r.i64("declared dim");
      d.symbol = r.str("declared dim symbol");
      if (d.value < -1) r.bad("value '", name, "' declares dimension ", d.value);
    }
    layout_of[i] = r.index("layout_of", nv, true);
    if (r.boolean("has_constant")) g.value(v).constant = r.tensor("constant");
  }
  for (uint32_t i = 0; i < nv; ++i) g.values[i].layout_of = layout_of[i];

  uint32_t nn = r.count("node count", 33);
  g.nodes.resize(nn);
  for (Node& n : g.nodes) {
    std::string op = r.str("op name", true);
    auto t = op_from_name(op);
    if (!t) r.bad("unknown op '", op, "'");
    n.op = *t;
    n.name = r.str("node name");
    n.inputs.resize(r.count("node inputs", 4));
    for (int& v : n.inputs) v = r.index("node input", nv, true);
    n.outputs.resize(r.count("node outputs", 4));
    if (n.outputs.empty()) r.bad(n.describe(), " has no outputs");
    for (int& v : n.outputs) v = r.index("node output", nv, false);
    uint32_t na = r.count("attribute count", 6);
    for (uint32_t k = 0; k < na; ++k) {
      std::string key = r.str("attribute name", true);
      Attr a = read_attr(r);
      if (!n.attrs.emplace(key, std::move(a)).second) r.bad(n.describe(), ": attribute '", key, "' appears twice");
    }
    uint8_t act = r.u8("post-op activation");
    if (act > static_cast<uint8_t>(Activation::Silu)) r.bad(n.describe(), ": unknown activation ", int(act));
    n.post.act = static_cast<Activation>(act);
    n.post.alpha = r.f32("post-op alpha");
    n.post.beta = r.f32("post-op beta");
    n.post.residual_input = r.index("post-op residual input", n.inputs.size(), true);
    if (n.post.residual_input >= 0 && n.inputs[static_cast<size_t>(n.post.residual_input)] < 0)
      r.bad(n.describe(), ": the residual input is absent");
    n.post.fused_names.resize(r.count("fused names", 4));
    for (auto& s : n.post.fused_names) s = r.str("fused name");
  }
  g.inputs.resize(r.count("graph inputs", 4));
  for (int& v : g.inputs) v = r.index("graph input", nv, false);
  g.outputs.resize(r.count("graph outputs", 4));
  for (int& v : g.outputs) v = r.index("graph output", nv, false);

  // Structure: every value produced at most once, by neither a constant nor a graph input; nodes in
  // topological order (each input is a constant, a graph input or an earlier node's output).
  std::vector<char> is_input(nv, 0);
  for (int v : g.inputs) {
    if (g.is_const(v)) r.bad("graph input '", g.value(v).name, "' is a constant");
    is_input[static_cast<size_t>(v)] = 1;
  }
  for (auto& v : g.values) v.producer = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (int in : n.inputs) {
      if (in < 0) continue;
      const Value& v = g.value(in);
      if (!v.constant && !is_input[static_cast<size_t>(in)] && v.producer < 0)
        r.bad(n.describe(), " reads '", v.name, "' before any node produces it");
    }
    for (int out : n.outputs) {
      Value& v = g.value(out);
      if (v.producer >= 0) r.bad("'", v.name, "' is produced by two nodes");
      if (v.constant || is_input[static_cast<size_t>(out)]) r.bad(n.describe(), " writes the constant or input '", v.name, "'");
      v.producer = static_cast<int>(i);
    }
  }
  for (int o : g.outputs)
    if (g.value(o).producer < 0 && !g.is_const(o) && !is_input[static_cast<size_t>(o)])
      r.bad("graph output '", g.value(o).name, "' is produced by no node");
  return g;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- CPU level

const char* cpu_level_name(CpuLevel l) {
  switch (l) {
    case CpuLevel::Generic: return "generic";
    case CpuLevel::Avx2: return "avx2";
    case CpuLevel::Avx512: return "avx512";
    case CpuLevel::Avx512Vnni: return "avx512_vnni";
  }
  return "?";
}

std::optional<CpuLevel> cpu_level_from_name(const std::string& s) {
  for (CpuLevel l : {CpuLevel::Generic, CpuLevel::Avx2, CpuLevel::Avx512, CpuLevel::Avx512Vnni})
    if (s == cpu_level_name(l)) return l;
  return std::nullopt;
}

CpuLevel detect_cpu_level() {
  static const CpuLevel level = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (avx512 && __builtin_cpu_supports("avx512vnni")) return CpuLevel::Avx512Vnni;
    if (avx512) return CpuLevel::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuLevel::Avx2;
#endif
    return CpuLevel::Generic;
  }();
  return level;
}

CpuLevel required_cpu_level(const PlanOptions& opt, CpuLevel built_on) {
  return !opt.int8_amax.empty() && opt.backend == "cpu" ? built_on : CpuLevel::Generic;
}

// ---------------------------------------------------------------------------------------------- API

uint32_t plan_format_version_for(const Graph& g) {
  for (const Node& n : g.nodes)
    for (const char* k : {"x_zero_point", "out_zero_point", "zero_point"})
      if (n.attr_i(k, 0) != 0) return kPlanFormatVersionZeroPoints;
  return kPlanFormatVersion;
}

namespace {
std::string serialize(const PlanHeader& h, const PlanOptions& o, const QuantizeReport& q, const Graph& g) {
  Writer w;
  w.out.append(kPlanMagic, sizeof kPlanMagic);
  w.u32(plan_format_version_for(g));
  w.str(h.octet_version);
  w.str(h.backend);
  w.str(cpu_level_name(h.built_on));
  w.str(cpu_level_name(h.requires_level));
  w.str(h.target);
  w.u8(!o.int8_amax.empty());
  w.u8(o.fold_batchnorm);
  w.u8(o.fuse);
  w.u8(o.channels_last);
  w.count(o.fp32_layers.size());
  for (const auto& s : o.fp32_layers) w.str(s);
  w.count(o.int8_amax.size());
  for (const auto& [k, v] : o.int8_amax) {
    w.str(k);
    w.f32(v);
  }
  w.count(q.lines.size());
  for (const auto& l : q.lines) {
    w.str(l.node);
    w.str(l.op);
    w.str(l.precision);
    w.str(l.why);
  }
  w.i32(q.int8_nodes);
  w.i32(q.fp32_nodes);
  write_graph(w, g);
  w.u64(checksum(w.out.data(), w.out.size()));
  return std::move(w.out);
}
}  // namespace

std::string serialize_plan(const Plan& plan) {
  PlanHeader h;
  h.octet_version = kPlanOctetVersion;
  h.backend = plan.options().backend;
  h.built_on = detect_cpu_level();
  h.requires_level = required_cpu_level(plan.options(), h.built_on);
  h.target = plan.backend().target();
  return serialize(h, plan.options(), plan.quantize_report(), plan.graph());
}

std::string serialize_plan(const PlanContents& c) { return serialize(c.header, c.options, c.report, c.graph); }

void save_plan(const Plan& plan, const std::string& path) { write_file_atomic(path, serialize_plan(plan)); }

PlanContents parse_plan(std::string_view bytes, const std::string& what, bool verify_checksum) {
  Reader r(bytes, what);
  if (bytes.size() < sizeof kPlanMagic || std::memcmp(bytes.data(), kPlanMagic, sizeof kPlanMagic) != 0)
    r.bad("not an octet plan (the file does not start with OCTETPLN)");
  r.need(sizeof kPlanMagic, "magic");
  r.pod<std::array<char, 8>>("magic");
  PlanContents c;
  c.file_bytes = bytes.size();
  PlanHeader& h = c.header;
  h.format_version = r.u32("format version");
  if (h.format_version != kPlanFormatVersion && h.format_version != kPlanFormatVersionZeroPoints) {
    std::string by;
    try {
      by = " (written by octet " + r.str("octet version") + ")";
    } catch (const Error&) {
    }
    fail("cannot load plan '", what, "': it has plan format version ", h.format_version, by, "; this octet (",
         kPlanOctetVersion, ") reads format versions ", kPlanFormatVersion, " and ", kPlanFormatVersionZeroPoints,
         " only. Make a new plan from the ONNX model with `octet build`");
  }
  if (verify_checksum) {
    if (bytes.size() < r.pos() + 8) r.bad("truncated file (no checksum)");
    uint64_t stored;
    std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
    if (checksum(bytes.data(), bytes.size() - 8) != stored)
      fail("cannot load plan '", what, "': checksum mismatch: the file is truncated or corrupt; make a new plan with `octet build`");
  }
  // Parse the body without the checksum (when it is there: with verification off, a short file just ends).
  std::string_view body = bytes.size() >= r.pos() + 8 ? bytes.substr(0, bytes.size() - 8) : bytes;
  Reader b(body, what);
  b.pod<std::array<char, 12>>("header");
  h.octet_version = b.str("octet version");
  h.backend = b.str("backend", true);
  h.built_on = b.level("built-on CPU level");
  h.requires_level = b.level("required CPU level");
  h.target = b.str("target");
  PlanOptions& o = c.options;
  o.backend = h.backend;
  bool int8 = b.boolean("int8");
  o.fold_batchnorm = b.boolean("fold_batchnorm");
  o.fuse = b.boolean("fuse");
  o.channels_last = b.boolean("channels_last");
  o.fp32_layers.resize(b.count("fp32 layers", 4));
  for (auto& s : o.fp32_layers) s = b.str("fp32 layer", true);
  uint32_t na = b.count("amax table", 8);
  for (uint32_t i = 0; i < na; ++i) {
    std::string k = b.str("amax tensor name", true);
    float v = b.f32("amax");
    if (!o.int8_amax.emplace(k, v).second) b.bad("amax of '", k, "' appears twice");
  }
  if (int8 != !o.int8_amax.empty()) b.bad(int8 ? "an INT8 plan without an amax table" : "an FP32 plan with an amax table");
  QuantizeReport& q = c.report;
  q.lines.resize(b.count("report lines", 16));
  for (auto& l : q.lines) {
    l.node = b.str("report node");
    l.op = b.str("report op");
    l.precision = b.str("report precision");
    l.why = b.str("report reason");
  }
  q.int8_nodes = b.pod<int32_t>("report int8 count");
  q.fp32_nodes = b.pod<int32_t>("report fp32 count");
  c.graph = read_graph(b);
  if (b.left() != 0) b.bad(b.left(), " unexpected bytes after the graph");
  return c;
}

PlanContents read_plan_file(const std::string& path) {
  // A regular file only (a directory or FIFO is an error naming it, never a hang).
  return parse_plan(read_file(path, "plan"), path);
}

void check_plan_cpu(const PlanHeader& h, CpuLevel have, const std::string& what) {
  if (have >= h.requires_level) return;
  fail("cannot run plan '", what, "': its INT8 kernels were built for CPU feature level ", cpu_level_name(h.requires_level),
       " and this CPU has only ", cpu_level_name(have), "; make a new plan on this machine with `octet build`");
}

void check_plan_target(const PlanHeader& h, const std::string& have, const std::string& what) {
  if (h.target.empty() || h.target == have) return;
  fail("cannot run plan '", what, "': it was built for ", h.backend, " target ", h.target, " and this machine's ",
       h.backend, " backend is ", have.empty() ? std::string("(none)") : have,
       "; make a new plan on this machine with `octet build`");
}

std::unique_ptr<Plan> plan_from_contents(PlanContents c, const std::string& what) {
  check_plan_cpu(c.header, detect_cpu_level(), what);
  const PlanHeader h = c.header;
  std::unique_ptr<Plan> plan;
  try {
    plan = Plan::from_optimized(std::move(c.graph), c.options, std::move(c.report));
  } catch (const Error& e) {
    fail("cannot load plan '", what, "': ", e.what());
  }
  check_plan_target(h, plan->backend().target(), what);
  return plan;
}

std::unique_ptr<Plan> load_plan_file(const std::string& path) { return plan_from_contents(read_plan_file(path), path); }

bool is_plan_file(const std::string& path) {
  // Anything but a readable regular file is "not a plan": the ONNX importer then says what is wrong with it.
  // core/file_io opens without blocking, so a FIFO never hangs here.
  int fd = -1;
  try {
    fd = open_regular_file(path, "model");
  } catch (const Error&) {
    return false;
  }
  char m[sizeof kPlanMagic];
  size_t got = 0;
  while (got < sizeof m) {
    const ssize_t r = ::read(fd, m + got, sizeof m - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return got == sizeof m && std::memcmp(m, kPlanMagic, sizeof m) == 0;
}

}  // namespace octet
