#include "onnx/import.h"

#include <onnx/onnx_pb.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "core/file_io.h"
#include "onnx/tensor_data.h"

namespace octet {

namespace {

struct Importer {
  std::string what;      // file name for messages
  std::string base_dir;  // for external data
  Graph g;
  std::vector<std::string> unsupported;
  int64_t opset = 0;

  [[noreturn]] void error(const std::string& msg) { fail("cannot load '", what, "': ", msg); }

  // Every size is checked against the data actually present (raw_data, the typed field, or the external
  // file's length) BEFORE the tensor is allocated: a 2 KB file cannot ask for gigabytes.
  Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& who) {
    DType dt;
    try {
      dt = dtype_from_onnx(t.data_type());
    } catch (const Error& e) {
      error(who + ": " + e.what());
    }
    const size_t esize = dtype_size(dt);
    uint64_t n = 0;
    try {
      n = checked_element_count(t, esize, who);
    } catch (const Error& e) {
      error(e.what());
    }
    const uint64_t bytes = n * esize;
    Shape shape(t.dims().begin(), t.dims().end());
    auto mismatch = [&](uint64_t got) {
      error(who + " has " + std::to_string(got) + " values but its dims " + shape_str(shape) + " need " +
            std::to_string(n));
    };
    if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
      ExternalData ext;
      try {
        ext = locate_external_data(t, bytes, base_dir, who);
      } catch (const Error& e) {
        error(e.what());
      }
      Tensor out(dt, shape);
      try {
        read_external_data(ext, out.raw(), who);
      } catch (const Error& e) {
        error(e.what());
      }
      return out;
    }
    if (t.has_raw_data()) {
      if (t.raw_data().size() != bytes) {
        if (t.raw_data().size() % esize == 0) mismatch(t.raw_data().size() / esize);
        error(who + " has " + std::to_string(t.raw_data().size()) + " bytes of raw_data but its dims " +
              shape_str(shape) + " need " + std::to_string(bytes));
      }
      Tensor out(dt, shape);
      if (bytes) std::memcpy(out.raw(), t.raw_data().data(), bytes);
      return out;
    }
    uint64_t have = 0;
    switch (dt) {
      case DType::f32: have = static_cast<uint64_t>(t.float_data_size()); break;
      case DType::f64: have = static_cast<uint64_t>(t.double_data_size()); break;
      case DType::i64: have = static_cast<uint64_t>(t.int64_data_size()); break;
      default: have = static_cast<uint64_t>(t.int32_data_size()); break;
    }
    if (have != n) mismatch(have);
    Tensor out(dt, shape);
    switch (dt) {
      case DType::f32:
        for (uint64_t i = 0; i < n; ++i) out.data<float>()[i] = t.float_data(static_cast<int>(i));
        break;
      case DType::f64:
        for (uint64_t i = 0; i < n; ++i) out.data<double>()[i] = t.double_data(static_cast<int>(i));
        break;
      case DType::i64:
        for (uint64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = t.int64_data(static_cast<int>(i));
        break;
      case DType::i32: case DType::i8: case DType::u8: case DType::boolean: case DType::f16: {
        for (uint64_t i = 0; i < n; ++i) {
          int32_t v = t.int32_data(static_cast<int>(i));
          switch (dt) {
            case DType::i32: out.data<int32_t>()[i] = v; break;
            case DType::i8: out.data<int8_t>()[i] = static_cast<int8_t>(v); break;
            case DType::f16: static_cast<uint16_t*>(out.raw())[i] = static_cast<uint16_t>(v); break;
            default: static_cast<uint8_t*>(out.raw())[i] = static_cast<uint8_t>(v); break;
          }
        }
        break;
      }
    }
    return out;
  }

