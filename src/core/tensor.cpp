#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace octet {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
  }
  return "?";
}

DType dtype_from_onnx(int code) {
  switch (code) {
    case 1: return DType::f32;
    case 2: return DType::u8;
    case 3: return DType::i8;
    case 6: return DType::i32;
    case 7: return DType::i64;
    case 9: return DType::boolean;
    case 10: return DType::f16;
    case 11: return DType::f64;
  }
  fail("ONNX data type ", code, " is not supported (octet handles float, double, float16, int8, uint8, int32, int64, bool)");
}

int dtype_to_onnx(DType t) {
  switch (t) {
    case DType::f32: return 1;
    case DType::u8: return 2;
    case DType::i8: return 3;
    case DType::i32: return 6;
    case DType::i64: return 7;
    case DType::boolean: return 9;
    case DType::f16: return 10;
    case DType::f64: return 11;
  }
  return 0;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::i8: case DType::u8: case DType::boolean: return 1;
    case DType::i64: case DType::f64: return 8;
    case DType::f16: return 2;
  }
  return 0;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int64_t checked_nbytes(const Shape& s, size_t elem_size) {
  for (int64_t d : s)
    if (d < 0) return -1;
  for (int64_t d : s)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) return -1;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem_size), &n)) return -1;
  return n;
}

std::string shape_str(const Shape& s) {
  if (s.empty()) return "scalar";
  std::ostringstream os;
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "x" : "") << s[i];
  return os.str();
}

std::shared_ptr<void> aligned_alloc_shared(size_t bytes) {
  size_t n = (bytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) fail("out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_) OCTET_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape_));
  const int64_t checked = checked_nbytes(shape_, dtype_size(dtype_));
  OCTET_CHECK(checked >= 0, "a ", dtype_name(dtype_), " tensor of shape ", shape_str(shape_),
              " is too large: its size in bytes overflows a 64-bit integer");
  const size_t bytes = static_cast<size_t>(checked);
  holder_ = aligned_alloc_shared(bytes);
  data_ = holder_.get();
  std::memset(data_, 0, bytes);
}

Tensor Tensor::view(DType dtype, Shape shape, void* data, std::shared_ptr<void> keep) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.holder_ = std::move(keep);
  t.data_ = data;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::first(int64_t n) const {
  OCTET_CHECK(rank() > 0 && n >= 0 && n <= shape_[0], "cannot take ", n, " rows of ", shape_str(shape_));
  Tensor t = *this;
  t.shape_[0] = n;
  return t;
}

Tensor Tensor::reshaped(const Shape& s) const {
  OCTET_CHECK(octet::numel(s) == numel(), "cannot reshape ", shape_str(shape_), " to ", shape_str(s));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

std::vector<int64_t> Tensor::to_i64() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype_) {
      case DType::i64: v[i] = static_cast<const int64_t*>(data_)[i]; break;
      case DType::i32: v[i] = static_cast<const int32_t*>(data_)[i]; break;
      case DType::i8: v[i] = static_cast<const int8_t*>(data_)[i]; break;
      case DType::u8: case DType::boolean: v[i] = static_cast<const uint8_t*>(data_)[i]; break;
      case DType::f32: v[i] = static_cast<int64_t>(static_cast<const float*>(data_)[i]); break;
      case DType::f64: v[i] = static_cast<int64_t>(static_cast<const double*>(data_)[i]); break;
      default: fail("cannot read ", dtype_name(dtype_), " tensor as integers");
    }
  }
  return v;
}

std::vector<float> Tensor::to_f32() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype_) {
      case DType::f32: v[i] = static_cast<const float*>(data_)[i]; break;
      case DType::f64: v[i] = static_cast<float>(static_cast<const double*>(data_)[i]); break;
      case DType::i64: v[i] = static_cast<float>(static_cast<const int64_t*>(data_)[i]); break;
      case DType::i32: v[i] = static_cast<float>(static_cast<const int32_t*>(data_)[i]); break;
      case DType::i8: v[i] = static_cast<const int8_t*>(data_)[i]; break;
      case DType::u8: case DType::boolean: v[i] = static_cast<const uint8_t*>(data_)[i]; break;
      default: fail("cannot read ", dtype_name(dtype_), " tensor as floats");
    }
  }
  return v;
}

}  // namespace octet
