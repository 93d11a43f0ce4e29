// Errors at the API boundary: one exception type (octet::Error, defined in the public include/octet/error.h —
// the same type users catch), one message shape.
//
//   throw octet::Error("cannot load 'model.onnx': ...");
//   OCTET_CHECK(cond, "node 'conv1' (Conv): weight must be 4-D, got ", shape_str(s));
//
// Invariants inside kernels use assert(); everything a user can cause (a file, a flag, a model) goes
// through Error so the CLI prints one line and exits non-zero instead of crashing.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "octet/error.h"

namespace octet {

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

}  // namespace octet

#define OCTET_CHECK(cond, ...)                  \
  do {                                          \
    if (!(cond)) ::octet::fail(__VA_ARGS__);    \
  } while (0)
