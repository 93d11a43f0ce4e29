// Element types and shapes shared by the public API and octet's internals (the same types, not copies).
#pragma once

#include <cstdint>
#include <vector>

namespace octet {

// Element type of a tensor. ONNX names: float, int8, uint8, int32, int64, bool, double, float16.
enum class DType : uint8_t { f32, i8, u8, i32, i64, boolean, f64, f16 };

// Dense row-major dimensions; in a model's declared shapes, -1 marks a symbolic (dynamic) dimension.
using Shape = std::vector<int64_t>;

// Where a tensor's bytes live. Only host memory today; a GPU backend adds its device here.
enum class Device : uint8_t { cpu };

}  // namespace octet
