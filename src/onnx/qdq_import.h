// Q/DQ models -> octet: the FP32 graph without its QuantizeLinear/DequantizeLinear nodes plus the activation
// scales they carried, so octet's own quantization pass (passes/quantize.h, quantize_graph(g, amax)) builds
// the INT8 plan from them. Reads what ONNX Runtime's quantize_static (QDQ), PyTorch / ModelOpt exports and
// `octet quantize` write.
//
//   activation  x -> QuantizeLinear(s, zp) -> DequantizeLinear(s, zp) -> consumers
//               becomes x -> consumers, with amax[x] = 127 * s and scales[x] = s (exact; amax / 127
//               gives s back for ~99% of float scales, one ulp off otherwise). One Q feeding several DQs is one pair. A DQ output that is a graph output becomes
//               Identity(x) so output names survive.
//   weight      DequantizeLinear(int8/uint8/int32 constant, scale (per tensor or per `axis`), zp) becomes a
//               float constant (w - zp) * s; Q(float constant) -> DQ folds to the fake-quantized float values.
//               octet requantizes weights per output channel itself (max|W[k]|/127): for symmetric per-channel
//               weights exported that way the int8 values come back unchanged.
//   asymmetric  an activation pair with zp != 0 (uint8 from ORT's defaults, or int8 with zp != 0) is converted
//               to symmetric int8 covering the same real range: amax = max(|lo|, |hi|), lo = (qmin - zp) * s,
//               hi = (qmax - zp) * s. Default: accepted with a warning naming the tensor (the CPU backend then
//               runs it symmetric; the range can lose up to one bit of resolution). strict_symmetric: refused
//               with an Error naming the tensor. A pair whose range starts at 0 (zero point = qmin: ORT's
//               quantize_static removed a Relu / Clip(0, x) and left the clamp to the pair) keeps that clamp:
//               the producer writes "x::before_relu" and a Relu writes x (readers other than the pair's
//               DequantizeLinear nodes read "x::before_relu", as they read the unclamped x before).
// Anything else involving Q/DQ (a DQ of a runtime tensor no Q produced, a Q whose output something other than
// a DQ reads, 16-bit or float8 types, a pair whose Q and DQ parameters differ) is refused naming the node.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace octet {

struct QdqImportOptions {
  bool strict_symmetric = false;  // refuse zero points != 0 instead of converting them (see above)
};

struct QdqImportResult {
  Graph graph;                         // FP32, no QuantizeLinear / DequantizeLinear left, finalized
  std::map<std::string, float> amax;   // activation tensor name -> amax = 127 * scale
  std::vector<std::pair<std::string, float>> scales;  // activation tensor -> scale, in graph order
  std::vector<std::string> warnings;   // asymmetric activations converted, ...
  std::vector<std::string> asymmetric;  // activation tensors with a uint8 type or a zero point != 0
  int activation_pairs = 0, folded_weights = 0;
};

bool has_qdq(const Graph& g);

// `g` is an imported graph (onnx/import.h). Throws Error as described above.
QdqImportResult import_qdq(const Graph& g, const QdqImportOptions& opt = {});

}  // namespace octet
