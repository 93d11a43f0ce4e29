// Reference kernels: MaxPool (f32, i8, u8; optional Indices), AveragePool (f32), GlobalAveragePool (f32),
// GlobalMaxPool (f32, i8, u8). 1-D/2-D/3-D through one 3-D loop nest (backends/ref/window3d.h).
//
// Windows visit only taps inside the image (tap_range), so padding never wins a max. AveragePool divides by
// the taps inside the image (count_include_pad=0) or by the taps inside the padded extent
// [-pad_begin, in + pad_end) (count_include_pad=1): with ceil_mode, the part of the last window beyond the
// end padding is never counted, as in ONNX's reference (op_pool_common.py) and PyTorch. One deliberate
// difference: when ceil_mode needs 2 or more extra elements at the end, that reference puts half of them at
// the start and so shifts every window (1..8, kernel 4, stride 3 gives 2, 4.5, 6.5 there instead of
// 2.5, 5.5, 7.5); octet never moves a window's start.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "backends/ref/ref.h"
#include "backends/ref/window3d.h"

namespace octet {

namespace {

ref::Win3 pool_window(const OpArgs& a) {
  const Node& n = a.node;
  return ref::to_3d(n, forward_window(n, a.input(0).shape(), n.attr_ints("kernel_shape"), true));
}

// Tap range [lo, hi) of output position o along dim i: input o*s - pb + j*d inside [0, in).
void taps_in(const ref::Win3& w, int i, int64_t o, int64_t* lo, int64_t* hi) {
  const int64_t start = o * w.s[i] - w.pb[i];
  // j >= ceil(-start / d), j <= floor((in - 1 - start) / d)
  ref::tap_range(w.k[i], w.in[i], w.d[i], start, lo, hi);
}

template <typename T>
void max_pool(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const ref::Win3 w = pool_window(a);
  const int64_t NC = X.dim(0) * X.dim(1), in_plane = w.in_plane(), out_plane = w.out_plane();
  const bool col_major = a.node.attr_i("storage_order", 0) == 1;
  const T* x_all = X.data<T>();
  T* y_all = a.output(0).data<T>();
  int64_t* idx_all = a.out.size() > 1 && a.out[1] ? a.output(1).data<int64_t>() : nullptr;

#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const T* x = x_all + nc * in_plane;
    T* y = y_all + nc * out_plane;
    int64_t* yi = idx_all ? idx_all + nc * out_plane : nullptr;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      int64_t d0, d1;
      taps_in(w, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        int64_t h0, h1;
        taps_in(w, 1, oh, &h0, &h1);
        for (int64_t ow = 0; ow < w.out[2]; ++ow) {
          int64_t w0, w1;
          taps_in(w, 2, ow, &w0, &w1);
          T best = std::numeric_limits<T>::lowest();
          int64_t bd = -1, bh = -1, bw = -1;  // first maximum wins ties
          for (int64_t kd = d0; kd < d1; ++kd) {
            const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
            for (int64_t kh = h0; kh < h1; ++kh) {
              const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
              const T* xr = x + (id * w.in[1] + ih) * w.in[2];
              for (int64_t kw = w0; kw < w1; ++kw) {
                const int64_t iw = ow * w.s[2] - w.pb[2] + kw * w.d[2];
                if (bd < 0 || xr[iw] > best) {
                  best = xr[iw];
                  bd = id, bh = ih, bw = iw;
                }
              }
            }
          }
          const int64_t o = (od * w.out[1] + oh) * w.out[2] + ow;
          y[o] = best;
          if (yi) {
            // Flat index into X (batch and channel included), row- or column-major over the spatial dims.
            const int64_t sp = bd < 0                ? -1
                               : col_major ? bd + bh * w.in[0] + bw * w.in[0] * w.in[1]
                                           : (bd * w.in[1] + bh) * w.in[2] + bw;
            yi[o] = sp < 0 ? -1 : nc * in_plane + sp;
          }
        }
      }
    }
  }
}