  Attr convert_attr(const onnx::AttributeProto& a, const std::string& node) {
    Attr r;
    switch (a.type()) {
      case onnx::AttributeProto_AttributeType_INT: r.kind = Attr::Kind::Int; r.i = a.i(); break;
      case onnx::AttributeProto_AttributeType_FLOAT: r.kind = Attr::Kind::Float; r.f = a.f(); break;
      case onnx::AttributeProto_AttributeType_STRING: r.kind = Attr::Kind::String; r.s = a.s(); break;
      case onnx::AttributeProto_AttributeType_INTS:
        r.kind = Attr::Kind::Ints;
        r.ints.assign(a.ints().begin(), a.ints().end());
        break;
      case onnx::AttributeProto_AttributeType_FLOATS:
        r.kind = Attr::Kind::Floats;
        r.floats.assign(a.floats().begin(), a.floats().end());
        break;
      case onnx::AttributeProto_AttributeType_STRINGS:
        r.kind = Attr::Kind::Strings;
        r.strings.assign(a.strings().begin(), a.strings().end());
        break;
      case onnx::AttributeProto_AttributeType_TENSOR:
        r.kind = Attr::Kind::Tensor;
        r.t = tensor_from_proto(a.t(), "node '" + node + "': attribute '" + a.name() + "'");
        break;
      default:
        error("node '" + node + "': attribute '" + a.name() + "' has a type octet does not support (graphs, sparse tensors)");
    }
    return r;
  }

  int value_for(const std::string& name) {
    int v = g.find(name);
    return v >= 0 ? v : g.add_value(name);
  }

  int const_i64(const std::string& base, const std::vector<int64_t>& v) {
    return g.add_constant(g.unique_name(base), Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v));
  }
  int const_f32(const std::string& base, float v) { return g.add_constant(g.unique_name(base), Tensor::scalar_f32(v)); }

  // Attribute -> input moves for old opsets (see header comment).
  void attr_to_input(Node& n, const char* attr, size_t index) {
    if (!n.has_attr(attr)) return;
    int c = const_i64(n.name + "_" + attr, n.attrs[attr].ints);
    n.attrs.erase(attr);
    if (n.inputs.size() <= index) n.inputs.resize(index + 1, kNoValue);
    n.inputs[index] = c;
  }

  void canonicalize(Node& n, const std::string& op_type) {
    switch (n.op) {
      case OpType::Squeeze: case OpType::Unsqueeze:
        if (opset < 13) attr_to_input(n, "axes", 1);
        break;
      case OpType::Split:
        if (opset < 13) attr_to_input(n, "split", 1);
        break;
      case OpType::ReduceSum:
        if (opset < 13) attr_to_input(n, "axes", 1);
        break;
      case OpType::ReduceMean: case OpType::ReduceMax: case OpType::ReduceMin:
        if (opset < 18) attr_to_input(n, "axes", 1);
        break;
      case OpType::Clip:
        if (opset < 11) {
          float lo = n.attr_f("min", -std::numeric_limits<float>::infinity());
          float hi = n.attr_f("max", std::numeric_limits<float>::infinity());
          n.attrs.erase("min");
          n.attrs.erase("max");
          n.inputs.resize(3, kNoValue);
          n.inputs[1] = const_f32(n.name + "_min", lo);
          n.inputs[2] = const_f32(n.name + "_max", hi);
        }
        break;
      case OpType::Pad:
        if (opset < 11) {
          if (n.has_attr("paddings")) n.attrs["pads"] = n.attrs["paddings"];
          float value = n.attr_f("value", 0.f);
          attr_to_input(n, "pads", 1);
          n.inputs.resize(3, kNoValue);
          n.inputs[2] = const_f32(n.name + "_value", value);
          n.attrs.erase("value");
          n.attrs.erase("paddings");
        }
        break;
      case OpType::Slice:
        if (opset < 10) {
          attr_to_input(n, "starts", 1);
          attr_to_input(n, "ends", 2);
          attr_to_input(n, "axes", 3);
        }
        break;
      case OpType::Softmax: case OpType::LogSoftmax:
        if (opset < 13) {
          Attr a;
          a.i = 1;
          n.attrs["coerce_2d"] = a;
          if (!n.has_attr("axis")) n.attrs["axis"] = a;
        }
        break;
      case OpType::Resize:
        if (op_type == "Upsample" || opset < 11) {
          // Upsample (opset 7: scales attr; 9: scales input) and Resize-10 (X, scales): asymmetric coordinates.
          if (n.inputs.empty() || n.inputs[0] == kNoValue) error("node '" + n.name + "' (" + op_type + ") has no input X");
          int scales = kNoValue;
          if (n.has_attr("scales")) {
            auto f = n.attrs["scales"].floats;
            scales = g.add_constant(g.unique_name(n.name + "_scales"),
                                    Tensor::from<float>({static_cast<int64_t>(f.size())}, f));
            n.attrs.erase("scales");
          } else if (n.inputs.size() > 1) {
            scales = n.inputs[1];
          }
          n.inputs = {n.inputs[0], kNoValue, scales};
          Attr m;
          m.kind = Attr::Kind::String;
          m.s = "asymmetric";
          n.attrs["coordinate_transformation_mode"] = m;
          std::string mode = n.attr_s("mode", "nearest");
          if (mode == "bilinear") n.attrs["mode"].s = "linear";
          if (mode == "nearest") {
            m.s = "floor";
            n.attrs["nearest_mode"] = m;
          }
        }
        break;
      default:
        break;
    }
  }

