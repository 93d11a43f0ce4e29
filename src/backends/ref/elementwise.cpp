// Reference kernels of the Unary and Binary groups: one templated loop each, one small functor per op.
//
// Float ops compute in the tensor's own type (float for f32, as the fast kernels do); integer Div truncates
// toward zero (C++ semantics). Binary ops use numpy multidirectional broadcasting (refk::broadcast_loop).
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/ref/ref.h"
#include "backends/ref/ref_util.h"

namespace octet {

using namespace refk;

namespace {

template <unsigned Set, typename F>
void unary(const OpArgs& a, F f) {
  visit_dtype<Set>(a.node, a.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.input(0).data<T>();
    T* y = a.output(0).data<T>();
    for (int64_t i = 0, n = a.input(0).numel(); i < n; ++i) y[i] = static_cast<T>(f(x[i]));
  });
}

void copy_input0(const OpArgs& a) {
  const Tensor& x = a.input(0);
  Tensor& y = a.output(0);
  if (y.raw() != x.raw() && x.nbytes() > 0) std::memcpy(y.raw(), x.raw(), x.nbytes());
}

template <typename T> bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// Two inputs of one dtype in Set, broadcast; out = f(x, y) as bool (BoolOut) or as the input dtype.
template <unsigned Set, bool BoolOut, typename F>
void binary(const OpArgs& a, F f) {
  visit_dtype<Set>(a.node, a.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using O = std::conditional_t<BoolOut, bool, T>;
    const T* x = a.input(0).data<T>();
    const T* y = a.input(1).data<T>();
    O* o = a.output(0).data<O>();
    broadcast_loop(a.output(0).shape(), {&a.input(0).shape(), &a.input(1).shape()},
                   [&](int64_t i, const int64_t* off) { o[i] = static_cast<O>(f(x[off[0]], y[off[1]])); });
  });
}

// N >= 1 inputs folded left to right with f (Min, Max).
template <typename F>
void variadic(const OpArgs& a, F f) {
  visit_dtype<kNum>(a.node, a.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> p;
    std::vector<const Shape*> s;
    for (size_t k = 0; k < a.in.size(); ++k) {
      p.push_back(a.input(static_cast<int>(k)).template data<T>());
      s.push_back(&a.input(static_cast<int>(k)).shape());
    }
    T* o = a.output(0).data<T>();
    broadcast_loop(a.output(0).shape(), s, [&](int64_t i, const int64_t* off) {
      T v = p[0][off[0]];
      for (size_t k = 1; k < p.size(); ++k) v = f(v, p[k][off[k]]);
      o[i] = v;
    });
  });
}

}  // namespace

// ---- Unary ----
// Each functor receives one element x of type T (float or double for kFloat ops) and returns the result.
#define OCTET_UNARY(Op, Set, ...)                                         \
  void ref_##Op(const OpArgs& a) {                                        \
    unary<Set>(a, [&](auto x) { using T [[maybe_unused]] = decltype(x); __VA_ARGS__; }); \
  }

OCTET_UNARY(Relu, kNum, return x > T(0) ? x : T(0))
OCTET_UNARY(Sigmoid, kFloat, return T(1) / (T(1) + std::exp(-x)))
OCTET_UNARY(HardSwish, kFloat, return x * std::min(std::max(x / T(6) + T(0.5), T(0)), T(1)))
OCTET_UNARY(Tanh, kFloat, return std::tanh(x))
OCTET_UNARY(Softplus, kFloat, return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)))
OCTET_UNARY(Mish, kFloat,
            return x * std::tanh(x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x))))
OCTET_UNARY(Erf, kFloat, return std::erf(x))
OCTET_UNARY(Exp, kFloat, return std::exp(x))
OCTET_UNARY(Log, kFloat, return std::log(x))
OCTET_UNARY(Neg, kNum, return -x)
OCTET_UNARY(Abs, kNum, if constexpr (std::is_signed_v<T>) return x < T(0) ? T(-x) : x; else return x)
OCTET_UNARY(Sqrt, kFloat, return std::sqrt(x))
OCTET_UNARY(Reciprocal, kFloat, return T(1) / x)
OCTET_UNARY(Floor, kFloat, return std::floor(x))
OCTET_UNARY(Ceil, kFloat, return std::ceil(x))
OCTET_UNARY(Not, kBool, return !x)

void ref_LeakyRelu(const OpArgs& a) {
  const float alpha = a.node.attr_f("alpha", 0.01f);
  unary<kFloat>(a, [&](auto x) { return x >= 0 ? x : x * decltype(x)(alpha); });
}

void ref_Elu(const OpArgs& a) {
  const float alpha = a.node.attr_f("alpha", 1.f);
  unary<kFloat>(a, [&](auto x) { using T = decltype(x); return x >= T(0) ? x : T(alpha) * (std::exp(x) - T(1)); });
}

