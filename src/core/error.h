// Errors at the API boundary: one exception type, one message shape.
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

namespace octet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

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
