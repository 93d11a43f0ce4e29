// Tensor: a dtype, a shape and a 64-byte aligned buffer (owned, shared, or a view into an arena).
//
// Layout is dense row-major over `shape` (NCHW for 4-D activations unless a backend says otherwise).
// Copying a Tensor shares its buffer; clone() makes a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "octet/types.h"  // DType, Shape: the public API's types

namespace octet {

const char* dtype_name(DType t);
// ONNX TensorProto.DataType code <-> DType (throws naming the code for types octet does not support).
DType dtype_from_onnx(int code);
int dtype_to_onnx(DType t);
size_t dtype_size(DType t);

int64_t numel(const Shape& s);
// Bytes a tensor of `s` holds, or -1 when a dim is negative or the element count or the byte count
// (elements x elem_size) does not fit in int64_t. Any zero dim gives 0, whatever the others are.
int64_t checked_nbytes(const Shape& s, size_t elem_size);
std::string shape_str(const Shape& s);  // "1x3x224x224", "scalar" for rank 0

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

class Tensor {
 public:
  Tensor() = default;
  // Allocates (zero-filled) storage for shape.
  Tensor(DType dtype, Shape shape);
  // A non-owning view; `keep` (may be null) keeps the memory alive.
  static Tensor view(DType dtype, Shape shape, void* data, std::shared_ptr<void> keep = nullptr);

  template <typename T>
  static Tensor from(const Shape& shape, const std::vector<T>& values) {
    Tensor t(dtype_of<T>(), shape);
    OCTET_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from: ", values.size(),
                " values for shape ", shape_str(shape));
    for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = values[i];
    return t;
  }
  static Tensor scalar_f32(float v) { return from<float>({}, {v}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return octet::numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr && numel() != 0; }
  bool defined() const { return data_ != nullptr || (!shape_.empty() && numel() == 0); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T> T* data() {
    assert_type<T>();
    return static_cast<T*>(data_);
  }
  template <typename T> const T* data() const {
    assert_type<T>();
    return static_cast<const T*>(data_);
  }

  Tensor clone() const;
  // A view of the first n entries along dimension 0 (same buffer).
  Tensor first(int64_t n) const;
  // Same buffer, new shape of the same element count.
  Tensor reshaped(const Shape& s) const;
  // Values converted to int64 (for shape-like inputs of any integer dtype).
  std::vector<int64_t> to_i64() const;
  std::vector<float> to_f32() const;

 private:
  template <typename T> void assert_type() const {
    if (dtype_of<T>() != dtype_)
      fail("tensor of dtype ", dtype_name(dtype_), " read as ", dtype_name(dtype_of<T>()));
  }
  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<void> holder_;
  void* data_ = nullptr;
};

// 64-byte aligned allocation released by the returned shared_ptr.
std::shared_ptr<void> aligned_alloc_shared(size_t bytes);

}  // namespace octet
