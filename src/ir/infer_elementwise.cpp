// Shape inference for the Unary, Binary and Reduce groups, softmax/normalization ops and TopK.
#include <algorithm>
#include <initializer_list>

#include "ir/infer.h"
#include "ir/reduce_axes.h"

namespace octet {

namespace {

enum : unsigned { kFloat = 1, kInt = 2, kBool = 4, kNum = kFloat | kInt, kAny = 7 };

unsigned dtype_class(DType t) {
  switch (t) {
    case DType::f32: case DType::f64: return kFloat;
    case DType::i8: case DType::u8: case DType::i32: case DType::i64: return kInt;
    case DType::boolean: return kBool;
    case DType::f16: return 0;
  }
  return 0;
}

const char* set_name(unsigned set) {
  switch (set) {
    case kFloat: return "float32/float64";
    case kNum: return "float32/float64/int8/uint8/int32/int64";
    case kBool: return "bool";
    default: return "float32/float64/int8/uint8/int32/int64/bool";
  }
}

void check_dtype(const InferCtx& c, int i, unsigned set) {
  DType t = c.input(i).dtype;
  OCTET_CHECK(dtype_class(t) & set, c.node.describe(), ": input ", i, " is ", dtype_name(t), ", expected ",
              set_name(set));
}

void unary(InferCtx& c, unsigned set) {
  check_dtype(c, 0, set);
  infer_same_as_input0(c);
}

// All present inputs have the dtype of input 0 and broadcast together; output dtype is input 0's or bool.
void binary(InferCtx& c, unsigned set, bool bool_out, bool variadic = false) {
  OCTET_CHECK(variadic ? c.num_inputs() >= 1 : c.num_inputs() == 2, c.node.describe(), ": expected ",
              variadic ? "at least 1 input" : "2 inputs", ", got ", c.num_inputs());
  check_dtype(c, 0, set);
  Shape s = c.input(0).shape;
  for (int i = 1; i < c.num_inputs(); ++i) {
    OCTET_CHECK(c.input(i).dtype == c.input(0).dtype, c.node.describe(), ": input ", i, " is ",
                dtype_name(c.input(i).dtype), " but input 0 is ", dtype_name(c.input(0).dtype));
    s = broadcast_shapes(c.node, s, c.input(i).shape);
  }
  c.set(0, bool_out ? DType::boolean : c.input(0).dtype, s);
}

void reduce(InferCtx& c) {
  check_dtype(c, 0, kNum);
  const TensorInfo& x = c.input(0);
  const Tensor* axes = c.has(1) ? &c.const_input(1, "axes") : nullptr;
  std::vector<bool> mask = reduce_axes_mask(c.node, static_cast<int>(x.shape.size()), axes);
  if (mask.empty()) return c.set(0, x.dtype, x.shape);
  bool keep = c.node.attr_i("keepdims", 1) != 0;
  Shape s;
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (!mask[d]) s.push_back(x.shape[d]);
    else if (keep) s.push_back(1);
  c.set(0, x.dtype, s);
}

// Inputs i.. of `params` must have numel == n (per-channel vectors).
void check_numel(const InferCtx& c, std::initializer_list<int> params, int64_t n, const char* of) {
  for (int i : params)
    if (c.has(i))
      OCTET_CHECK(numel(c.input(i).shape) == n, c.node.describe(), ": input ", i, " has shape ",
                  shape_str(c.input(i).shape), ", expected ", n, " values (", of, ")");
}

}  // namespace

// ---- Unary ----
void infer_Relu(InferCtx& c) { unary(c, kNum); }
void infer_LeakyRelu(InferCtx& c) { unary(c, kFloat); }
void infer_Sigmoid(InferCtx& c) { unary(c, kFloat); }
void infer_HardSigmoid(InferCtx& c) { unary(c, kFloat); }
void infer_HardSwish(InferCtx& c) { unary(c, kFloat); }
void infer_Tanh(InferCtx& c) { unary(c, kFloat); }
void infer_Mish(InferCtx& c) { unary(c, kFloat); }
void infer_Elu(InferCtx& c) { unary(c, kFloat); }
void infer_Softplus(InferCtx& c) { unary(c, kFloat); }
void infer_Erf(InferCtx& c) { unary(c, kFloat); }
void infer_Exp(InferCtx& c) { unary(c, kFloat); }
void infer_Log(InferCtx& c) { unary(c, kFloat); }
void infer_Neg(InferCtx& c) { unary(c, kNum); }
void infer_Abs(InferCtx& c) { unary(c, kNum); }
void infer_Sqrt(InferCtx& c) { unary(c, kFloat); }
void infer_Reciprocal(InferCtx& c) { unary(c, kFloat); }
void infer_Floor(InferCtx& c) { unary(c, kFloat); }
void infer_Ceil(InferCtx& c) { unary(c, kFloat); }
void infer_Not(InferCtx& c) { unary(c, kBool); }
void infer_Identity(InferCtx& c) { infer_same_as_input0(c); }

void infer_Gelu(InferCtx& c) {
  std::string a = c.node.attr_s("approximate", "none");
  OCTET_CHECK(a == "none" || a == "tanh", c.node.describe(), ": approximate='", a, "', expected 'none' or 'tanh'");
  unary(c, kFloat);
}

void infer_Clip(InferCtx& c) {
  unary(c, kNum);
  for (int i = 1; i <= 2; ++i)
    if (c.has(i)) {
      OCTET_CHECK(c.input(i).dtype == c.input(0).dtype && numel(c.input(i).shape) == 1, c.node.describe(), ": ",
                  i == 1 ? "min" : "max", " must be a single ", dtype_name(c.input(0).dtype), " value, got ",
                  dtype_name(c.input(i).dtype), " of shape ", shape_str(c.input(i).shape));
    }
}

void infer_Dropout(InferCtx& c) {
  if (c.has(2) && c.input(2).value) {
    const Tensor& t = *c.input(2).value;
    OCTET_CHECK(t.to_i64().empty() || t.to_i64()[0] == 0, c.node.describe(),
                ": training_mode=true is not supported (octet runs inference only)");
  }
  const TensorInfo& x = c.input(0);
  c.set(0, x.dtype, x.shape);
  if (c.out.size() > 1) c.set(1, DType::boolean, x.shape);
}

// ---- Binary ----
void infer_Add(InferCtx& c) { binary(c, kNum, false); }
void infer_Sub(InferCtx& c) { binary(c, kNum, false); }
void infer_Mul(InferCtx& c) { binary(c, kNum, false); }
void infer_Div(InferCtx& c) { binary(c, kNum, false); }
void infer_Min(InferCtx& c) { binary(c, kNum, false, true); }
void infer_Max(InferCtx& c) { binary(c, kNum, false, true); }
void infer_Equal(InferCtx& c) { binary(c, kAny, true); }
void infer_Greater(InferCtx& c) { binary(c, kNum, true); }
void infer_Less(InferCtx& c) { binary(c, kNum, true); }
void infer_And(InferCtx& c) { binary(c, kBool, true); }
void infer_Or(InferCtx& c) { binary(c, kBool, true); }

void infer_Pow(InferCtx& c) {  // base and exponent may differ in dtype; the result has the base's
  OCTET_CHECK(c.num_inputs() == 2, c.node.describe(), ": expected 2 inputs, got ", c.num_inputs());
  check_dtype(c, 0, kNum);
  check_dtype(c, 1, kNum);
  c.set(0, c.input(0).dtype, broadcast_shapes(c.node, c.input(0).shape, c.input(1).shape));
}

// ---- Reduce ----
void infer_ReduceMean(InferCtx& c) { reduce(c); }
void infer_ReduceMax(InferCtx& c) { reduce(c); }
void infer_ReduceMin(InferCtx& c) { reduce(c); }
void infer_ReduceSum(InferCtx& c) { reduce(c); }

void infer_ArgMax(InferCtx& c) {
  check_dtype(c, 0, kNum);
  Shape s = c.input(0).shape;
  int axis = normalize_axis(c.node, c.node.attr_i("axis", 0), static_cast<int>(s.size()));
  OCTET_CHECK(!s.empty() && s[static_cast<size_t>(axis)] > 0, c.node.describe(), ": cannot take ArgMax of ",
              shape_str(s), " along axis ", axis);
  if (c.node.attr_i("keepdims", 1) != 0) s[static_cast<size_t>(axis)] = 1;
  else s.erase(s.begin() + axis);
  c.set(0, DType::i64, s);
}

void infer_TopK(InferCtx& c) {
  check_dtype(c, 0, kNum);
  Shape s = c.input(0).shape;
  int axis = normalize_axis(c.node, c.node.attr_i("axis", -1), static_cast<int>(s.size()));
  std::vector<int64_t> k = c.const_input(1, "K").to_i64();
  OCTET_CHECK(k.size() == 1, c.node.describe(), ": K must hold one value, got ", k.size());
  OCTET_CHECK(!s.empty() && k[0] >= 0 && k[0] <= s[static_cast<size_t>(axis)], c.node.describe(), ": K=", k[0],
              " is out of range for input ", shape_str(s), " along axis ", axis);
  s[static_cast<size_t>(axis)] = k[0];
  c.set(0, c.input(0).dtype, s);
  if (c.out.size() > 1) c.set(1, DType::i64, s);
}

// ---- Softmax and normalizations ----
void infer_Softmax(InferCtx& c) {
  unary(c, kFloat);
  int64_t def = c.node.attr_i("coerce_2d", 0) == 1 ? 1 : -1;
  normalize_axis(c.node, c.node.attr_i("axis", def), static_cast<int>(c.input(0).shape.size()));
}
void infer_LogSoftmax(InferCtx& c) { infer_Softmax(c); }

void infer_LayerNormalization(InferCtx& c) {
  check_dtype(c, 0, kFloat);
  const Shape& x = c.input(0).shape;
  const int r = static_cast<int>(x.size());
  int axis = normalize_axis(c.node, c.node.attr_i("axis", -1), r);
  OCTET_CHECK(axis < r, c.node.describe(), ": cannot normalize a scalar");
  Shape norm(x.begin() + axis, x.end());
  for (int i = 1; i <= 2; ++i)
    if (c.has(i)) {  // Scale and B broadcast (unidirectionally) to X.shape[axis:]
      check_dtype(c, i, kFloat);
      OCTET_CHECK(broadcast_shapes(c.node, norm, c.input(i).shape) == norm, c.node.describe(), ": ",
                  i == 1 ? "Scale" : "B", " of shape ", shape_str(c.input(i).shape),
                  " does not broadcast to the normalized shape ", shape_str(norm));
    }
  (void)c.input(1);  // Scale is required
  c.set(0, c.input(0).dtype, x);
  Shape stat(x.begin(), x.begin() + axis);
  stat.resize(x.size(), 1);
  for (size_t i = 1; i < c.out.size() && i < 3; ++i) c.set(static_cast<int>(i), DType::f32, stat);
}

void infer_InstanceNormalization(InferCtx& c) {
  check_dtype(c, 0, kFloat);
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(x.size() >= 3, c.node.describe(), ": input must be N x C x D1 ..., got ", shape_str(x));
  (void)c.input(1), (void)c.input(2);  // scale and B are required
  check_numel(c, {1, 2}, x[1], "one per channel");
  c.set(0, c.input(0).dtype, x);
}

}  // namespace octet
