// Plan files: a built Plan saved to disk and loaded back without re-running the graph passes.
//
//   save_plan(*plan, "model.plan");                 // atomic: temp file + rename
//   auto plan = load_plan_file("model.plan");       // checks format version and CPU, then creates kernels
//
// What is stored is the optimized graph as Plan holds it after the passes (constants already folded:
// BatchNormalization folded into Conv, int8 weights, float biases in accumulator units, channels-last copies), the PlanOptions
// that shaped it (backend, int8 amax table, fp32 layers, pass switches) and the QuantizeReport. Kernels are
// created again at load (weights are packed for this machine's ISA then), so a plan carries no ISA-specific
// bytes; what it does carry is the CPU feature level its INT8 numerics were built for (see below).
//
// Format (version 4 = kPlanFormatVersion; the layout below has not changed since version 1 except for version
// 4's target field, only what values mean: see the history at kPlanFormatVersion). All integers and floats little-endian; str = u32 byte length + bytes (no NUL);
// vec<T> = u32 count + count x T; bool = u8 0/1.
//
//   -- fixed for every format version, so any octet can say what a file is --
//   char[8]  magic "OCTETPLN"
//   u32      format version (kPlanFormatVersion)
//   str      octet version that wrote it ("0.1.0")
//   -- versions 1 to 4 --
//   str      backend ("cpu" | "ref")
//   str      CPU feature level of the machine that built it: "avx512_vnni" | "avx512" | "avx2" | "generic"
//   str      CPU feature level required to run it (same names; "generic" when nothing is required)
//   str      (version 4) the backend's target: the GPU architecture of a cuda plan ("sm_90"), else ""
//   options  bool int8, bool fold_batchnorm, bool fuse, bool channels_last,
//            vec<str> fp32_layers, vec<(str tensor, f32 amax)> int8_amax
//   report   vec<(str node, str op, str precision, str why)>, i32 int8_nodes, i32 fp32_nodes
//   graph    str name, i64 opset, vec<value>, vec<node>, vec<i32> inputs, vec<i32> outputs
//            (only the values that run: read or written by a node, graph inputs/outputs, and — name and shape
//            only — what layout_of points at; values the passes left unused, e.g. FP32 weights of a QConv,
//            are dropped and the indices renumbered)
//     value  str name (not empty, unique), u8 dtype (ONNX TensorProto code), bool has_declared_shape,
//            vec<(i64 dim, str symbol)> declared, i32 layout_of (-1 or a value index), bool has_constant,
//            [tensor]
//     tensor u8 dtype (ONNX code), vec<i64> shape (each >= 0), u64 byte count (= numel x element size), bytes
//     node   str op (ops.inc name, not the enum number), str name, vec<i32> inputs (-1 = absent optional),
//            vec<i32> outputs, vec<(str key, attr)> attrs,
//            post: u8 activation, f32 alpha, f32 beta, i32 residual_input (-1 or an index into inputs),
//            vec<str> fused_names
//     attr   u8 kind (Attr::Kind), u8 mask of the fields that follow (bit 0 i: i64, 1 f: f32, 2 s: str,
//            3 ints: vec<i64>, 4 floats: vec<f32>, 5 strings: vec<str>, 6 t: tensor) — every non-default
//            field is stored whatever the kind, so an attribute comes back exactly as it was.
//   u64      FNV-1a-64 checksum of every byte before it (4 interleaved lanes over 8-byte words; see .cpp)
//
// Loading treats the file as untrusted: every count is bounded by the bytes left, every index is checked,
// value names must be non-empty and unique, nodes must be in topological order; any problem is an
// octet::Error naming the file and what is wrong — never a crash or an allocation larger than the file.
// A file of another format version is refused naming both versions (rebuild it with `octet build`).
//
// CPU feature level: oneDNN's INT8 convolutions on CPUs without AVX-512 VNNI take another path
// (vpmaddubsw with 16-bit intermediates) whose results differ from the VNNI path, so an INT8 plan of the
// `cpu` backend requires the level it was built on; FP32 plans and `ref` plans require nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/version.h"
#include "runtime/plan.h"

