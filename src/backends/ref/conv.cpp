// Reference FP32 kernels: Conv, ConvTranspose (direct loops, 1-D/2-D/3-D through one 3-D loop nest),
// BatchNormalization (inference) and PRelu.
//
// Loop order: one (image, output channel) plane per OpenMP iteration; for each input channel and kernel tap,
// a whole output plane is updated with the innermost loop running along the last spatial dim, over only the
// positions whose input is inside the image (ranges from tap_range, so there is no per-element bounds test
// and padding contributes exactly nothing). Accumulation is float, in the order channel, tap.
#include <algorithm>
#include <cmath>

#include "backends/ref/ref.h"
#include "backends/ref/window3d.h"

namespace octet {

namespace {

Shape spatial_kernel(const Tensor& w) { return Shape(w.shape().begin() + 2, w.shape().end()); }

void check_f32_io(const OpArgs& a) {
  for (size_t i = 0; i < a.in.size(); ++i)
    if (a.in[i])
      OCTET_CHECK(a.in[i]->dtype() == DType::f32, a.node.describe(), ": input ", i, " is ",
                  dtype_name(a.in[i]->dtype()), "; this reference kernel is float32 only");
}

// Bias, fused residual, fused activation — in that order — over one output plane of `count` values.
void finish_plane(const OpArgs& a, float* y, int64_t count, int64_t offset, float bias) {
  const int r = a.node.post.residual_input;
  const float* res = r >= 0 ? a.input(r).data<float>() + offset : nullptr;
  for (int64_t i = 0; i < count; ++i) {
    float v = y[i] + bias;
    if (res) v += res[i];
    y[i] = apply_activation(a.node.post, v);
  }
}

}  // namespace

void ref_Conv(const OpArgs& a) {
  check_f32_io(a);
  const Tensor& X = a.input(0);
  const Tensor& W = a.input(1);
  Tensor& Y = a.output(0);
  const ref::Win3 w = ref::to_3d(a.node, forward_window(a.node, X.shape(), spatial_kernel(W), false));
  const int64_t N = X.dim(0), C = X.dim(1), M = W.dim(0), G = a.node.attr_i("group", 1);
  const int64_t Cg = C / G, Mg = M / G;
  const int64_t in_plane = w.in_plane(), out_plane = w.out_plane(), taps = w.taps();
  const float* x_all = X.data<float>();
  const float* w_all = W.data<float>();
  const float* bias = a.has(2) ? a.input(2).data<float>() : nullptr;
  float* y_all = Y.data<float>();

#pragma omp parallel for schedule(static)
  for (int64_t nm = 0; nm < N * M; ++nm) {
    const int64_t img = nm / M, m = nm % M, g = m / Mg;
    float* y = y_all + nm * out_plane;
    std::fill(y, y + out_plane, 0.f);
    for (int64_t c = 0; c < Cg; ++c) {
      const float* x = x_all + (img * C + g * Cg + c) * in_plane;
      const float* wk = w_all + (m * Cg + c) * taps;
      for (int64_t kd = 0; kd < w.k[0]; ++kd) {
        int64_t d0, d1;
        const int64_t offd = kd * w.d[0] - w.pb[0];
        ref::tap_range(w.out[0], w.in[0], w.s[0], offd, &d0, &d1);
        for (int64_t kh = 0; kh < w.k[1]; ++kh) {
          int64_t h0, h1;
          const int64_t offh = kh * w.d[1] - w.pb[1];
          ref::tap_range(w.out[1], w.in[1], w.s[1], offh, &h0, &h1);
          for (int64_t kw = 0; kw < w.k[2]; ++kw) {
            int64_t w0, w1;
            const int64_t offw = kw * w.d[2] - w.pb[2];
            ref::tap_range(w.out[2], w.in[2], w.s[2], offw, &w0, &w1);
            const float wv = wk[(kd * w.k[1] + kh) * w.k[2] + kw];
            for (int64_t od = d0; od < d1; ++od) {
              const int64_t id = od * w.s[0] + offd;
              for (int64_t oh = h0; oh < h1; ++oh) {
                const int64_t ih = oh * w.s[1] + offh;
                const float* xr = x + (id * w.in[1] + ih) * w.in[2];
                float* yr = y + (od * w.out[1] + oh) * w.out[2];
                for (int64_t ow = w0; ow < w1; ++ow) yr[ow] += wv * xr[ow * w.s[2] + offw];
              }
            }
          }
        }
      }
    }
    finish_plane(a, y, out_plane, nm * out_plane, bias ? bias[m] : 0.f);
  }
}

void ref_ConvTranspose(const OpArgs& a) {
  check_f32_io(a);
  const Tensor& X = a.input(0);
  const Tensor& W = a.input(1);
  Tensor& Y = a.output(0);
  const ref::Win3 w = ref::to_3d(a.node, transposed_window(a.node, X.shape(), spatial_kernel(W)));
  const int64_t N = X.dim(0), C = X.dim(1), G = a.node.attr_i("group", 1);
  const int64_t Cg = C / G, Mg = W.dim(1), M = Mg * G;
  const int64_t in_plane = w.in_plane(), out_plane = w.out_plane(), taps = w.taps();
  const float* x_all = X.data<float>();
  const float* w_all = W.data<float>();
  const float* bias = a.has(2) ? a.input(2).data<float>() : nullptr;
  float* y_all = Y.data<float>();

  // Scatter form, one output plane per iteration (so no two threads write the same value):
  // y[i*s - pad + tap*d] += x[i] * W[c, m, tap] over the input positions i whose target is inside y.
#pragma omp parallel for schedule(static)
  for (int64_t nm = 0; nm < N * M; ++nm) {
    const int64_t img = nm / M, m = nm % M, g = m / Mg, mm = m % Mg;
    float* y = y_all + nm * out_plane;
    std::fill(y, y + out_plane, 0.f);
    for (int64_t c = 0; c < Cg; ++c) {
      const float* x = x_all + (img * C + g * Cg + c) * in_plane;
      const float* wk = w_all + ((g * Cg + c) * Mg + mm) * taps;
      for (int64_t kd = 0; kd < w.k[0]; ++kd) {
        int64_t d0, d1;
        const int64_t offd = kd * w.d[0] - w.pb[0];
        ref::tap_range(w.in[0], w.out[0], w.s[0], offd, &d0, &d1);
        for (int64_t kh = 0; kh < w.k[1]; ++kh) {
          int64_t h0, h1;
          const int64_t offh = kh * w.d[1] - w.pb[1];
          ref::tap_range(w.in[1], w.out[1], w.s[1], offh, &h0, &h1);
          for (int64_t kw = 0; kw < w.k[2]; ++kw) {
            int64_t w0, w1;
            const int64_t offw = kw * w.d[2] - w.pb[2];
            ref::tap_range(w.in[2], w.out[2], w.s[2], offw, &w0, &w1);
            const float wv = wk[(kd * w.k[1] + kh) * w.k[2] + kw];
            for (int64_t id = d0; id < d1; ++id) {
              const int64_t od = id * w.s[0] + offd;
              for (int64_t ih = h0; ih < h1; ++ih) {
                const int64_t oh = ih * w.s[1] + offh;
                const float* xr = x + (id * w.in[1] + ih) * w.in[2];
                float* yr = y + (od * w.out[1] + oh) * w.out[2];
                for (int64_t iw = w0; iw < w1; ++iw) yr[iw * w.s[2] + offw] += wv * xr[iw];
              }
            }
          }
        }
      }
    }
    finish_plane(a, y, out_plane, nm * out_plane, bias ? bias[m] : 0.f);
  }
}

void ref_BatchNormalization(const OpArgs& a) {
  check_f32_io(a);
  const Tensor& X = a.input(0);
  const float eps = a.node.attr_f("epsilon", 1e-5f);
  const float* scale = a.input(1).data<float>();
  const float* shift = a.input(2).data<float>();
  const float* mean = a.input(3).data<float>();
  const float* var = a.input(4).data<float>();
  const int64_t N = X.dim(0), C = X.dim(1), NC = N * C, plane = NC ? X.numel() / NC : 0;
  const float* x_all = X.data<float>();
  float* y_all = a.output(0).data<float>();
  // y = (x - mean) / sqrt(var + eps) * scale + B, literally (ONNX's formula; BN folding is tested against it).
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t c = nc % C;
    const float sd = std::sqrt(var[c] + eps);
    const float* x = x_all + nc * plane;
    float* y = y_all + nc * plane;
    for (int64_t i = 0; i < plane; ++i) y[i] = (x[i] - mean[c]) / sd * scale[c] + shift[c];
  }
  // Running mean / var outputs, when declared: unchanged in inference.
  for (size_t o = 1; o < a.out.size() && o < 3; ++o)
    if (a.out[o]) {
      const float* src = a.input(static_cast<int>(o) + 2).data<float>();
      std::copy(src, src + C, a.output(static_cast<int>(o)).data<float>());
    }
}

