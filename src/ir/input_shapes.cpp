#include "ir/input_shapes.h"

#include <sstream>

namespace octet {

namespace {

std::string declared_str(const Value& v) {
  std::string s;
  for (size_t d = 0; d < v.declared.size(); ++d)
    s += (d ? "x" : "") + (v.declared[d].value >= 0 ? std::to_string(v.declared[d].value)
                                                   : (v.declared[d].symbol.empty() ? "?" : v.declared[d].symbol));
  return s;
}

Shape parse_dims(const std::string& text, const std::string& spec) {
  Shape s;
  std::stringstream ss(text);
  std::string tok;
  while (std::getline(ss, tok, 'x')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(tok, &used);
    } catch (...) {
      used = 0;
    }
    OCTET_CHECK(used == tok.size() && !tok.empty() && v >= 1 && v <= (1 << 24), "--shapes: cannot read '", text,
                "' in '", spec, "' (expected dimensions such as 1x3x480x640)");
    s.push_back(v);
  }
  OCTET_CHECK(!s.empty(), "--shapes: empty shape in '", spec, "'");
  return s;
}

}  // namespace

void set_input_shapes(Graph& g, const std::string& spec) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t colon = item.rfind(':');
    std::string name = colon == std::string::npos ? "" : item.substr(0, colon);
    const Shape dims = parse_dims(colon == std::string::npos ? item : item.substr(colon + 1), spec);
    int v = -1;
    if (name.empty()) {
      OCTET_CHECK(g.inputs.size() == 1, "--shapes '", item, "': the model has ", g.inputs.size(),
                  " inputs; name them (name:1x3x480x640)");
      v = g.inputs[0];
    } else {
      for (int in : g.inputs)
        if (g.value(in).name == name) v = in;
      std::string names;
      for (int in : g.inputs) names += (names.empty() ? "'" : ", '") + g.value(in).name + "'";
      OCTET_CHECK(v >= 0, "--shapes: the model has no input '", name, "' (its inputs: ", names, ")");
    }
    Value& val = g.values[static_cast<size_t>(v)];
    if (!val.has_declared_shape) {
      val.declared.assign(dims.size(), Dim{});
      val.declared[0].symbol = "N";
      val.has_declared_shape = true;
    }
    OCTET_CHECK(val.declared.size() == dims.size(), "--shapes: input '", val.name, "' has ", val.declared.size(),
                " dimensions (", declared_str(val), "), '", item, "' gives ", dims.size());
    for (size_t d = 0; d < dims.size(); ++d) {
      Dim& dim = val.declared[d];
      if (dim.value >= 0) {
        OCTET_CHECK(dim.value == dims[d], "--shapes: input '", val.name, "' is ", declared_str(val), "; '", item,
                    "' disagrees at dimension ", d);
      } else if (d > 0) {
        dim.value = dims[d];
        dim.symbol.clear();
      }
    }
  }
}

}  // namespace octet