void ref_HardSigmoid(const OpArgs& a) {
  const float alpha = a.node.attr_f("alpha", 0.2f), beta = a.node.attr_f("beta", 0.5f);
  unary<kFloat>(a, [&](auto x) {
    using T = decltype(x);
    return std::min(std::max(T(alpha) * x + T(beta), T(0)), T(1));
  });
}

void ref_Gelu(const OpArgs& a) {
  const bool tanh_approx = a.node.attr_s("approximate", "none") == "tanh";
  unary<kFloat>(a, [&](auto x) {
    using T = decltype(x);
    if (tanh_approx)
      return T(0.5) * x * (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
    return T(0.5) * x * (T(1) + std::erf(x / T(1.4142135623730951)));
  });
}

// min/max: optional scalar inputs 1 and 2 (attrs min/max of opset < 11 also read); a missing bound is no bound.
void ref_Clip(const OpArgs& a) {
  visit_dtype<kNum>(a.node, a.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto bound = [&](int i, const char* attr, T def) {
      if (a.has(i)) return a.input(i).data<T>()[0];
      return a.node.has_attr(attr) ? static_cast<T>(a.node.attr_f(attr, 0)) : def;
    };
    const T lo = bound(1, "min", std::numeric_limits<T>::lowest());
    const T hi = bound(2, "max", std::numeric_limits<T>::max());
    const T* x = a.input(0).data<T>();
    T* y = a.output(0).data<T>();
    for (int64_t i = 0, n = a.input(0).numel(); i < n; ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
  });
}

void ref_Identity(const OpArgs& a) { copy_input0(a); }

// Inference only (infer_Dropout refuses a constant training_mode=true): a copy, and an all-true mask.
void ref_Dropout(const OpArgs& a) {
  copy_input0(a);
  if (a.out.size() > 1 && a.out[1] != nullptr) {
    bool* m = a.output(1).data<bool>();
    std::fill(m, m + a.output(1).numel(), true);
  }
}

#undef OCTET_UNARY

// ---- Binary ----
void ref_Add(const OpArgs& a) {
  binary<kNum, false>(a, [](auto x, auto y) { return x + y; });
  // Fusion expresses Add+activation as Add with a post-op (f32 only).
  if (a.node.post.act != Activation::None && a.output(0).dtype() == DType::f32) {
    float* o = a.output(0).data<float>();
    for (int64_t i = 0, n = a.output(0).numel(); i < n; ++i) o[i] = apply_activation(a.node.post, o[i]);
  }
}
void ref_Sub(const OpArgs& a) { binary<kNum, false>(a, [](auto x, auto y) { return x - y; }); }
void ref_Mul(const OpArgs& a) { binary<kNum, false>(a, [](auto x, auto y) { return x * y; }); }
void ref_Div(const OpArgs& a) {
  binary<kNum, false>(a, [&](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(y)>)
      OCTET_CHECK(y != 0, a.node.describe(), ": integer division by zero");
    return x / y;
  });
}
void ref_Equal(const OpArgs& a) { binary<kAny, true>(a, [](auto x, auto y) { return x == y; }); }
void ref_Greater(const OpArgs& a) { binary<kNum, true>(a, [](auto x, auto y) { return x > y; }); }
void ref_Less(const OpArgs& a) { binary<kNum, true>(a, [](auto x, auto y) { return x < y; }); }
void ref_And(const OpArgs& a) { binary<kBool, true>(a, [](bool x, bool y) { return x && y; }); }
void ref_Or(const OpArgs& a) { binary<kBool, true>(a, [](bool x, bool y) { return x || y; }); }

// NaN propagates (as in numpy.minimum/maximum).
void ref_Min(const OpArgs& a) {
  variadic(a, [](auto x, auto y) { return is_nan(x) || x <= y ? x : y; });
}
void ref_Max(const OpArgs& a) {
  variadic(a, [](auto x, auto y) { return is_nan(x) || x >= y ? x : y; });
}

// The exponent may have another dtype than the base; float bases compute in their own type.
void ref_Pow(const OpArgs& a) {
  visit_dtype<kNum>(a.node, a.input(0).dtype(), [&](auto btag) {
    using T = decltype(btag);
    visit_dtype<kNum>(a.node, a.input(1).dtype(), [&](auto etag) {
      using E = decltype(etag);
      const T* x = a.input(0).data<T>();
      const E* e = a.input(1).data<E>();
      T* o = a.output(0).data<T>();
      broadcast_loop(a.output(0).shape(), {&a.input(0).shape(), &a.input(1).shape()},
                     [&](int64_t i, const int64_t* off) {
                       if constexpr (std::is_floating_point_v<T>)
                         o[i] = std::pow(x[off[0]], static_cast<T>(e[off[1]]));
                       else
                         o[i] = static_cast<T>(std::pow(static_cast<double>(x[off[0]]), static_cast<double>(e[off[1]])));
                     });
    });
  });
}

}  // namespace octet