void ref_PRelu(const OpArgs& a) {
  check_f32_io(a);
  const Tensor& X = a.input(0);
  const Tensor& S = a.input(1);
  const int r = X.rank(), sr = S.rank();
  // Strides of the slope seen through X's shape (0 along broadcast dims), right-aligned.
  std::vector<int64_t> sstride(static_cast<size_t>(r), 0);
  int64_t st = 1;
  for (int i = sr - 1; i >= 0; --i) {
    if (S.dim(i) != 1) sstride[static_cast<size_t>(r - sr + i)] = st;
    st *= S.dim(i);
  }
  const float* x = X.data<float>();
  const float* s = S.data<float>();
  float* y = a.output(0).data<float>();
  const int64_t total = X.numel();
  const int64_t inner = r ? X.dim(r - 1) : 1;
  const int64_t inner_stride = r ? sstride[static_cast<size_t>(r - 1)] : 0;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < (inner ? total / inner : 0); ++row) {
    // Slope offset of this row from its multi-index over all dims but the last.
    int64_t off = 0, rem = row;
    for (int i = r - 2; i >= 0; --i) {
      const int64_t idx = rem % X.dim(i);
      rem /= X.dim(i);
      off += idx * sstride[static_cast<size_t>(i)];
    }
    const float* xr = x + row * inner;
    float* yr = y + row * inner;
    for (int64_t j = 0; j < inner; ++j) {
      const float v = xr[j];
      yr[j] = v < 0.f ? v * s[off + j * inner_stride] : v;
    }
  }
}

}  // namespace octet