template <typename T>
void global_max(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const int64_t NC = X.dim(0) * X.dim(1), plane = NC ? X.numel() / NC : 0;
  const T* x = X.data<T>();
  T* y = a.output(0).data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const T* p = x + nc * plane;
    T best = plane ? p[0] : std::numeric_limits<T>::lowest();
    for (int64_t i = 1; i < plane; ++i) best = p[i] > best ? p[i] : best;
    y[nc] = best;
  }
}

}  // namespace

void ref_MaxPool(const OpArgs& a) {
  switch (a.input(0).dtype()) {
    case DType::f32: return max_pool<float>(a);
    case DType::i8: return max_pool<int8_t>(a);
    case DType::u8: return max_pool<uint8_t>(a);
    default: fail(a.node.describe(), ": dtype ", dtype_name(a.input(0).dtype()), " is not supported");
  }
}

void ref_GlobalMaxPool(const OpArgs& a) {
  switch (a.input(0).dtype()) {
    case DType::f32: return global_max<float>(a);
    case DType::i8: return global_max<int8_t>(a);
    case DType::u8: return global_max<uint8_t>(a);
    default: fail(a.node.describe(), ": dtype ", dtype_name(a.input(0).dtype()), " is not supported");
  }
}

void ref_AveragePool(const OpArgs& a) {
  const Tensor& X = a.input(0);
  OCTET_CHECK(X.dtype() == DType::f32, a.node.describe(), ": input is ", dtype_name(X.dtype()),
              "; this reference kernel is float32 only");
  const ref::Win3 w = pool_window(a);
  const bool include_pad = a.node.attr_i("count_include_pad", 0) != 0;
  const int64_t NC = X.dim(0) * X.dim(1), in_plane = w.in_plane(), out_plane = w.out_plane();
  const float* x_all = X.data<float>();
  float* y_all = a.output(0).data<float>();

  // Taps of output position o along dim i that lie in the padded extent [-pb, in + pe).
  auto padded_taps = [&w](int i, int64_t o) {
    const int64_t start = o * w.s[i];  // in padded coordinates
    int64_t lo, hi;
    ref::tap_range(w.k[i], w.in[i] + w.pb[i] + w.pe[i], w.d[i], start, &lo, &hi);
    return hi - lo;
  };

#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const float* x = x_all + nc * in_plane;
    float* y = y_all + nc * out_plane;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      int64_t d0, d1;
      taps_in(w, 0, od, &d0, &d1);
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        int64_t h0, h1;
        taps_in(w, 1, oh, &h0, &h1);
        for (int64_t ow = 0; ow < w.out[2]; ++ow) {
          int64_t w0, w1;
          taps_in(w, 2, ow, &w0, &w1);
          float sum = 0.f;
          for (int64_t kd = d0; kd < d1; ++kd) {
            const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
            for (int64_t kh = h0; kh < h1; ++kh) {
              const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
              const float* xr = x + (id * w.in[1] + ih) * w.in[2];
              for (int64_t kw = w0; kw < w1; ++kw) sum += xr[ow * w.s[2] - w.pb[2] + kw * w.d[2]];
            }
          }
          const int64_t count = include_pad ? padded_taps(0, od) * padded_taps(1, oh) * padded_taps(2, ow)
                                            : (d1 - d0) * (h1 - h0) * (w1 - w0);
          y[(od * w.out[1] + oh) * w.out[2] + ow] =
              count > 0 ? sum / static_cast<float>(count) : std::numeric_limits<float>::quiet_NaN();
        }
      }
    }
  }
}

void ref_GlobalAveragePool(const OpArgs& a) {
  const Tensor& X = a.input(0);
  OCTET_CHECK(X.dtype() == DType::f32, a.node.describe(), ": input is ", dtype_name(X.dtype()),
              "; this reference kernel is float32 only");
  const int64_t NC = X.dim(0) * X.dim(1), plane = NC ? X.numel() / NC : 0;
  const float* x = X.data<float>();
  float* y = a.output(0).data<float>();
  // Summed in double: a global mean over a large plane is where float accumulation drifts most.
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    double s = 0;
    const float* p = x + nc * plane;
    for (int64_t i = 0; i < plane; ++i) s += p[i];
    y[nc] = static_cast<float>(s / static_cast<double>(plane));
  }
}

}  // namespace octet