  void import_constant_node(const onnx::NodeProto& np) {
    const std::string& out = np.output(0);
    for (const auto& a : np.attribute()) {
      Tensor t;
      if (a.name() == "value") t = tensor_from_proto(a.t(), "Constant node '" + np.name() + "': value");
      else if (a.name() == "value_float") t = Tensor::scalar_f32(a.f());
      else if (a.name() == "value_floats") t = Tensor::from<float>({a.floats_size()}, {a.floats().begin(), a.floats().end()});
      else if (a.name() == "value_int") t = Tensor::from<int64_t>({}, {a.i()});
      else if (a.name() == "value_ints") t = Tensor::from<int64_t>({a.ints_size()}, {a.ints().begin(), a.ints().end()});
      else error("Constant node '" + np.name() + "': attribute '" + a.name() + "' is not supported");
      int v = g.find(out);
      if (v >= 0) {
        if (g.value(v).constant || g.value(v).producer >= 0) error("tensor '" + out + "' is defined twice");
        g.value(v).constant = t;
        g.value(v).dtype = t.dtype();
      } else {
        g.add_constant(out, t);
      }
      return;
    }
    error("Constant node '" + np.name() + "' has no value");
  }

  // Takes `m` non-const: each initializer's bytes are released once copied, so the parsed model and the
  // graph do not both hold every weight at the peak.
  void import_graph(onnx::ModelProto& m, bool strict) {
    for (const auto& os : m.opset_import())
      if (os.domain().empty() || os.domain() == "ai.onnx") opset = os.version();
    if (opset == 0) opset = 1;
    g.opset = opset;
    const onnx::GraphProto& gp = m.graph();
    g.name = gp.name();
    for (int i = 0; i < gp.initializer_size(); ++i) {
      const onnx::TensorProto& init = gp.initializer(i);
      if (init.name().empty()) error("an initializer has no name");
      if (g.find(init.name()) >= 0) error("initializer '" + init.name() + "' is defined twice");
      g.add_constant(init.name(), tensor_from_proto(init, "initializer '" + init.name() + "'"));
      if (init.has_raw_data()) std::string().swap(*m.mutable_graph()->mutable_initializer(i)->mutable_raw_data());
    }
    for (const auto& in : gp.input()) {
      if (g.find(in.name()) >= 0) continue;  // an initializer listed as input (old exporters)
      int v = g.add_value(in.name());
      Value& val = g.value(v);
      const auto& tt = in.type().tensor_type();
      try {
        val.dtype = dtype_from_onnx(tt.elem_type());
      } catch (const Error& e) {
        error("graph input '" + in.name() + "': " + e.what());
      }
      if (tt.has_shape()) {
        val.has_declared_shape = true;
        for (const auto& d : tt.shape().dim()) {
          Dim dim;
          if (d.has_dim_value()) {
            if (d.dim_value() < 0) error("graph input '" + in.name() + "' has a negative dimension");
            dim.value = d.dim_value();
          } else {
            dim.symbol = d.dim_param().empty() ? "?" : d.dim_param();
          }
          val.declared.push_back(dim);
        }
      }
      g.inputs.push_back(v);
    }
    int index = 0;
    for (const auto& np : gp.node()) {
      ++index;
      bool std_domain = np.domain().empty() || np.domain() == "ai.onnx";
      if (std_domain && np.op_type() == "Constant") {
        if (np.output_size() != 1) error("Constant node '" + np.name() + "' must have one output");
        import_constant_node(np);
        continue;
      }
      Node n;
      n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
      std::string op_type = np.op_type();
      std::optional<OpType> op;
      if (std_domain) op = op_from_name(op_type == "Upsample" ? "Resize" : op_type);
      if (op && op_is_internal(*op)) op.reset();  // octet's own INT8 ops are not ONNX ops
      if (!op) {
        unsupported.push_back("node '" + n.name + "' (" + op_type +
                              (std_domain ? "" : ", domain " + np.domain()) + ")");
        op = OpType::Identity;
      } else {
        for (const auto& a : np.attribute()) n.attrs[a.name()] = convert_attr(a, n.name);
      }
      n.op = *op;
      for (const auto& in : np.input()) n.inputs.push_back(in.empty() ? kNoValue : value_for(in));
      int last = np.output_size() - 1;
      while (last >= 0 && np.output(last).empty()) --last;
      for (int i = 0; i <= last; ++i) {
        const std::string& out = np.output(i);
        int v = out.empty() ? g.add_value(g.unique_name(n.name + "_unused" + std::to_string(i))) : value_for(out);
        if (g.value(v).constant) error("tensor '" + out + "' is both an initializer and the output of node '" + n.name + "'");
        n.outputs.push_back(v);
      }
      if (n.outputs.empty()) error("node '" + n.name + "' (" + op_type + ") has no outputs");
      canonicalize(n, op_type);
      g.nodes.push_back(std::move(n));
    }
    for (const auto& out : gp.output()) {
      int v = g.find(out.name());
      if (v < 0) error("graph output '" + out.name() + "' is produced by no node");
      g.outputs.push_back(v);
    }
    if (g.outputs.empty()) error("the graph has no outputs");
    if (strict && !unsupported.empty()) {
      std::ostringstream os;
      os << unsupported.size() << " node(s) use ops octet does not support: ";
      for (size_t i = 0; i < unsupported.size(); ++i) os << (i ? ", " : "") << unsupported[i];
      error(os.str());
    }
    try {
      g.finalize();
    } catch (const Error& e) {
      error(e.what());
    }
  }
};

}  // namespace