namespace octet {

inline constexpr char kPlanMagic[8] = {'O', 'C', 'T', 'E', 'T', 'P', 'L', 'N'};
// 2: QConv / QLinear biases are float32 in accumulator units (1: int32).
// 3: post.activation may be Silu (6), fused into QConv / QLinear (a version-2 reader does not know it).
// 4: the header records the backend's target (Backend::target(): the GPU architecture of a cuda plan).
inline constexpr uint32_t kPlanFormatVersion = 4;
// 5: the same layout; written only for a plan with zero points (QConv x_zero_point / out_zero_point, Dequantize
// zero_point: QuantizeOptions::asymmetric_activations), which a version-4 reader would silently ignore. A plan
// without them is still written as version 4, so older octets keep reading it. This octet reads both.
inline constexpr uint32_t kPlanFormatVersionZeroPoints = 5;
// The version a plan of graph g is written with (kPlanFormatVersion, or kPlanFormatVersionZeroPoints).
uint32_t plan_format_version_for(const Graph& g);
// The octet version written into plan headers (also CMakeLists' project VERSION and `octet --version`).
inline constexpr const char* kPlanOctetVersion = kOctetVersion;

// Ordered: a CPU of a higher level runs what a lower level requires.
enum class CpuLevel : uint8_t { Generic, Avx2, Avx512, Avx512Vnni };
const char* cpu_level_name(CpuLevel l);  // "generic", "avx2", "avx512", "avx512_vnni"
std::optional<CpuLevel> cpu_level_from_name(const std::string& s);
// This CPU's level (__builtin_cpu_supports; probed once).
CpuLevel detect_cpu_level();
// The level a plan needs: the build machine's for an INT8 plan of the cpu backend, else Generic.
CpuLevel required_cpu_level(const PlanOptions& opt, CpuLevel built_on);

struct PlanHeader {
  uint32_t format_version = kPlanFormatVersion;
  std::string octet_version;
  std::string backend;
  CpuLevel built_on = CpuLevel::Generic;
  CpuLevel requires_level = CpuLevel::Generic;
  std::string target;  // version 4: Backend::target() of the backend it was built for ("sm_90"; "" for cpu/ref)
};

// Everything a plan file holds, parsed and validated (no kernels created).
struct PlanContents {
  PlanHeader header;
  Graph graph;
  PlanOptions options;
  QuantizeReport report;
  uint64_t file_bytes = 0;
};

// The bytes of a plan file for `plan` (header level: this CPU's).
std::string serialize_plan(const Plan& plan);
// The bytes of a plan file holding `c` as it is (header levels included; always the current format version).
std::string serialize_plan(const PlanContents& c);
// serialize_plan written to `path` atomically (path + ".tmp", then rename).
void save_plan(const Plan& plan, const std::string& path);

// Parses plan bytes; `what` names the source in errors ("cannot load plan 'what': ..."). verify_checksum
// false is for fuzzing the parser behind the checksum.
PlanContents parse_plan(std::string_view bytes, const std::string& what, bool verify_checksum = true);
PlanContents read_plan_file(const std::string& path);
// Throws (naming the required level, this CPU's and `octet build`) when `have` is below what the plan needs.
void check_plan_cpu(const PlanHeader& h, CpuLevel have, const std::string& what);
// Refuses a plan built for another target (h.target, e.g. "sm_90") than the loading backend's (`have`, its
// Backend::target()), naming both; a plan without a target runs anywhere its CPU level allows.
void check_plan_target(const PlanHeader& h, const std::string& have, const std::string& what);
// check_plan_cpu(detect_cpu_level()) + Plan::from_optimized (errors name `what`).
std::unique_ptr<Plan> plan_from_contents(PlanContents c, const std::string& what);
// read_plan_file + plan_from_contents.
std::unique_ptr<Plan> load_plan_file(const std::string& path);
// Does the file start with the plan magic? (false for unreadable or short files)
bool is_plan_file(const std::string& path);

}  // namespace octet
