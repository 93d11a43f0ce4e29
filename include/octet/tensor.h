// Tensors at the API boundary: a TensorView points at memory the caller owns, a HostTensor owns its memory.
// Both are dense row-major over `shape` (NCHW for images), in host memory (Device::cpu).
//
//   std::vector<float> pixels(1 * 1 * 28 * 28);
//   auto outs = engine.run({{"input", octet::TensorView::of(pixels.data(), {1, 1, 28, 28})}});
//   const octet::HostTensor& logits = outs.at("logits");   // logits.data<float>(), logits.shape()
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/error.h"
#include "octet/types.h"

namespace octet {

size_t dtype_size(DType t);     // bytes per element
const char* dtype_name(DType t);  // "float32", "int8", ...

// Non-owning: the memory must stay valid while octet uses the view (during run()).
struct TensorView {
  DType dtype = DType::f32;
  Shape shape;
  const void* data = nullptr;
  Device device = Device::cpu;

  template <typename T>
  static TensorView of(const T* data, Shape shape);
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

// Owning (shared: copies share the buffer; clone() copies the bytes). Zero-filled when allocated.
class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, Shape shape);
  // Copies `v`'s bytes.
  static HostTensor copy_of(const TensorView& v);
  template <typename T>
  static HostTensor from(Shape shape, const std::vector<T>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Device device() const { return Device::cpu; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T> T* data();
  template <typename T> const T* data() const;
  TensorView view() const { return {dtype_, shape_, data_.get(), Device::cpu}; }
  HostTensor clone() const { return copy_of(view()); }

 private:
  void check_type(DType t) const;
  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<unsigned char[]> data_;
};

namespace detail {
template <typename T> constexpr DType dtype_for();
template <> constexpr DType dtype_for<float>() { return DType::f32; }
template <> constexpr DType dtype_for<double>() { return DType::f64; }
template <> constexpr DType dtype_for<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_for<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_for<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_for<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_for<bool>() { return DType::boolean; }
}  // namespace detail

template <typename T>
TensorView TensorView::of(const T* data, Shape shape) {
  return {detail::dtype_for<T>(), std::move(shape), data, Device::cpu};
}
template <typename T>
HostTensor HostTensor::from(Shape shape, const std::vector<T>& values) {
  HostTensor t(detail::dtype_for<T>(), std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error("HostTensor::from: " + std::to_string(values.size()) + " values for " + std::to_string(t.numel()) +
                " elements");
  for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = values[i];
  return t;
}
template <typename T> T* HostTensor::data() {
  check_type(detail::dtype_for<T>());
  return static_cast<T*>(data());
}
template <typename T> const T* HostTensor::data() const {
  check_type(detail::dtype_for<T>());
  return static_cast<const T*>(data());
}

}  // namespace octet