namespace {

ImportResult import_model(onnx::ModelProto& m, const std::string& what, const std::string& base_dir,
                          const ImportOptions& opt) {
  if (!m.has_graph() || m.graph().node_size() == 0)
    fail("cannot load '", what, "': not an ONNX model (no graph or no nodes)");
  Importer im;
  im.what = what;
  im.base_dir = base_dir;
  im.import_graph(m, opt.strict);
  ImportResult r;
  r.graph = std::move(im.g);
  r.unsupported = std::move(im.unsupported);
  r.producer = m.producer_name() + (m.producer_version().empty() ? "" : " " + m.producer_version());
  return r;
}

}  // namespace

ImportResult import_onnx_buffer(const void* data, size_t size, const std::string& what, const std::string& base_dir,
                                const ImportOptions& opt) {
  if (size == 0) fail("cannot load '", what, "': the file is empty");
  onnx::ModelProto m;
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()) || !m.ParseFromArray(data, static_cast<int>(size)))
    fail("cannot load '", what, "': not an ONNX model (protobuf parsing failed; truncated or another format?)");
  return import_model(m, what, base_dir, opt);
}

Tensor read_tensor_proto_file(const std::string& path) {
  const std::string buf = read_file(path, "tensor file", static_cast<uint64_t>(std::numeric_limits<int>::max()));
  onnx::TensorProto t;
  if (!t.ParseFromArray(buf.data(), static_cast<int>(buf.size())))
    fail("cannot read '", path, "': not a serialized onnx.TensorProto");
  Importer im;
  im.what = path;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  im.base_dir = dir.empty() ? "." : dir;
  return im.tensor_from_proto(t, "tensor '" + t.name() + "'");
}

ImportResult import_onnx_file(const std::string& path, const ImportOptions& opt) {
  // Parsed from the descriptor, not from a copy of the file in memory: with the initializers released as the
  // graph takes them (import_graph), the peak is about one copy of the weights, not three. The file is opened
  // as a regular file only (core/file_io.h): a directory or FIFO is an error naming it, never a hang.
  const int fd = open_regular_file(path, "model");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot read model '", path, "': ", std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) fail("cannot load '", path, "': the file is empty");
  if (size > static_cast<uint64_t>(std::numeric_limits<int>::max()))
    fail("cannot load '", path, "': ", size, " bytes; protobuf reads at most 2 GiB (store the weights as external data)");
  onnx::ModelProto m;
  if (!m.ParseFromFileDescriptor(fd))
    fail("cannot load '", path, "': not an ONNX model (protobuf parsing failed; truncated or another format?)");
  std::string dir = std::filesystem::path(path).parent_path().string();
  return import_model(m, path, dir.empty() ? "." : dir, opt);
}

}  // namespace octet
